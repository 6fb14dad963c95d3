//! What connections share: the data bank, the handler, the device
//! identification and the unit id policy, and the dispatch from a request
//! frame to its response frame.

use crate::device_id::DeviceIdentification;
use crate::handler::{DataHandler, DefaultHandler, ExtResponse};
use crate::session::SessionInfo;
use crate::storage::{Bank, Banks, WordTable};
use crate::wire::limits::{MAX_READ_BITS, MAX_READ_REGISTERS, MAX_READ_WRITE_REGISTERS};
use crate::wire::{
    emit_read_bits, emit_read_words, reserve_read_words, ExceptionCode, Request, Response,
    ResponseWriter,
};
// FC 20, 21, 24
use crate::wire::{emit_read_fifo_queue, ReadFileRecordWriter, MAX_FIFO_COUNT};
// FC 8, 11, 17
use crate::diagnostics::{CommCounters, DiagnosticsData, Outcome};
use crate::server_id::ServerId;
use crate::wire::{emit_comm_event_counter, emit_diagnostics, emit_report_server_id, FunctionCode};

/// A set of unit ids, without a heap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnitSet([u64; 4]);

impl UnitSet {
    /// No unit.
    #[must_use]
    pub const fn empty() -> Self {
        UnitSet([0; 4])
    }

    /// The units listed.
    #[must_use]
    pub fn of(units: &[u8]) -> Self {
        let mut set = Self::empty();
        for &unit in units {
            set.insert(unit);
        }
        set
    }

    /// Adds `unit`.
    pub fn insert(&mut self, unit: u8) {
        self.0[usize::from(unit / 64)] |= 1 << (unit % 64);
    }

    /// True if `unit` is in the set.
    #[must_use]
    pub fn contains(&self, unit: u8) -> bool {
        self.0[usize::from(unit / 64)] >> (unit % 64) & 1 == 1
    }
}

/// Which unit ids the server answers (pyModbusTCP answers all).
///
/// To serve different data per unit id, give the service a
/// [`UnitRouter`](crate::UnitRouter) (see the `unit_routing` example).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnitFilter {
    /// Answer every unit id (the default, as pyModbusTCP).
    #[default]
    All,
    /// Answer only these units; send nothing to the others (as a device
    /// that is not there).
    OnlySilent(UnitSet),
    /// Answer only these units; answer the others with exception 0x0B
    /// (gateway target device failed to respond).
    OnlyWithException(UnitSet),
}

impl UnitFilter {
    /// How a request for `unit_id` is refused: `None` if it is served.
    fn refusal(&self, unit_id: u8) -> Option<Reply> {
        match self {
            UnitFilter::All => None,
            UnitFilter::OnlySilent(units) => {
                (!units.contains(unit_id)).then_some(Reply::NoResponse)
            }
            UnitFilter::OnlyWithException(units) => (!units.contains(unit_id)).then_some(
                Reply::Exception(ExceptionCode::GatewayTargetDeviceFailedToRespond),
            ),
        }
    }
}

/// Everything the connections of one server share, behind one lock.
///
/// `B` is the data: a [`DataBank`](crate::DataBank) (every unit id) or a
/// [`UnitRouter`](crate::UnitRouter) (a bank per unit id). `H` is the
/// handler that serves requests from it.
///
/// The engine takes exclusive access to it once per batch of requests (see
/// [`Shared`](crate::Shared)); the application uses the same access to read
/// and write `data_bank` while the server runs.
#[derive(Debug)]
pub struct Service<B, H = DefaultHandler> {
    /// The tables (pyModbusTCP's `data_bank`).
    pub data_bank: B,
    /// The request handler (pyModbusTCP's `data_hdl`).
    pub data_hdl: H,
    /// Served by function 0x2B/0x0E; `None` answers exception 2 (as
    /// pyModbusTCP). A unit id's own (see [`Banks::device_identification`])
    /// comes first.
    pub device_identification: Option<DeviceIdentification>,
    /// Which unit ids are answered.
    pub unit_filter: UnitFilter,
    scratch: Scratch,
    // FC 8, 11, 17
    /// Served by function 0x11 (report server id); `None` answers exception 1
    /// (as pyModbusTCP, which has no function 0x11). A unit id's own (see
    /// [`Banks::server_id`]) comes first.
    #[doc(alias = "report_slave_id")]
    pub server_id: Option<ServerId>,
    counters: CommCounters,
    /// Asked before every request is served (Modbus/TCP Security's
    /// authorization); `None`: every request is served.
    #[cfg(feature = "authorize")]
    authorizer: Option<crate::authorize::Authorizer>,
}

/// Room for the values of one request, kept here (one per server, used under
/// the lock) so that no request zeroes kilobytes of stack.
#[derive(Debug)]
struct Scratch {
    bits: [bool; MAX_READ_BITS as usize],
    words: [u16; MAX_READ_REGISTERS as usize],
}

