//! Stateless views over bytes: the MBAP header, request PDUs, response
//! encoding, function and exception codes.
//!
//! Everything here parses untrusted input only through checked views: a
//! constructor validates lengths once, after which no accessor can panic.
//! Nothing here allocates, keeps state, or knows about storage.

mod codes;
mod mbap;
mod request;
mod response;
mod values;

pub use codes::{ExceptionCode, FunctionCode};
pub(crate) use mbap::emit_header;
pub use mbap::{Frame, FrameError, Header, HEADER_LEN, MAX_ADU_LEN, MAX_PDU_LEN};
pub use request::{limits, Request};
pub use response::{pack_bits, ResponseWriter, WriteError};
pub use values::{Bits, Words};

/// A range of byte offsets inside a packet, as in smoltcp's `wire` module.
pub(crate) type Field = core::ops::Range<usize>;

/// Reads a big-endian `u16` at `at`; `None` if the slice is too short.
#[inline]
pub(crate) fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(2)?) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}
