//! The spec's `DataHandler`: one overridable method per function, whose
//! default bodies go to the [`DataBank`].

use crate::session::SessionInfo;
use crate::storage::{ChangeCallbacks, DataBank, Storage};
use crate::wire::ExceptionCode;

/// What the raw-PDU hook ([`DataHandler::ext_engine`]) did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExtResponse {
    /// Not handled here: dispatch the request to the per-function methods.
    Dispatch,
    /// The response PDU is the first `n` bytes of the hook's output buffer
    /// (1..=253; its first byte is the function code, with bit 0x80 set for
    /// an exception). An `n` of 0 or too large is answered with exception 4.
    Respond(usize),
    /// Send no response to this request.
    NoResponse,
}

/// Serves requests: one method per function, with default bodies that go to
/// the [`DataBank`] (the spec's `DataHandler`).
///
/// Override a method to change what a function does; call the data bank's
/// method of the same name for the default behaviour (the `super()` call of
/// the pyModbusTCP example). Return an [`ExceptionCode`] to refuse a request
/// with any exception. Methods get the request's [`SessionInfo`].
///
/// The server has already checked function code, quantities and byte counts
/// (exceptions 1 and 3); the default bodies check address ranges
/// (exception 2). `out` slices are exactly as long as the quantity asked for.
///
/// ```
/// use modbus_server::{DataBank, DataHandler, ExceptionCode, SessionInfo, Storage, ChangeCallbacks};
///
/// /// The spec's "Custom Request Handler" example.
/// struct Guarded;
///
/// impl<S: Storage, C: ChangeCallbacks> DataHandler<S, C> for Guarded {
///     fn read_h_regs(&mut self, bank: &mut DataBank<S, C>, address: u16, out: &mut [u16], srv_info: &SessionInfo) -> Result<(), ExceptionCode> {
///         if address >= 1000 {
///             return Err(ExceptionCode::IllegalFunction);
///         }
///         bank.read_h_regs(address, out, srv_info)
///     }
///
///     fn write_h_regs(&mut self, bank: &mut DataBank<S, C>, address: u16, words_l: &[u16], srv_info: &SessionInfo) -> Result<(), ExceptionCode> {
///         if words_l.iter().any(|&w| w > 1000) {
///             return Err(ExceptionCode::IllegalDataValue);
///         }
///         bank.write_h_regs(address, words_l, srv_info)
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait DataHandler<S: Storage, C: ChangeCallbacks = crate::storage::NoCallbacks> {
    /// FC 1: fill `out` with the coils from `address`.
    fn read_coils(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.read_coils(address, out, srv_info)
    }

    /// FC 2: fill `out` with the discrete inputs from `address`.
    fn read_d_inputs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.read_d_inputs(address, out, srv_info)
    }

    /// FC 3: fill `out` with the holding registers from `address`.
    fn read_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.read_h_regs(address, out, srv_info)
    }

    /// FC 4: fill `out` with the input registers from `address`.
    fn read_i_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.read_i_regs(address, out, srv_info)
    }

    /// FC 5 (one value) and FC 15: write coils from `address`.
    fn write_coils(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.write_coils(address, bits_l, srv_info)
    }

    /// FC 6 (one value) and FC 16: write holding registers from `address`.
    fn write_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.write_h_regs(address, words_l, srv_info)
    }

    /// FC 22: mask write one holding register.
    fn mask_write_h_reg(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        and_mask: u16,
        or_mask: u16,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.mask_write_h_reg(address, and_mask, or_mask, srv_info)
    }

    /// FC 23: write `words_l` at `write_address`, then fill `out` from
    /// `read_address`, as one step (nothing is written if either range is bad).
    fn read_write_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        read_address: u16,
        out: &mut [u16],
        write_address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        bank.read_write_h_regs(read_address, out, write_address, words_l, srv_info)
    }

    /// The raw-PDU hook (the spec's `ext_engine`): sees every request PDU
    /// (function code first) before the per-function methods, and may answer
    /// it by writing a response PDU into `response` (253 bytes). Gateways and
    /// user-defined function codes live here. The default dispatches.
    ///
    /// ```
    /// use modbus_server::{DataBank, DataHandler, ExtResponse, SessionInfo, Storage, ChangeCallbacks};
    ///
    /// /// Answers user function 0x41 with the request's data reversed.
    /// struct Custom;
    ///
    /// impl<S: Storage, C: ChangeCallbacks> DataHandler<S, C> for Custom {
    ///     fn ext_engine(&mut self, _: &mut DataBank<S, C>, request: &[u8], _: &SessionInfo, response: &mut [u8]) -> ExtResponse {
    ///         if request.first() != Some(&0x41) {
    ///             return ExtResponse::Dispatch;
    ///         }
    ///         response[0] = 0x41;
    ///         for (dst, src) in response[1..].iter_mut().zip(request[1..].iter().rev()) {
    ///             *dst = *src;
    ///         }
    ///         ExtResponse::Respond(request.len())
    ///     }
    /// }
    /// ```
    #[doc(alias = "raw_pdu")]
    fn ext_engine(
        &mut self,
        bank: &mut DataBank<S, C>,
        request_pdu: &[u8],
        srv_info: &SessionInfo,
        response: &mut [u8],
    ) -> ExtResponse {
        ExtResponse::Dispatch
    }
}

/// The default handler: every function goes to the data bank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DefaultHandler;

impl<S: Storage, C: ChangeCallbacks> DataHandler<S, C> for DefaultHandler {}
