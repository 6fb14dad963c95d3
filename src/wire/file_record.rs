//! FC 0x14 Read File Record and FC 0x15 Write File Record (Modbus
//! Application Protocol Specification V1.1b3, sections 6.14 and 6.15):
//! checked views over the sub-requests and sub-responses, iterated without
//! a heap, and the server's emitter for read responses.
//!
//! A file is a sequence of records of 16-bit words, numbered 0..=0x270F;
//! files are numbered 1..=0xFFFF. Each sub-request names a reference type
//! (always 6), a file, a first record and a number of records.
//!
//! Check order (the sections' state diagrams): the byte count and the shape
//! of every sub-request first (exception 3: byte count outside its range,
//! not a whole number of sub-requests, a record length of 0, a read whose
//! response would not fit a 253-byte PDU), then each sub-request's
//! reference, file and record numbers (exception 2). Whether a file and its
//! records exist depends on the storage and is checked by the data bank
//! (exception 2 too).

use core::ops::RangeInclusive;

use super::{be_u16, ExceptionCode, ResponseWriter, Words, WriteError};
use super::{FunctionCode, MAX_PDU_LEN, REGISTER_LEN};

/// The only reference type of a sub-request (sections 6.14, 6.15: "must be
/// specified as 6").
pub const REFERENCE_TYPE: u8 = 6;
/// The highest record number (sections 6.14, 6.15: records 0000 to 9999).
pub const MAX_RECORD_NUMBER: u16 = 0x270F;
/// Records a file can hold (0..=[`MAX_RECORD_NUMBER`]).
pub const MAX_RECORDS_PER_FILE: usize = MAX_RECORD_NUMBER as usize + 1;
/// FC 0x14 (section 6.14): the byte count of a request, 0x07..=0xF5.
pub const READ_BYTE_COUNT: RangeInclusive<u8> = 0x07..=0xF5;
/// FC 0x15 (section 6.15): the request data length, 0x09..=0xFB.
pub const WRITE_BYTE_COUNT: RangeInclusive<u8> = 0x09..=0xFB;
/// Most words one FC 0x15 request carries: a single sub-request in the
/// largest request data length, `(0xFB - 7) / 2`.
pub const MAX_WRITE_FILE_WORDS: usize = (0xFB - field::SUB_REQUEST_LEN) / REGISTER_LEN;
/// Most words one sub-request of FC 0x14 may ask for: one sub-response in a
/// 253-byte response PDU, `(253 - 2 - 2) / 2`.
pub const MAX_READ_FILE_WORDS: usize =
    (MAX_PDU_LEN - pdu::SUB_REQUESTS - field::SUB_RESPONSE_DATA) / REGISTER_LEN;

/// Byte positions of the PDU fields around the sub-requests, function code
/// at 0 (the same for both functions' requests and responses).
pub(crate) mod pdu {
    /// FC 0x14, 0x15 (sections 6.14, 6.15): the byte count (request data
    /// length, response data length).
    pub const BYTE_COUNT: usize = 1;
    /// FC 0x14, 0x15: the first byte of the first sub-request (or
    /// sub-response).
    pub const SUB_REQUESTS: usize = 2;
}

/// Byte positions inside one sub-request or sub-response.
mod field {
    use crate::wire::Field;

    /// Sub-request (sections 6.14, 6.15): the reference type.
    pub const REFERENCE_TYPE: usize = 0;
    /// Sub-request: the file number.
    pub const FILE_NUMBER: Field = 1..3;
    /// Sub-request: the first record.
    pub const RECORD_NUMBER: Field = 3..5;
    /// Sub-request: the number of records (16-bit words).
    pub const RECORD_LENGTH: Field = 5..7;
    /// Sub-request: its length without data; FC 0x15's data follow here.
    pub const SUB_REQUEST_LEN: usize = 7;

    /// FC 0x14 sub-response (section 6.14): its length after this byte
    /// (the reference type and the data).
    pub const FILE_RESP_LENGTH: usize = 0;
    /// FC 0x14 sub-response: the reference type.
    pub const SUB_RESPONSE_REFERENCE_TYPE: usize = 1;
    /// FC 0x14 sub-response: the first byte of the record data.
    pub const SUB_RESPONSE_DATA: usize = 2;
}

/// One sub-request of FC 0x14: `length` records of file `file` from
/// record `record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FileRecord {
    /// 1..=0xFFFF.
    pub file: u16,
    /// The first record, 0..=0x270F.
    pub record: u16,
    /// Records (16-bit words) to read, at least 1.
    pub length: u16,
}

/// One sub-request of FC 0x15: `values` written to file `file` from record
/// `record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecordWrite<'a> {
    /// 1..=0xFFFF.
    pub file: u16,
    /// The first record, 0..=0x270F.
    pub record: u16,
    /// The records' new values, at least one.
    pub values: Words<'a>,
}

