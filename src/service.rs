//! What connections share: the data bank, the handler, the device
//! identification and the unit id policy, and the dispatch from a request
//! frame to its response frame.

use core::net::SocketAddr;

use crate::device_id::DeviceIdentification;
use crate::handler::{DataHandler, DefaultHandler, ExtResponse};
use crate::session::SessionInfo;
use crate::storage::{ChangeCallbacks, DataBank, NoCallbacks, Storage};
use crate::wire::emit_header;
use crate::wire::limits::{MAX_READ_BITS, MAX_READ_REGISTERS};
use crate::wire::{
    pack_bits, ExceptionCode, FunctionCode, Header, Request, ResponseWriter, HEADER_LEN,
    MAX_ADU_LEN, MAX_PDU_LEN,
};

/// A set of unit ids, without a heap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnitSet([u64; 4]);

impl UnitSet {
    /// No unit.
    pub const fn empty() -> Self {
        UnitSet([0; 4])
    }

    /// The units listed.
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
    pub fn contains(&self, unit: u8) -> bool {
        self.0[usize::from(unit / 64)] >> (unit % 64) & 1 == 1
    }
}

/// Which unit ids the server answers (pyModbusTCP answers all).
///
/// To serve different data per unit id, keep [`UnitFilter::All`] and route
/// on [`SessionInfo::unit_id`] in your [`DataHandler`] (see the
/// `unit_routing` test and example).
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

/// Everything the connections of one server share, behind one lock.
///
/// The engine takes exclusive access to it once per batch of requests (see
/// [`Shared`](crate::Shared)); the application uses the same access to read
/// and write `data_bank` while the server runs.
#[derive(Debug)]
pub struct Service<S, H = DefaultHandler, C = NoCallbacks> {
    /// The tables (the spec's `data_bank`).
    pub data_bank: DataBank<S, C>,
    /// The request handler (the spec's `data_hdl`).
    pub data_hdl: H,
    /// Served by function 0x2B/0x0E; `None` answers exception 2 (as pyModbusTCP).
    pub device_identification: Option<DeviceIdentification>,
    /// Which unit ids are answered.
    pub unit_filter: UnitFilter,
    scratch: Scratch,
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

impl<S: Storage, C: ChangeCallbacks> Service<S, DefaultHandler, C> {
    /// Serves `data_bank` with the default handler.
    pub const fn new(data_bank: DataBank<S, C>) -> Self {
        Self::with_handler(data_bank, DefaultHandler)
    }
}

impl<S: Storage, H: DataHandler<S, C>, C: ChangeCallbacks> Service<S, H, C> {
    /// Serves `data_bank` through `data_hdl`.
    pub const fn with_handler(data_bank: DataBank<S, C>, data_hdl: H) -> Self {
        Service {
            data_bank,
            data_hdl,
            device_identification: None,
            unit_filter: UnitFilter::All,
            scratch: Scratch::new(),
        }
    }

    /// Sets the device identification (builder style).
    pub fn with_device_identification(
        mut self,
        device_identification: DeviceIdentification,
    ) -> Self {
        self.device_identification = Some(device_identification);
        self
    }

