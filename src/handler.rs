//! pyModbusTCP's `DataHandler`: one overridable method per function, whose
//! default bodies go to the data bank.
//!
//! The combined functions (FC 22 and FC 23) are built from the handler's own
//! single-function methods, so an override of `read_h_regs` or
//! `write_h_regs` holds for every function that reaches the registers.

use crate::session::SessionInfo;
use crate::storage::{range_in, Bank, WordTable};
use crate::wire::limits::MAX_READ_WRITE_REGISTERS;
use crate::wire::{ExceptionCode, ResponseWriter};
// FC 20, 21, 24
use crate::wire::FileRecordWrites;
// FC 8, 11, 17
use crate::diagnostics::{CommCounters, CommEventCounter, DiagnosticsData};
use crate::server_id::ServerId;

/// What the raw-PDU hook ([`DataHandler::ext_engine`]) did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExtResponse {
    /// Not handled here: dispatch the request to the per-function methods.
    /// Anything written to the response is discarded.
    Dispatch,
    /// The response PDU is what the hook wrote to its [`ResponseWriter`]
    /// (function code first). Nothing written is answered with exception 4.
    Respond,
    /// Answer with this exception (the server writes the exception PDU).
    Exception(ExceptionCode),
    /// Send no response to this request.
    NoResponse,
}

/// Serves requests: one method per function, with default bodies that go to
/// the data bank (pyModbusTCP's `DataHandler`).
///
/// Override a method to change what a function does; call the bank's method
/// of the same name for the default behaviour (the `super()` call of the
/// pyModbusTCP example). Return an [`ExceptionCode`] to refuse a request
/// with any exception (pyModbusTCP's `DataHandler.Return(exp_code=...)`).
/// Methods get the request's [`SessionInfo`] and the [`Bank`] that serves
/// its unit id.
///
/// The server has already checked function code, quantities and byte counts
/// (exceptions 1 and 3); the bank checks address ranges (exception 2). `out`
/// slices are exactly as long as the quantity asked for. An override sees the
/// whole range of a request: check `address` *and* its length.
///
/// FC 22 (mask write) and FC 23 (read/write) default to this handler's own
/// `read_h_regs` and `write_h_regs`, so a handler that refuses an address or
/// a value refuses it for every function.
///
/// ```
/// use modbus_device::{Bank, DataHandler, ExceptionCode, SessionInfo};
///
/// /// pyModbusTCP's "Custom Request Handler" example.
/// struct Guarded;
///
/// impl DataHandler for Guarded {
///     fn read_h_regs(&mut self, data_bank: &mut dyn Bank, address: u16, out: &mut [u16], srv_info: &SessionInfo) -> Result<(), ExceptionCode> {
///         if usize::from(address) + out.len() > 1000 {
///             return Err(ExceptionCode::IllegalDataAddress);
///         }
///         data_bank.read_h_regs(address, out, srv_info)
///     }
///
///     fn write_h_regs(&mut self, data_bank: &mut dyn Bank, address: u16, words_l: &[u16], srv_info: &SessionInfo) -> Result<(), ExceptionCode> {
///         if words_l.iter().any(|&w| w > 1000) {
///             return Err(ExceptionCode::IllegalDataValue);
///         }
///         data_bank.write_h_regs(address, words_l, srv_info)
///     }
/// }
/// ```
#[allow(unused_variables)]
#[doc(alias = "data_hdl")]
#[doc(alias = "Return")]
pub trait DataHandler {
    /// FC 1: fill `out` with the coils from `address`.
    ///
    /// # Errors
    /// The exception to answer with.
    fn read_coils(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.read_coils(address, out, srv_info)
    }

    /// FC 2: fill `out` with the discrete inputs from `address`.
    ///
    /// # Errors
    /// The exception to answer with.
    fn read_d_inputs(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.read_d_inputs(address, out, srv_info)
    }

    /// FC 3 (and the read of FC 22 and FC 23): fill `out` with the holding
    /// registers from `address`.
    ///
    /// # Errors
    /// The exception to answer with.
    fn read_h_regs(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.read_h_regs(address, out, srv_info)
    }