/// The header fields of one sub-request; `bytes` holds at least
/// [`field::SUB_REQUEST_LEN`] bytes.
fn header(bytes: &[u8]) -> Option<(u8, u16, u16, u16)> {
    Some((
        *bytes.get(field::REFERENCE_TYPE)?,
        be_u16(bytes, field::FILE_NUMBER.start)?,
        be_u16(bytes, field::RECORD_NUMBER.start)?,
        be_u16(bytes, field::RECORD_LENGTH.start)?,
    ))
}

/// Exception 2 unless the reference type is 6, the file is not 0 and
/// `record..record + length` lies within records 0..=0x270F.
fn check_reference(
    reference: u8,
    file: u16,
    record: u16,
    length: u16,
) -> Result<(), ExceptionCode> {
    let end = usize::from(record) + usize::from(length);
    if reference != REFERENCE_TYPE || file == 0 || end > MAX_RECORDS_PER_FILE {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    Ok(())
}

/// The sub-requests of an FC 0x14 request: a checked view, iterated
/// without a heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecordReads<'a> {
    bytes: &'a [u8],
}

impl<'a> FileRecordReads<'a> {
    /// Checks `sub_requests` (the bytes after the byte count) as FC 0x14
    /// sub-requests.
    ///
    /// # Errors
    ///
    /// [`ExceptionCode::IllegalDataValue`] when the length is outside
    /// 0x07..=0xF5 or not a multiple of 7, a record length is 0, or the
    /// response would be longer than a PDU; then
    /// [`ExceptionCode::IllegalDataAddress`] for a reference type other than
    /// 6, file 0, or records past 0x270F.
    pub fn new(sub_requests: &'a [u8]) -> Result<Self, ExceptionCode> {
        let len = sub_requests.len();
        let in_range = u8::try_from(len).is_ok_and(|n| READ_BYTE_COUNT.contains(&n));
        if !in_range || len % field::SUB_REQUEST_LEN != 0 {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let reads = FileRecordReads {
            bytes: sub_requests,
        };
        let mut response_len = pdu::SUB_REQUESTS;
        for sub in sub_requests.chunks_exact(field::SUB_REQUEST_LEN) {
            let (_, _, _, length) = header(sub).ok_or(ExceptionCode::IllegalDataValue)?;
            if length == 0 {
                return Err(ExceptionCode::IllegalDataValue);
            }
            response_len += field::SUB_RESPONSE_DATA + REGISTER_LEN * usize::from(length);
        }
        if response_len > MAX_PDU_LEN {
            return Err(ExceptionCode::IllegalDataValue);
        }
        for sub in sub_requests.chunks_exact(field::SUB_REQUEST_LEN) {
            let (reference, file, record, length) =
                header(sub).ok_or(ExceptionCode::IllegalDataValue)?;
            check_reference(reference, file, record, length)?;
        }
        Ok(reads)
    }

    /// The sub-requests of a whole FC 0x14 request PDU (function code
    /// first); bytes after the byte count's end are ignored.
    #[cfg_attr(not(feature = "file-records"), allow(dead_code))]
    pub(crate) fn from_pdu(pdu: &'a [u8]) -> Result<Self, ExceptionCode> {
        let count = *pdu
            .get(pdu::BYTE_COUNT)
            .ok_or(ExceptionCode::IllegalDataValue)?;
        if !READ_BYTE_COUNT.contains(&count) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let end = pdu::SUB_REQUESTS + usize::from(count);
        let bytes = pdu
            .get(pdu::SUB_REQUESTS..end)
            .ok_or(ExceptionCode::IllegalDataValue)?;
        Self::new(bytes)
    }

    /// Writes `sub_requests` as FC 0x14 sub-requests into `buf` and checks
    /// them (the client side); `None` if `buf` is too short or they break a
    /// rule of [`new`](Self::new).
    #[must_use]
    pub fn encode_into(sub_requests: &[FileRecord], buf: &'a mut [u8]) -> Option<Self> {
        let len = sub_requests.len().checked_mul(field::SUB_REQUEST_LEN)?;
        let out = buf.get_mut(..len)?;
        for (sub, bytes) in sub_requests
            .iter()
            .zip(out.chunks_exact_mut(field::SUB_REQUEST_LEN))
        {
            put_header(bytes, sub.file, sub.record, sub.length);
        }
        FileRecordReads::new(out).ok()
    }

    /// The number of sub-requests.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len() / field::SUB_REQUEST_LEN
    }

