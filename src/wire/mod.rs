//! Stateless views over bytes: the MBAP header, request and response PDUs
//! (each with a parse and an emit, so that they round-trip), function and
//! exception codes.
//!
//! Everything here parses untrusted input only through checked views: a
//! constructor validates lengths once, after which no accessor can panic.
//! Nothing here allocates, keeps state, or knows about storage.

pub(crate) mod codes;
mod mbap;
pub(crate) mod mei;
mod request;
pub(crate) mod response;
mod response_pdu;
mod values;
// FC 20, 21, 24
mod fifo;
mod file_record;

// ExceptionCode, FunctionCode, ResponseWriter and WriteError are what a
// handler uses: the crate root exports them, and only the root (one path).
pub(crate) use codes::{ExceptionCode, FunctionCode};
pub(crate) use mbap::emit_header;
pub use mbap::{Frame, FrameError, Header, HEADER_LEN, MAX_ADU_LEN, MAX_PDU_LEN};
pub use mei::DeviceObjects;
pub use request::{limits, Request};
pub(crate) use response::exception_pdu;
pub use response::pack_bits;
pub(crate) use response::{ResponseWriter, WriteError};
pub use response_pdu::{emit_read_bits, emit_read_words, Response, ResponseError};
pub(crate) use response_pdu::{emit_write_echo, reserve_read_words};
// FC 8, 11, 17
pub(crate) use response_pdu::{emit_comm_event_counter, emit_diagnostics, emit_report_server_id};
pub use values::{Bits, Words};
// FC 20, 21, 24
pub use fifo::{emit_read_fifo_queue, MAX_FIFO_COUNT};
pub use file_record::{
    FileRecord, FileRecordData, FileRecordReads, FileRecordWrite, FileRecordWrites,
    ReadFileRecordWriter, MAX_READ_FILE_WORDS, MAX_RECORDS_PER_FILE, MAX_RECORD_NUMBER,
    MAX_WRITE_FILE_WORDS, READ_BYTE_COUNT, REFERENCE_TYPE, WRITE_BYTE_COUNT,
};

/// Bytes of one register on the wire, big-endian (Modbus Application
/// Protocol Specification V1.1b3, section 4.2).
pub(crate) const REGISTER_LEN: usize = 2;

/// A range of byte offsets inside a packet, as in smoltcp's `wire` module.
pub(crate) type Field = core::ops::Range<usize>;

/// Writes `words` into `out` big-endian, two bytes each (the values of a
/// register read response), as far as both go.
#[inline]
pub(crate) fn put_words(words: &[u16], out: &mut [u8]) {
    for (pair, word) in out.chunks_exact_mut(REGISTER_LEN).zip(words) {
        pair.copy_from_slice(&word.to_be_bytes());
    }
}

/// Fills `out` with `out.len() / 2` registers big-endian, read as `u16`s
/// by `read` into a buffer of its own: the default of the `*_be` reads of
/// `Storage`, `Bank` and `DataHandler` for implementations that have only
/// the `u16` reads. Exception 3 for more registers than a read carries.
pub(crate) fn read_as_be(
    out: &mut [u8],
    read: impl FnOnce(&mut [u16]) -> Result<(), ExceptionCode>,
) -> Result<(), ExceptionCode> {
    let mut words = [0u16; limits::MAX_READ_REGISTERS as usize];
    let words = words
        .get_mut(..out.len() / REGISTER_LEN)
        .ok_or(ExceptionCode::IllegalDataValue)?;
    read(words)?;
    put_words(words, out);
    Ok(())
}

/// Reads a big-endian `u16` at `at`; `None` if the slice is too short.
#[inline]
pub(crate) fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(2)?) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}