    /// FC 3 and FC 4 as the response carries them: fill `out` with the
    /// `out.len() / 2` registers of `table` from `address`, big-endian.
    ///
    /// The server serves FC 3 and FC 4 through this method. The default
    /// reads through this handler's [`read_h_regs`](Self::read_h_regs) or
    /// [`read_i_regs`](Self::read_i_regs), so overriding those is all a
    /// handler needs. [`DefaultHandler`] goes straight to the bank, whose
    /// storage converts from its tables into the response without a copy
    /// of the values in between (the one override in this crate, for
    /// speed: `benches/engine.rs`). Override it only to do the same, and
    /// keep it reading what `read_h_regs` reads: FC 22 and FC 23 read
    /// through `read_h_regs`.
    ///
    /// # Errors
    /// The exception to answer with.
    fn read_regs_be(
        &mut self,
        data_bank: &mut dyn Bank,
        table: WordTable,
        address: u16,
        out: &mut [u8],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        crate::wire::read_as_be(out, |words| match table {
            WordTable::HoldingRegisters => self.read_h_regs(data_bank, address, words, srv_info),
            WordTable::InputRegisters => self.read_i_regs(data_bank, address, words, srv_info),
        })
    }

    /// FC 4: fill `out` with the input registers from `address`.
    ///
    /// # Errors
    /// The exception to answer with.
    fn read_i_regs(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.read_i_regs(address, out, srv_info)
    }

    /// FC 5 (one value) and FC 15: write coils from `address`.
    ///
    /// # Errors
    /// The exception to answer with; nothing may be written then.
    fn write_coils(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.write_coils(address, bits_l, srv_info)
    }

    /// FC 6 (one value), FC 16 (and the write of FC 22 and FC 23): write
    /// holding registers from `address`.
    ///
    /// # Errors
    /// The exception to answer with; nothing may be written then.
    fn write_h_regs(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.write_h_regs(address, words_l, srv_info)
    }

    /// FC 22: `(current & and_mask) | (or_mask & !and_mask)` on one holding
    /// register. The default reads it with [`read_h_regs`](Self::read_h_regs)
    /// and writes the result with [`write_h_regs`](Self::write_h_regs), as
    /// one step (the service's lock is held for the whole request).
    ///
    /// # Errors
    /// The exception of the read or of the write; nothing is written then.
    fn mask_write_h_reg(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        and_mask: u16,
        or_mask: u16,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        let mut current = [0u16; 1];
        self.read_h_regs(data_bank, address, &mut current, srv_info)?;
        let result = (current[0] & and_mask) | (or_mask & !and_mask);
        self.write_h_regs(data_bank, address, &[result], srv_info)
    }

    /// FC 23: write `words_l` at `write_address`, then fill `out` from
    /// `read_address`, as one step.
    ///
    /// The default checks both ranges first, then calls
    /// [`write_h_regs`](Self::write_h_regs) and
    /// [`read_h_regs`](Self::read_h_regs) (as pyModbusTCP does). When the
    /// read is refused after the write, the written registers get their old
    /// values back, so a refused request leaves the table as it was (the
    /// change callbacks see the write and its undoing).
    ///
    /// # Errors
    /// Exception 2 for a range outside the table, or the exception of the
    /// write or of the read; the table is unchanged then.
    fn read_write_h_regs(
        &mut self,
        data_bank: &mut dyn Bank,
        read_address: u16,
        out: &mut [u16],
        write_address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        let size = data_bank.words_len(WordTable::HoldingRegisters);
        range_in(size, read_address, out.len()).ok_or(ExceptionCode::IllegalDataAddress)?;
        range_in(size, write_address, words_l.len()).ok_or(ExceptionCode::IllegalDataAddress)?;
        let mut saved = [0u16; MAX_READ_WRITE_REGISTERS as usize];
        let saved = saved
            .get_mut(..words_l.len())
            .ok_or(ExceptionCode::IllegalDataValue)?;
        data_bank.read_h_regs(write_address, saved, srv_info)?;
        self.write_h_regs(data_bank, write_address, words_l, srv_info)?;
        self.read_h_regs(data_bank, read_address, out, srv_info)
            .inspect_err(|_| {
                // Same range, values the table held a moment ago: this
                // write succeeds unless the storage itself fails, and then
                // the read's exception is still the answer.
                let _ = data_bank.write_h_regs(write_address, saved, srv_info);
            })
    }