    /// Always false: a valid request has at least one sub-request.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The sub-requests' bytes, as on the wire (without the byte count).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The sub-requests in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = FileRecord> + 'a {
        self.bytes
            .chunks_exact(field::SUB_REQUEST_LEN)
            .map(|sub| match header(sub) {
                Some((_, file, record, length)) => FileRecord {
                    file,
                    record,
                    length,
                },
                // Unreachable: `chunks_exact` yields whole sub-requests.
                None => FileRecord {
                    file: 0,
                    record: 0,
                    length: 0,
                },
            })
    }

    /// The length of the response PDU these sub-requests get.
    #[must_use]
    pub fn response_len(&self) -> usize {
        pdu::SUB_REQUESTS
            + self
                .iter()
                .map(|sub| field::SUB_RESPONSE_DATA + REGISTER_LEN * usize::from(sub.length))
                .sum::<usize>()
    }
}

/// Writes a sub-request header (reference type 6) into `bytes[..7]`.
fn put_header(bytes: &mut [u8], file: u16, record: u16, length: u16) {
    bytes[field::REFERENCE_TYPE] = REFERENCE_TYPE;
    bytes[field::FILE_NUMBER].copy_from_slice(&file.to_be_bytes());
    bytes[field::RECORD_NUMBER].copy_from_slice(&record.to_be_bytes());
    bytes[field::RECORD_LENGTH].copy_from_slice(&length.to_be_bytes());
}

/// The sub-requests of an FC 0x15 request (and its echo): a checked view,
/// iterated without a heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecordWrites<'a> {
    bytes: &'a [u8],
}

impl<'a> FileRecordWrites<'a> {
    /// Checks `sub_requests` (the bytes after the request data length) as
    /// FC 0x15 sub-requests.
    ///
    /// # Errors
    ///
    /// [`ExceptionCode::IllegalDataValue`] when the length is outside
    /// 0x09..=0xFB, a record length is 0, or the sub-requests and their
    /// data do not fill the bytes exactly; then
    /// [`ExceptionCode::IllegalDataAddress`] for a reference type other than
    /// 6, file 0, or records past 0x270F.
    pub fn new(sub_requests: &'a [u8]) -> Result<Self, ExceptionCode> {
        let in_range =
            u8::try_from(sub_requests.len()).is_ok_and(|n| WRITE_BYTE_COUNT.contains(&n));
        if !in_range {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let writes = FileRecordWrites {
            bytes: sub_requests,
        };
        let mut rest = sub_requests;
        while !rest.is_empty() {
            let (_, _, _, length) = header(rest).ok_or(ExceptionCode::IllegalDataValue)?;
            let len = field::SUB_REQUEST_LEN + REGISTER_LEN * usize::from(length);
            if length == 0 || len > rest.len() {
                return Err(ExceptionCode::IllegalDataValue);
            }
            rest = &rest[len..];
        }
        let mut rest = sub_requests;
        while let Some((reference, file, record, length)) = header(rest) {
            check_reference(reference, file, record, length)?;
            let len = field::SUB_REQUEST_LEN + REGISTER_LEN * usize::from(length);
            rest = rest.get(len..).unwrap_or_default();
        }
        Ok(writes)
    }

    /// The sub-requests of a whole FC 0x15 request PDU (function code
    /// first); bytes after the request data length's end are ignored.
    pub(crate) fn from_pdu(pdu: &'a [u8]) -> Result<Self, ExceptionCode> {
        let count = *pdu
            .get(pdu::BYTE_COUNT)
            .ok_or(ExceptionCode::IllegalDataValue)?;
        if !WRITE_BYTE_COUNT.contains(&count) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let end = pdu::SUB_REQUESTS + usize::from(count);
        let bytes = pdu
            .get(pdu::SUB_REQUESTS..end)
            .ok_or(ExceptionCode::IllegalDataValue)?;
        Self::new(bytes)
    }

    /// Writes `sub_requests`, each `(file, first record, values)`, as FC
    /// 0x15 sub-requests into `buf` and checks them (the client side);
    /// `None` if `buf` is too short or they break a rule of
    /// [`new`](Self::new).
    #[must_use]
    pub fn encode_into(sub_requests: &[(u16, u16, &[u16])], buf: &'a mut [u8]) -> Option<Self> {
        let mut at = 0;
        for &(file, record, values) in sub_requests {
            let length = u16::try_from(values.len()).ok()?;
            let len = field::SUB_REQUEST_LEN + REGISTER_LEN * values.len();
            let sub = buf.get_mut(at..at + len)?;
            let (head, data) = sub.split_at_mut(field::SUB_REQUEST_LEN);
            put_header(head, file, record, length);
            for (pair, value) in data.chunks_exact_mut(REGISTER_LEN).zip(values) {
                pair.copy_from_slice(&value.to_be_bytes());
            }
            at += len;
        }
        FileRecordWrites::new(buf.get(..at)?).ok()
    }

    /// The number of sub-requests.
    #[must_use]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Always false: a valid request has at least one sub-request.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The words written by all sub-requests together (at most
    /// [`MAX_WRITE_FILE_WORDS`]).
    #[must_use]
    pub fn total_words(&self) -> usize {
        self.iter().map(|sub| sub.values.len()).sum()
    }

    /// The sub-requests' bytes, as on the wire (without the data length).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The sub-requests in order.
    pub fn iter(&self) -> impl Iterator<Item = FileRecordWrite<'a>> + 'a {
        let mut rest = self.bytes;
        core::iter::from_fn(move || {
            let (_, file, record, length) = header(rest)?;
            let end = field::SUB_REQUEST_LEN + REGISTER_LEN * usize::from(length);
            let values = Words::new(rest.get(field::SUB_REQUEST_LEN..end)?)?;
            rest = rest.get(end..)?;
            Some(FileRecordWrite {
                file,
                record,
                values,
            })
        })
    }
}

/// The sub-responses of an FC 0x14 response: a checked view over each
/// sub-request's record data, iterated without a heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecordData<'a> {
    bytes: &'a [u8],
}