impl Scratch {
    const fn new() -> Self {
        Scratch {
            bits: [false; MAX_READ_BITS as usize],
            words: [0; MAX_READ_REGISTERS as usize],
        }
    }
}

impl<B: Banks> Service<B> {
    /// Serves `data_bank` with the default handler.
    pub const fn new(data_bank: B) -> Self {
        Self::with_handler(data_bank, DefaultHandler)
    }
}

impl<B: Banks, H: DataHandler> Service<B, H> {
    /// Serves `data_bank` through `data_hdl`.
    pub const fn with_handler(data_bank: B, data_hdl: H) -> Self {
        Service {
            data_bank,
            data_hdl,
            device_identification: None,
            unit_filter: UnitFilter::All,
            scratch: Scratch::new(),
            server_id: None,
            counters: CommCounters::new(),
            #[cfg(feature = "authorize")]
            authorizer: None,
        }
    }

    /// Sets the authorization asked before every request (builder style):
    /// see [`set_authorizer`](Self::set_authorizer).
    #[cfg(feature = "authorize")]
    #[must_use]
    pub fn with_authorizer(
        mut self,
        authorize: impl crate::authorize::Authorize + Send + 'static,
    ) -> Self {
        self.set_authorizer(Some(crate::authorize::Authorizer::new(authorize)));
        self
    }

    /// Replaces the authorization (a [`RoleMap`](crate::authorize::RoleMap)
    /// or any [`Authorize`](crate::authorize::Authorize)); the next request
    /// is decided by the new one. `None` serves every request.
    #[cfg(feature = "authorize")]
    pub fn set_authorizer(&mut self, authorizer: Option<crate::authorize::Authorizer>) {
        self.authorizer = authorizer;
    }

    /// Sets the device identification (builder style).
    #[must_use]
    pub fn with_device_identification(
        mut self,
        device_identification: DeviceIdentification,
    ) -> Self {
        self.device_identification = Some(device_identification);
        self
    }

    /// Sets the unit filter (builder style).
    #[must_use]
    pub fn with_unit_filter(mut self, unit_filter: UnitFilter) -> Self {
        self.unit_filter = unit_filter;
        self
    }

    // FC 8, 11, 17

    /// Sets the report server id answer (builder style).
    #[must_use]
    #[doc(alias = "report_slave_id")]
    pub fn with_server_id(mut self, server_id: ServerId) -> Self {
        self.server_id = Some(server_id);
        self
    }

    /// The communication counters of functions 0x08 and 0x0B (every
    /// connection and unit id together).
    #[must_use]
    pub fn counters(&self) -> &CommCounters {
        &self.counters
    }

    /// The communication counters, to clear them from the application.
    pub fn counters_mut(&mut self) -> &mut CommCounters {
        &mut self.counters
    }
}

/// How a [`Respond`] impl answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reply {
    /// The response PDU is what was written to the [`ResponseWriter`]
    /// (nothing written is answered with exception 4).
    Response,
    /// Answer with this exception.
    Exception(ExceptionCode),
    /// Send nothing.
    NoResponse,
}

/// Answers one request PDU: what the engine calls for each request.
///
/// Implemented by [`Service`]; implement it yourself only to replace the
/// whole dispatch (the raw-PDU hook [`DataHandler::ext_engine`] is usually
/// enough). The engine owns the framing: it parses the MBAP header, builds
/// `srv_info`, and writes the response header (or the exception PDU) itself.
pub trait Respond {
    /// Answers `request_pdu` (function code first), writing a response PDU
    /// (at most 253 bytes) to `response` when the reply is
    /// [`Reply::Response`].
    fn respond(
        &mut self,
        request_pdu: &[u8],
        srv_info: &SessionInfo,
        response: &mut ResponseWriter<'_>,
    ) -> Reply;

    /// A frame with a CRC error arrived (RTU): it is discarded without a
    /// reply, and only counted (diagnostics sub-function 0x0C). Does
    /// nothing by default.
    fn count_communication_error(&mut self) {}
}