    // FC 20, 21, 24

    /// FC 20, one sub-request at a time: fill `out` with the records of
    /// `file` from `record`. The server has checked the request's shape
    /// (exception 3) and that the reference type is 6, the file not 0 and
    /// the records within 0..=0x270F (exception 2); the bank checks that
    /// the file and records exist (exception 2), or answers exception 1
    /// when it has no files. A refused sub-request refuses the request.
    ///
    /// # Errors
    /// The exception to answer with.
    fn read_file_record(
        &mut self,
        data_bank: &mut dyn Bank,
        file: u16,
        record: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.read_file_record(file, record, out, srv_info)
    }

    /// FC 21: write every sub-request of `records` (each a file, a first
    /// record and values), all or none. The default goes to the bank,
    /// which checks every sub-request before writing any. The response
    /// echoes the request.
    ///
    /// # Errors
    /// The exception to answer with; nothing may be written then.
    fn write_file_record(
        &mut self,
        data_bank: &mut dyn Bank,
        records: FileRecordWrites<'_>,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.write_file_record(records, srv_info)
    }

    /// FC 24: fill the start of `out` (31 registers long) with the FIFO
    /// queue at `pointer` and return its count, without changing it.
    ///
    /// The default reads the queue from the holding registers, as in the
    /// specification's example (section 6.18): the register at `pointer`
    /// holds the count, the registers after it the queue. It reads both
    /// with [`read_h_regs`](Self::read_h_regs), so a handler that refuses
    /// holding registers refuses them here too. The application fills a
    /// queue with [`DataBank::set_fifo_queue`](crate::DataBank::set_fifo_queue).
    ///
    /// # Errors
    /// Exception 3 when the count is above `out.len()` (31), exception 2
    /// when the count register or the queue lies outside the table, or the
    /// exception of `read_h_regs`.
    fn read_fifo_queue(
        &mut self,
        data_bank: &mut dyn Bank,
        pointer: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<usize, ExceptionCode> {
        let mut count = [0u16];
        self.read_h_regs(data_bank, pointer, &mut count, srv_info)?;
        let count = usize::from(count[0]);
        let queue = out
            .get_mut(..count)
            .ok_or(ExceptionCode::IllegalDataValue)?;
        if !queue.is_empty() {
            let first = pointer
                .checked_add(1)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            self.read_h_regs(data_bank, first, queue, srv_info)?;
        }
        Ok(count)
    }
    // FC 8, 11, 17

    /// FC 8, diagnostics: answers sub-function `sub_function` with request
    /// data `data` (everything after the sub-function). `counters` are the
    /// server's communication counters.
    ///
    /// The default is [`CommCounters::diagnostics`]: 0x00 echoes, 0x01 and
    /// 0x0A clear the counters, 0x0B..=0x12 return one; the
    /// [`diagnostics`](crate::diagnostics) module says what each counts
    /// over TCP and why listen only mode (0x04) is not served. Override it
    /// to serve another sub-function (for a reply other than an echo or one
    /// word, use [`ext_engine`](Self::ext_engine)).
    ///
    /// # Errors
    /// The exception to answer with: by default 1 for a sub-function not
    /// served, 3 for data other than the specification's.
    #[doc(alias = "diag")]
    #[doc(alias = "Diagnostics")]
    fn diagnostics(
        &mut self,
        sub_function: u16,
        data: &[u8],
        counters: &mut CommCounters,
        srv_info: &SessionInfo,
    ) -> Result<DiagnosticsData, ExceptionCode> {
        counters.diagnostics(sub_function, data)
    }

    /// FC 11, get comm event counter. The default: status 0x0000 (this
    /// server finishes every request before it answers, so it is never
    /// busy) and [`CommCounters::comm_event_count`].
    ///
    /// # Errors
    /// The exception to answer with (the default never refuses).
    #[doc(alias = "Get Comm Event Counter")]
    fn get_comm_event_counter(
        &mut self,
        counters: &CommCounters,
        srv_info: &SessionInfo,
    ) -> Result<CommEventCounter, ExceptionCode> {
        Ok(CommEventCounter {
            status: 0x0000,
            event_count: counters.comm_event_count(),
        })
    }

    /// FC 17, report server id: the answer for the request's unit. `server_id`
    /// is the unit's own (a [`Banks`](crate::Banks) such as
    /// [`UnitRouter`](crate::UnitRouter) may give one), else the
    /// service's ([`Service::server_id`](crate::Service::server_id)).
    ///
    /// The default answers `server_id`. A handler that reports a state of
    /// its own (a run indicator that follows the application) keeps a
    /// [`ServerId`] in `self` and returns it.
    ///
    /// # Errors
    /// The exception to answer with: by default 1 (illegal function, as
    /// pyModbusTCP, which has no FC 17) when no server id is configured.
    #[doc(alias = "report_slave_id")]
    #[doc(alias = "Report Slave ID")]
    #[doc(alias = "report_device_id")]
    fn report_server_id<'a>(
        &'a mut self,
        server_id: Option<&'a ServerId>,
        srv_info: &SessionInfo,
    ) -> Result<&'a ServerId, ExceptionCode> {
        server_id.ok_or(ExceptionCode::IllegalFunction)
    }

    /// The raw-PDU hook (pyModbusTCP's `ext_engine`): sees every request PDU
    /// (function code first) before the per-function methods, and may answer
    /// it by writing a response PDU to `response` (at most 253 bytes). Gateways
    /// and user-defined function codes live here. The default dispatches.
    ///
    /// ```
    /// use modbus_device::{Bank, DataHandler, ExceptionCode, ExtResponse, ResponseWriter, SessionInfo};
    ///
    /// /// Answers user function 0x41 with the request's data reversed.
    /// struct Custom;
    ///
    /// impl DataHandler for Custom {
    ///     fn ext_engine(&mut self, _: &mut dyn Bank, request_pdu: &[u8], _: &SessionInfo, response: &mut ResponseWriter<'_>) -> ExtResponse {
    ///         let [0x41, data @ ..] = request_pdu else {
    ///             return ExtResponse::Dispatch;
    ///         };
    ///         if data.is_empty() {
    ///             return ExtResponse::Exception(ExceptionCode::IllegalDataValue);
    ///         }
    ///         let reversed = data.iter().rev().copied();
    ///         match response.push(0x41).and_then(|()| reversed.map(|b| response.push(b)).collect()) {
    ///             Ok(()) => ExtResponse::Respond,
    ///             Err(_) => ExtResponse::Exception(ExceptionCode::ServerDeviceFailure),
    ///         }
    ///     }
    /// }
    /// ```
    #[doc(alias = "raw_pdu")]
    fn ext_engine(
        &mut self,
        data_bank: &mut dyn Bank,
        request_pdu: &[u8],
        srv_info: &SessionInfo,
        response: &mut ResponseWriter<'_>,
    ) -> ExtResponse {
        ExtResponse::Dispatch
    }
}

/// The default handler: every function goes to the data bank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DefaultHandler;

impl DataHandler for DefaultHandler {
    // Every other method is the trait's default, which goes to the bank;
    // this one goes to the bank without the trait default's `u16` buffer.
    #[inline]
    fn read_regs_be(
        &mut self,
        data_bank: &mut dyn Bank,
        table: WordTable,
        address: u16,
        out: &mut [u8],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        data_bank.read_regs_be(table, address, out, srv_info)
    }
}
