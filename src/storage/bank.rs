//! What a request handler sees of a data bank: [`Bank`], the request side
//! of one [`DataBank`](super::DataBank) without its storage and callback
//! types, and [`Banks`], which bank serves a unit id.
//!
//! Handlers take `&mut dyn Bank`, so `impl DataHandler for MyHandler` names
//! no type parameter, and one handler serves a plain data bank and a
//! [`UnitRouter`](crate::UnitRouter) alike.

use super::{BitTable, WordTable};
use crate::device_id::DeviceIdentification;
use crate::server_id::ServerId;
use crate::session::SessionInfo;
use crate::wire::ExceptionCode;
// FC 20, 21, 24
use crate::wire::FileRecordWrites;

/// The request side of a data bank (the `read_*` / `write_*` methods that
/// pyModbusTCP's `DataHandler` calls on its `data_bank`).
///
/// Every method checks its whole address range (exception 2 when it does
/// not fit the table) and writes all values or none; writes fire the bank's
/// [`ChangeCallbacks`](super::ChangeCallbacks). Implemented by
/// [`DataBank`](super::DataBank); a handler reaches it as `&mut dyn Bank`.
///
/// ```
/// use modbus_device::{Bank, DataBank, FunctionCode, SessionInfo};
///
/// let mut bank = DataBank::default();
/// let srv_info = SessionInfo::local(FunctionCode::WriteMultipleRegisters);
/// bank.write_h_regs(10, &[1, 2, 3], &srv_info)?;
/// let mut out = [0; 2];
/// bank.read_h_regs(11, &mut out, &srv_info)?;
/// assert_eq!(out, [2, 3]);
/// # Ok::<(), modbus_device::ExceptionCode>(())
/// ```
#[doc(alias = "data_bank")]
pub trait Bank {
    /// Entries in a bit table (coils or discrete inputs).
    fn bits_len(&self, table: BitTable) -> usize;

    /// Entries in a register table (holding or input registers).
    fn words_len(&self, table: WordTable) -> usize;

    /// FC 1: fills `out` with the coils from `address`.
    ///
    /// # Errors
    /// Exception 2 when the range is outside the table, or the storage's own.
    fn read_coils(
        &mut self,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode>;

    /// FC 2: fills `out` with the discrete inputs from `address`.
    ///
    /// # Errors
    /// Exception 2 when the range is outside the table, or the storage's own.
    fn read_d_inputs(
        &mut self,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode>;

    /// FC 3: fills `out` with the holding registers from `address`.
    ///
    /// # Errors
    /// Exception 2 when the range is outside the table, or the storage's own.
    fn read_h_regs(
        &mut self,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode>;

    /// FC 4: fills `out` with the input registers from `address`.
    ///
    /// # Errors
    /// Exception 2 when the range is outside the table, or the storage's own.
    fn read_i_regs(
        &mut self,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode>;

    /// FC 3 and FC 4 as the response carries them: fills `out` with the
    /// `out.len() / 2` registers of `table` from `address`, big-endian.
    ///
    /// The default reads through [`read_h_regs`](Self::read_h_regs) or
    /// [`read_i_regs`](Self::read_i_regs), so a bank that has those needs
    /// nothing more; [`DataBank`](super::DataBank) converts straight from
    /// its storage ([`Storage::get_words_be`](super::Storage::get_words_be)).
    ///
    /// # Errors
    /// As `read_h_regs` and `read_i_regs`; the default answers exception 3
    /// for more than 125 registers.
    fn read_regs_be(
        &mut self,
        table: WordTable,
        address: u16,
        out: &mut [u8],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        crate::wire::read_as_be(out, |words| match table {
            WordTable::HoldingRegisters => self.read_h_regs(address, words, srv_info),
            WordTable::InputRegisters => self.read_i_regs(address, words, srv_info),
        })
    }

    /// FC 5 and 15: writes coils from `address`, then reports the changed
    /// runs to the change callbacks.
    ///
    /// # Errors
    /// Exception 2 when the range is outside the table (nothing written),
    /// exception 3 for more values than one request carries, or the storage's own.
    fn write_coils(
        &mut self,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode>;

    /// FC 6 and 16: writes holding registers from `address`, then reports
    /// the changed runs to the change callbacks.
    ///
    /// # Errors
    /// Exception 2 when the range is outside the table (nothing written),
    /// exception 3 for more values than one request carries, or the storage's own.
    fn write_h_regs(
        &mut self,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode>;

    // FC 20, 21, 24
    // (FC 24 has no method here: its FIFO queues live in the holding
    // registers, see `DataHandler::read_fifo_queue`.)

    /// Records in `file` (0: no such file, or no files at all). The
    /// default has no files.
    fn records_in(&self, file: u16) -> usize {
        let _ = file;
        0
    }

    /// FC 20, one sub-request: fills `out` with the records of `file` from
    /// `record`.
    ///
    /// # Errors
    /// Exception 1 when the bank has no files (the default), exception 2
    /// when the records are not all in the file, or the storage's own.
    fn read_file_record(
        &mut self,
        file: u16,
        record: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        let _ = (file, record, out, srv_info);
        Err(ExceptionCode::IllegalFunction)
    }

    /// FC 21: writes every sub-request of `records`, all or none, then
    /// reports the changed runs to the change callbacks.
    ///
    /// # Errors
    /// Exception 1 when the bank has no files (the default), exception 2
    /// when a sub-request's records are not all in its file (nothing
    /// written), or the storage's own (what was written is restored).
    fn write_file_record(
        &mut self,
        records: FileRecordWrites<'_>,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        let _ = (records, srv_info);
        Err(ExceptionCode::IllegalFunction)
    }
}

/// The data banks of a server: which [`Bank`] serves each unit id, and
/// which unit ids identify themselves apart from the server.
///
/// A [`DataBank`](super::DataBank) serves every unit id itself (as
/// pyModbusTCP does); a [`UnitRouter`](crate::UnitRouter) gives unit ids
/// banks of their own, and identities of their own. The service asks once
/// per request, then hands the bank to the handler.
pub trait Banks {
    /// The bank that serves `unit_id`.
    fn bank(&mut self, unit_id: u8) -> &mut dyn Bank;

    /// The device identification (FC 43/14) of `unit_id` when it has one of
    /// its own; `None` (the default) falls back to the service's
    /// [`device_identification`](crate::Service::device_identification).
    fn device_identification(&self, unit_id: u8) -> Option<&DeviceIdentification> {
        let _ = unit_id;
        None
    }

    /// The report server id answer (FC 17) of `unit_id` when it has one of
    /// its own; `None` (the default) falls back to the service's
    /// [`server_id`](crate::Service::server_id).
    fn server_id(&self, unit_id: u8) -> Option<&ServerId> {
        let _ = unit_id;
        None
    }
}