impl<B: Banks, H: DataHandler> Respond for Service<B, H> {
    #[inline]
    fn respond(
        &mut self,
        request_pdu: &[u8],
        srv_info: &SessionInfo,
        response: &mut ResponseWriter<'_>,
    ) -> Reply {
        // FC 8, 11, 17: the counters see every request and its reply.
        let fetch = srv_info.function_code == FunctionCode::GetCommEventCounter;
        self.counters.count_request(fetch);
        let refusal = self.unit_filter.refusal(srv_info.unit_id);
        let served = refusal.is_none();
        #[cfg(feature = "authorize")]
        let refusal = refusal.or_else(|| self.denial(request_pdu, srv_info));
        let reply = match refusal {
            Some(refusal) => refusal,
            None => self.serve(request_pdu, srv_info, response),
        };
        let outcome = match reply {
            // The common case: counted on arrival already.
            Reply::Response if !response.is_empty() => return reply,
            // Nothing written is answered with exception 4 by the engine.
            Reply::Response => Outcome::Exception {
                code: u8::from(ExceptionCode::ServerDeviceFailure),
                served,
            },
            Reply::Exception(code) => Outcome::Exception {
                code: u8::from(code),
                served,
            },
            Reply::NoResponse => Outcome::NoResponse { served },
        };
        self.counters.count_other_reply(outcome, fetch);
        reply
    }

    fn count_communication_error(&mut self) {
        self.counters.count_communication_error();
    }
}

impl<B: Banks, H: DataHandler> Service<B, H> {
    /// Exception 01 (R-31 of Modbus/TCP Security) when the authorization
    /// denies the request; `None` without an authorization.
    #[cfg(feature = "authorize")]
    #[inline]
    fn denial(&self, request_pdu: &[u8], srv_info: &SessionInfo<'_>) -> Option<Reply> {
        let authorizer = self.authorizer.as_ref()?;
        let access = crate::authorize::Access::of(request_pdu, srv_info);
        (!authorizer.allows(&access)).then_some(Reply::Exception(ExceptionCode::IllegalFunction))
    }

    /// Answers a request whose unit id the filter serves.
    #[inline]
    fn serve(
        &mut self,
        request_pdu: &[u8],
        srv_info: &SessionInfo,
        response: &mut ResponseWriter<'_>,
    ) -> Reply {
        let bank = self.data_bank.bank(srv_info.unit_id);
        match self
            .data_hdl
            .ext_engine(bank, request_pdu, srv_info, response)
        {
            ExtResponse::Dispatch => {
                response.clear();
                let mut parts = Parts {
                    banks: &mut self.data_bank,
                    handler: &mut self.data_hdl,
                    scratch: &mut self.scratch,
                    device_identification: self.device_identification.as_ref(),
                    server_id: self.server_id.as_ref(),
                    counters: &mut self.counters,
                };
                match parts.dispatch(request_pdu, srv_info, response) {
                    Ok(()) => Reply::Response,
                    Err(code) => Reply::Exception(code),
                }
            }
            ExtResponse::Respond => Reply::Response,
            ExtResponse::Exception(code) => Reply::Exception(code),
            ExtResponse::NoResponse => Reply::NoResponse,
        }
    }
}

/// A bug in the dispatcher (a response larger than the buffer the engine
/// guarantees) reaches the client as exception 4, never a panic.
fn overflow<E>(_: E) -> ExceptionCode {
    ExceptionCode::ServerDeviceFailure
}

/// What one request's dispatch uses: the banks, the handler, scratch
/// room for values, and the service's device identification.
struct Parts<'a, B, H> {
    banks: &'a mut B,
    handler: &'a mut H,
    scratch: &'a mut Scratch,
    device_identification: Option<&'a DeviceIdentification>,
    // FC 8, 11, 17
    server_id: Option<&'a ServerId>,
    counters: &'a mut CommCounters,
}