impl<'a> FileRecordData<'a> {
    /// A view over `sub_responses` (the bytes after the response data
    /// length), or `None` unless each is a file response length `1 + 2N`,
    /// reference type 6 and `N` words, and together they fill the bytes.
    #[must_use]
    pub fn new(sub_responses: &'a [u8]) -> Option<Self> {
        let mut rest = sub_responses;
        while !rest.is_empty() {
            let len = usize::from(*rest.get(field::FILE_RESP_LENGTH)?);
            let reference = *rest.get(field::SUB_RESPONSE_REFERENCE_TYPE)?;
            if reference != REFERENCE_TYPE || len % REGISTER_LEN != 1 {
                return None;
            }
            rest = rest.get(1 + len..)?;
        }
        Some(FileRecordData {
            bytes: sub_responses,
        })
    }

    /// The number of sub-responses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True if there is no sub-response.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The sub-responses' bytes, as on the wire (without the data length).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Each sub-response's record data, in the order of the sub-requests.
    pub fn iter(&self) -> impl Iterator<Item = Words<'a>> + 'a {
        let mut rest = self.bytes;
        core::iter::from_fn(move || {
            let len = usize::from(*rest.get(field::FILE_RESP_LENGTH)?);
            let words = Words::new(rest.get(field::SUB_RESPONSE_DATA..1 + len)?)?;
            rest = rest.get(1 + len..)?;
            Some(words)
        })
    }
}

/// Builds an FC 0x14 response in place, one sub-response at a time (the
/// server's emitter: the record data go straight from the handler's values
/// to the output).
#[derive(Debug)]
pub struct ReadFileRecordWriter<'w, 'b> {
    out: &'w mut ResponseWriter<'b>,
    start: usize,
}

impl<'w, 'b> ReadFileRecordWriter<'w, 'b> {
    /// Writes the function code and room for the response data length.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if `out` has no room for them.
    pub fn new(out: &'w mut ResponseWriter<'b>) -> Result<Self, WriteError> {
        let start = out.len();
        out.extend(&[u8::from(FunctionCode::ReadFileRecord), 0])?;
        Ok(ReadFileRecordWriter { out, start })
    }

    /// Appends one sub-response carrying `words`.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if `out` has no room, or if the response PDU would be
    /// longer than [`MAX_PDU_LEN`]; nothing is written then.
    pub fn push(&mut self, words: &[u16]) -> Result<(), WriteError> {
        let len = field::SUB_RESPONSE_DATA + REGISTER_LEN * words.len();
        let pdu_len = self.out.len() - self.start + len;
        if pdu_len > MAX_PDU_LEN {
            return Err(WriteError {
                required_size: pdu_len - MAX_PDU_LEN,
            });
        }
        let (head, data) = self
            .out
            .reserve(len)?
            .split_at_mut(field::SUB_RESPONSE_DATA);
        if let [length_at, reference_at] = head {
            // 1 + 2 * words < MAX_PDU_LEN: checked above.
            (*length_at, *reference_at) = ((len - 1) as u8, REFERENCE_TYPE);
        }
        for (pair, word) in data.chunks_exact_mut(REGISTER_LEN).zip(words) {
            pair.copy_from_slice(&word.to_be_bytes());
        }
        Ok(())
    }

    /// Writes the response data length: the response is complete.
    ///
    /// # Errors
    ///
    /// [`WriteError`] only if the output was cleared meanwhile.
    pub fn finish(self) -> Result<(), WriteError> {
        let data_len = self.out.len() - self.start - pdu::SUB_REQUESTS;
        // At most MAX_PDU_LEN - 2: `push` keeps the PDU within a PDU.
        self.out
            .patch(self.start + pdu::BYTE_COUNT, &[data_len as u8])
    }
}
