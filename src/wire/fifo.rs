//! FC 0x18 Read FIFO Queue (Modbus Application Protocol Specification
//! V1.1b3, section 6.18): field positions, the count limit and the
//! server's emitter.
//!
//! The request names a FIFO pointer address; the response carries a byte
//! count (two bytes), the FIFO count, then that many queued registers.

use super::{be_u16, Field, FunctionCode, ResponseWriter, Words, WriteError};
use super::{MAX_PDU_LEN, REGISTER_LEN};

/// Most queued registers one response carries (section 6.18: "If the queue
/// count exceeds 31, an exception response is returned with an error code
/// of 03").
pub const MAX_FIFO_COUNT: u16 = 31;

/// Byte positions inside FC 0x18 PDUs, function code at 0.
pub(crate) mod field {
    use crate::wire::Field;

    /// Request: the FIFO pointer address.
    pub const POINTER: Field = 1..3;

    /// Response: bytes that follow (the FIFO count and the values).
    pub const BYTE_COUNT: Field = 1..3;
    /// Response: the number of queued registers.
    pub const FIFO_COUNT: Field = 3..5;
    /// Response: the first byte of the queued registers.
    pub const VALUES: usize = 5;
}

/// The FIFO pointer address of a request PDU; `None` if it is too short.
pub(crate) fn parse_request(pdu: &[u8]) -> Option<u16> {
    be_u16(pdu, field::POINTER.start)
}

/// The queued registers of a response PDU; `None` unless the byte count is
/// `2 + 2 * FIFO count`, the count is at most 31 and the values are there.
pub(crate) fn parse_response(pdu: &[u8]) -> Option<Words<'_>> {
    let byte_count = usize::from(be_u16(pdu, field::BYTE_COUNT.start)?);
    let count = be_u16(pdu, field::FIFO_COUNT.start)?;
    let values_len = REGISTER_LEN * usize::from(count);
    if count > MAX_FIFO_COUNT || byte_count != field::FIFO_COUNT.len() + values_len {
        return None;
    }
    Words::new(pdu.get(field::VALUES..field::VALUES + values_len)?)
}

/// Writes the request's fields into `pdu` (sized by [`REQUEST_LEN`]).
pub(crate) fn put_request(pdu: &mut [u8], pointer: u16) {
    put(pdu, field::POINTER, pointer);
}

/// The length of a request PDU.
pub(crate) const REQUEST_LEN: usize = field::POINTER.end;

/// The length of a response PDU carrying `count` values.
pub(crate) const fn response_len(count: usize) -> usize {
    field::VALUES + REGISTER_LEN * count
}

fn put(pdu: &mut [u8], at: Field, word: u16) {
    pdu[at].copy_from_slice(&word.to_be_bytes());
}

/// Appends an FC 0x18 response carrying `values` (the server's emitter,
/// straight from the handler's values). The caller keeps `values` to at
/// most [`MAX_FIFO_COUNT`], as the specification requires.
///
/// # Errors
///
/// [`WriteError`] if `out` has no room, or if the PDU would be longer than
/// [`MAX_PDU_LEN`] (`required_size` is the excess). Nothing is written then.
pub fn emit_read_fifo_queue(
    out: &mut ResponseWriter<'_>,
    values: &[u16],
) -> Result<(), WriteError> {
    let len = response_len(values.len());
    if len > MAX_PDU_LEN {
        return Err(WriteError {
            required_size: len - MAX_PDU_LEN,
        });
    }
    let pdu = out.reserve(len)?;
    pdu[0] = u8::from(FunctionCode::ReadFifoQueue);
    // Both below MAX_PDU_LEN: checked above.
    put(
        pdu,
        field::BYTE_COUNT,
        (len - field::FIFO_COUNT.start) as u16,
    );
    put(pdu, field::FIFO_COUNT, values.len() as u16);
    for (pair, word) in pdu[field::VALUES..]
        .chunks_exact_mut(REGISTER_LEN)
        .zip(values)
    {
        pair.copy_from_slice(&word.to_be_bytes());
    }
    Ok(())
}

/// Appends an FC 0x18 response whose values are already bytes.
pub(crate) fn emit_response_bytes(
    out: &mut ResponseWriter<'_>,
    values: Words<'_>,
) -> Result<(), WriteError> {
    let len = response_len(values.len());
    if len > MAX_PDU_LEN {
        return Err(WriteError {
            required_size: len - MAX_PDU_LEN,
        });
    }
    let pdu = out.reserve(len)?;
    pdu[0] = u8::from(FunctionCode::ReadFifoQueue);
    put(
        pdu,
        field::BYTE_COUNT,
        (len - field::FIFO_COUNT.start) as u16,
    );
    put(pdu, field::FIFO_COUNT, values.len() as u16);
    pdu[field::VALUES..].copy_from_slice(values.as_bytes());
    Ok(())
}