impl<B: Banks, H: DataHandler> Parts<'_, B, H> {
    /// Parses and serves one request PDU, writing the response PDU to `w`:
    /// routing only, the byte layouts are `wire`'s.
    #[inline]
    fn dispatch(
        &mut self,
        pdu: &[u8],
        session: &SessionInfo,
        w: &mut ResponseWriter<'_>,
    ) -> Result<(), ExceptionCode> {
        let request = Request::parse(pdu)?;
        let unit_id = session.unit_id;
        let bank: &mut dyn Bank = self.banks.bank(unit_id);
        let (handler, scratch) = (&mut *self.handler, &mut *self.scratch);
        match request {
            Request::ReadCoils { address, quantity }
            | Request::ReadDiscreteInputs { address, quantity } => {
                let bits = scratch
                    .bits
                    .get_mut(..usize::from(quantity))
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                if matches!(request, Request::ReadCoils { .. }) {
                    handler.read_coils(bank, address, bits, session)?;
                } else {
                    handler.read_d_inputs(bank, address, bits, session)?;
                }
                emit_read_bits(w, request.function(), bits).map_err(overflow)
            }
            Request::ReadHoldingRegisters { address, quantity }
            | Request::ReadInputRegisters { address, quantity } => {
                // Straight into the response: the handler fills the values
                // (an exception clears what it wrote).
                let (table, function) = if matches!(request, Request::ReadHoldingRegisters { .. }) {
                    (
                        WordTable::HoldingRegisters,
                        FunctionCode::ReadHoldingRegisters,
                    )
                } else {
                    (WordTable::InputRegisters, FunctionCode::ReadInputRegisters)
                };
                let values = reserve_read_words(w, function, quantity).map_err(overflow)?;
                handler.read_regs_be(bank, table, address, values, session)
            }
            Request::WriteSingleCoil { address, value } => {
                handler.write_coils(bank, address, &[value], session)?;
                emit_write_echo(w, pdu, &request)
            }
            Request::WriteSingleRegister { address, value } => {
                handler.write_h_regs(bank, address, &[value], session)?;
                emit_write_echo(w, pdu, &request)
            }
            Request::WriteMultipleCoils { address, values } => {
                let bits = values
                    .unpack_into(&mut scratch.bits)
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                handler.write_coils(bank, address, bits, session)?;
                emit_write_echo(w, pdu, &request)
            }
            Request::WriteMultipleRegisters { address, values } => {
                let words = values
                    .decode_into(&mut scratch.words)
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                handler.write_h_regs(bank, address, words, session)?;
                emit_write_echo(w, pdu, &request)
            }
            Request::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => {
                handler.mask_write_h_reg(bank, address, and_mask, or_mask, session)?;
                emit_write_echo(w, pdu, &request)
            }
            Request::ReadWriteMultipleRegisters {
                read_address,
                read_quantity,
                write_address,
                values,
            } => {
                // The written values need their own room: the read results
                // go to the words scratch while the handler still reads them.
                let mut written = [0u16; MAX_READ_WRITE_REGISTERS as usize];
                let written = values
                    .decode_into(&mut written)
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                let read = scratch
                    .words
                    .get_mut(..usize::from(read_quantity))
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                handler.read_write_h_regs(
                    bank,
                    read_address,
                    read,
                    write_address,
                    written,
                    session,
                )?;
                emit_read_words(w, FunctionCode::ReadWriteMultipleRegisters, read).map_err(overflow)
            }
            Request::ReadDeviceIdentification {
                read_code,
                object_id,
            } => {
                let id = self
                    .banks
                    .device_identification(unit_id)
                    .or(self.device_identification)
                    .ok_or(ExceptionCode::IllegalDataAddress)?;
                id.encode_response(read_code, object_id, w)
            }
            // FC 20, 21, 24
            Request::ReadFileRecord { records } => {
                // The parser checked that the whole response fits a PDU.
                let mut response = ReadFileRecordWriter::new(w).map_err(overflow)?;
                for sub in records.iter() {
                    let words = scratch
                        .words
                        .get_mut(..usize::from(sub.length))
                        .ok_or(ExceptionCode::IllegalDataValue)?;
                    handler.read_file_record(bank, sub.file, sub.record, words, session)?;
                    response.push(words).map_err(overflow)?;
                }
                response.finish().map_err(overflow)
            }
            Request::WriteFileRecord { records } => {
                handler.write_file_record(bank, records, session)?;
                Response::WriteFileRecord { records }
                    .emit(w)
                    .map_err(overflow)
            }
            Request::ReadFifoQueue { pointer } => {
                let queue = scratch
                    .words
                    .get_mut(..usize::from(MAX_FIFO_COUNT))
                    .ok_or(ExceptionCode::ServerDeviceFailure)?;
                let count = handler.read_fifo_queue(bank, pointer, queue, session)?;
                // A handler that says it filled more than `queue` is a bug: exception 4.
                let values = queue
                    .get(..count)
                    .ok_or(ExceptionCode::ServerDeviceFailure)?;
                emit_read_fifo_queue(w, values).map_err(overflow)
            }
            // FC 8, 11, 17
            Request::Diagnostics { sub_function, data } => {
                let data = match handler.diagnostics(sub_function, data, self.counters, session)? {
                    DiagnosticsData::Echo => data,
                    DiagnosticsData::Word(word) => &word.to_be_bytes()[..],
                };
                emit_diagnostics(w, sub_function, data).map_err(overflow)
            }
            Request::GetCommEventCounter => {
                let counter = handler.get_comm_event_counter(self.counters, session)?;
                emit_comm_event_counter(w, counter.status, counter.event_count).map_err(overflow)
            }
            Request::ReportServerId => {
                let own = self.banks.server_id(unit_id).or(self.server_id);
                let id = handler.report_server_id(own, session)?;
                emit_report_server_id(w, id.as_bytes()).map_err(overflow)
            }
        }
    }
}

/// Answers a write request by echoing it.
fn emit_write_echo(
    w: &mut ResponseWriter<'_>,
    pdu: &[u8],
    request: &Request<'_>,
) -> Result<(), ExceptionCode> {
    crate::wire::emit_write_echo(w, pdu, request)
        .ok_or(ExceptionCode::ServerDeviceFailure)?
        .map_err(overflow)
}