    /// Sets the unit filter (builder style).
    pub fn with_unit_filter(mut self, unit_filter: UnitFilter) -> Self {
        self.unit_filter = unit_filter;
        self
    }
}

/// Answers one request frame: what the engine calls for each frame.
///
/// Implemented by [`Service`]; implement it yourself only to replace the
/// whole dispatch (the raw-PDU hook [`DataHandler::ext_engine`] is usually
/// enough).
pub trait Respond {
    /// Writes the response ADU (MBAP header and PDU) to the request with
    /// `header` and `pdu` into `out` (at least [`MAX_ADU_LEN`] bytes) and
    /// returns its length, or `None` to send nothing.
    fn respond(
        &mut self,
        header: Header,
        pdu: &[u8],
        client: Option<SocketAddr>,
        out: &mut [u8],
    ) -> Option<usize>;
}

impl<S: Storage, H: DataHandler<S, C>, C: ChangeCallbacks> Respond for Service<S, H, C> {
    fn respond(
        &mut self,
        header: Header,
        pdu: &[u8],
        client: Option<SocketAddr>,
        out: &mut [u8],
    ) -> Option<usize> {
        let function = pdu.first().copied().unwrap_or(0);
        let refused = match self.unit_filter {
            UnitFilter::All => None,
            UnitFilter::OnlySilent(units) => (!units.contains(header.unit_id)).then_some(None),
            UnitFilter::OnlyWithException(units) => (!units.contains(header.unit_id))
                .then_some(Some(ExceptionCode::GatewayTargetDeviceFailedToRespond)),
        };
        let body = out.get_mut(HEADER_LEN..MAX_ADU_LEN)?;
        let pdu_len = match refused {
            Some(None) => return None,
            Some(Some(code)) => exception(body, function, code),
            None => {
                let session = SessionInfo {
                    client_addr: client,
                    unit_id: header.unit_id,
                    transaction_id: header.transaction_id,
                    function_code: FunctionCode::from(function),
                };
                match self
                    .data_hdl
                    .ext_engine(&mut self.data_bank, pdu, &session, body)
                {
                    ExtResponse::Dispatch => match self.dispatch(pdu, &session, body) {
                        Ok(len) => len,
                        Err(code) => exception(body, function, code),
                    },
                    ExtResponse::Respond(len) if (1..=MAX_PDU_LEN).contains(&len) => len,
                    ExtResponse::Respond(_) => {
                        exception(body, function, ExceptionCode::ServerDeviceFailure)
                    }
                    ExtResponse::NoResponse => return None,
                }
            }
        };
        emit_header(out, header, pdu_len)?;
        Some(HEADER_LEN + pdu_len)
    }
}

/// Writes an exception PDU; the function byte keeps a set 0x80 bit as is.
fn exception(body: &mut [u8], function: u8, code: ExceptionCode) -> usize {
    if let Some(dst) = body.get_mut(..2) {
        dst.copy_from_slice(&[function | 0x80, u8::from(code)]);
    }
    2
}

/// A bug in the dispatcher (a response larger than the buffer the engine
/// guarantees) reaches the client as exception 4, never a panic.
fn overflow<E>(_: E) -> ExceptionCode {
    ExceptionCode::ServerDeviceFailure
}

impl<S: Storage, H: DataHandler<S, C>, C: ChangeCallbacks> Service<S, H, C> {
    /// Parses and serves one request PDU, writing the response PDU into
    /// `body`; returns its length or the exception to send.
    fn dispatch(
        &mut self,
        pdu: &[u8],
        session: &SessionInfo,
        body: &mut [u8],
    ) -> Result<usize, ExceptionCode> {
        let request = Request::parse(pdu)?;
        let function = u8::from(request.function());
        let (bank, handler, scratch) = (&mut self.data_bank, &mut self.data_hdl, &mut self.scratch);
        let mut w = ResponseWriter::new(body);
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
                let byte_count = bits.len().div_ceil(8);
                w.extend(&[function, byte_count as u8]).map_err(overflow)?; // <= 250
                pack_bits(bits, w.reserve(byte_count).map_err(overflow)?)
                    .ok_or(ExceptionCode::ServerDeviceFailure)?;
            }
            Request::ReadHoldingRegisters { address, quantity }
            | Request::ReadInputRegisters { address, quantity } => {
                let words = scratch
                    .words
                    .get_mut(..usize::from(quantity))
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                if matches!(request, Request::ReadHoldingRegisters { .. }) {
                    handler.read_h_regs(bank, address, words, session)?;
                } else {
                    handler.read_i_regs(bank, address, words, session)?;
                }
                write_words(&mut w, function, words)?;
            }
            Request::WriteSingleCoil { address, value } => {
                handler.write_coils(bank, address, &[value], session)?;
                w.extend(pdu.get(..5).ok_or(ExceptionCode::IllegalDataValue)?)
                    .map_err(overflow)?;
            }
            Request::WriteSingleRegister { address, value } => {
                handler.write_h_regs(bank, address, &[value], session)?;
                w.extend(pdu.get(..5).ok_or(ExceptionCode::IllegalDataValue)?)
                    .map_err(overflow)?;
            }
            Request::WriteMultipleCoils { address, values } => {
                let bits = values
                    .unpack_into(&mut scratch.bits)
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                handler.write_coils(bank, address, bits, session)?;
                w.extend(pdu.get(..5).ok_or(ExceptionCode::IllegalDataValue)?)
                    .map_err(overflow)?;
            }
            Request::WriteMultipleRegisters { address, values } => {
                let words = values
                    .decode_into(&mut scratch.words)
                    .ok_or(ExceptionCode::IllegalDataValue)?;
                handler.write_h_regs(bank, address, words, session)?;
                w.extend(pdu.get(..5).ok_or(ExceptionCode::IllegalDataValue)?)
                    .map_err(overflow)?;
            }
            Request::MaskWriteRegister {
                address,
                and_mask,
                or_mask,
            } => {
                handler.mask_write_h_reg(bank, address, and_mask, or_mask, session)?;
                w.extend(pdu.get(..7).ok_or(ExceptionCode::IllegalDataValue)?)
                    .map_err(overflow)?;
            }
            Request::ReadWriteMultipleRegisters {
                read_address,
                read_quantity,
                write_address,
                values,
            } => {
                // The written values need their own room: the read results
                // go to the words scratch while the handler still reads them.
                let mut written = [0u16; crate::wire::limits::MAX_READ_WRITE_REGISTERS as usize];
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
                write_words(&mut w, function, read)?;
            }
            Request::ReadDeviceIdentification {
                read_code,
                object_id,
            } => {
                let id = self
                    .device_identification
                    .as_ref()
                    .ok_or(ExceptionCode::IllegalDataAddress)?;
                id.encode_response(read_code, object_id, &mut w)?;
            }
        }
        Ok(w.len())
    }
}

/// `function, byte count, registers` (big-endian).
#[inline]
fn write_words(
    w: &mut ResponseWriter<'_>,
    function: u8,
    words: &[u16],
) -> Result<(), ExceptionCode> {
    // At most 250. One reservation and direct stores: a two-byte `extend`
    // costs a `memcpy` call, a measurable share of a small read (benches/engine.rs).
    let byte_count = words.len() * 2;
    let dst = w.reserve(2 + byte_count).map_err(overflow)?;
    if let [f, count, data @ ..] = dst {
        (*f, *count) = (function, byte_count as u8);
        for (pair, word) in data.chunks_exact_mut(2).zip(words) {
            pair.copy_from_slice(&word.to_be_bytes());
        }
    }
    Ok(())
}
