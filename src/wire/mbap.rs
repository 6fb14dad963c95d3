//! The MBAP header (Modbus Application Protocol header of Modbus TCP) and
//! framing by its length field.
//!
//! ```text
//! | transaction id (2) | protocol id (2) | length (2) | unit id (1) | PDU (length - 1) |
//! ```

use super::{be_u16, Field};

mod field {
    use super::Field;
    pub const TRANSACTION_ID: Field = 0..2;
    pub const PROTOCOL_ID: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const UNIT_ID: usize = 6;
    pub const PDU_START: usize = 7;
}

/// Length of the MBAP header, unit id included.
pub const HEADER_LEN: usize = field::PDU_START;
/// The longest PDU the protocol allows (function code and data).
pub const MAX_PDU_LEN: usize = 253;
/// The longest ADU on Modbus TCP: header and the longest PDU.
pub const MAX_ADU_LEN: usize = HEADER_LEN + MAX_PDU_LEN;

/// Smallest accepted value of the length field: unit id and a function code.
const MIN_LENGTH_FIELD: u16 = 2;
/// Largest accepted value of the length field: unit id and the longest PDU.
const MAX_LENGTH_FIELD: u16 = 1 + MAX_PDU_LEN as u16;

/// Why a byte stream cannot be framed: the connection must be closed
/// without a reply, because the peer does not speak Modbus TCP (or the
/// stream lost synchronisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// The protocol id is not 0 (Modbus).
    ProtocolId {
        /// The protocol id received.
        found: u16,
    },
    /// The length field is outside `2..=254`.
    Length {
        /// The length field received.
        found: u16,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::ProtocolId { found } => {
                write!(f, "MBAP protocol id is {found}, not 0 (Modbus)")
            }
            FrameError::Length { found } => write!(
                f,
                "MBAP length field is {found}, outside {MIN_LENGTH_FIELD}..={MAX_LENGTH_FIELD}"
            ),
        }
    }
}

impl core::error::Error for FrameError {}

/// The decoded fields of an MBAP header.
#[doc(alias = "MBAP")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Chosen by the client, echoed in the response.
    pub transaction_id: u16,
    /// The unit (slave) id, echoed in the response.
    pub unit_id: u8,
}

/// A view over one complete, well-formed Modbus TCP frame (ADU).
///
/// [`Frame::new_checked`] validates the header and the length once; after
/// that, no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    /// The frame's total length, validated against `buffer` at construction.
    len: usize,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Frames the start of `buffer`.
    ///
    /// Returns `Ok(None)` while the frame is incomplete (fewer bytes than the
    /// header, or than the header's length field announces), `Ok(Some(len))`
    /// with the frame's total length once it is complete. Bytes after the
    /// frame are not looked at: they belong to the next frame.
    ///
    /// # Errors
    ///
    /// A header that can never start a valid frame: a protocol id other than
    /// 0 ([`FrameError::ProtocolId`]) or a length field outside `2..=254`
    /// ([`FrameError::Length`]).
    pub fn frame_len(buffer: &[u8]) -> Result<Option<usize>, FrameError> {
        let (Some(protocol), Some(length)) = (
            be_u16(buffer, field::PROTOCOL_ID.start),
            be_u16(buffer, field::LENGTH.start),
        ) else {
            return Ok(None);
        };
        if protocol != 0 {
            return Err(FrameError::ProtocolId { found: protocol });
        }
        if !(MIN_LENGTH_FIELD..=MAX_LENGTH_FIELD).contains(&length) {
            return Err(FrameError::Length { found: length });
        }
        // The length field counts the unit id and the PDU.
        let total = field::UNIT_ID + usize::from(length);
        Ok((buffer.len() >= total).then_some(total))
    }

    /// Wraps `buffer` if it starts with one complete, valid frame; the view
    /// covers that frame only (`Ok(None)` while it is incomplete).
    ///
    /// # Errors
    ///
    /// As [`frame_len`](Self::frame_len).
    pub fn new_checked(buffer: T) -> Result<Option<Frame<T>>, FrameError> {
        Ok(Self::frame_len(buffer.as_ref())?.map(|len| Frame { buffer, len }))
    }

    /// Wraps a frame whose length [`frame_len`](Self::frame_len) already
    /// returned for these very bytes, without validating it again (the
    /// engine's hot path). Accessors stay panic-free whatever `len` is.
    pub(crate) fn prevalidated(buffer: T, len: usize) -> Frame<T> {
        Frame { buffer, len }
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> u16 {
        be_u16(self.bytes(), field::TRANSACTION_ID.start).unwrap_or(0)
    }

    /// The unit id.
    pub fn unit_id(&self) -> u8 {
        self.bytes().get(field::UNIT_ID).copied().unwrap_or(0)
    }

    /// The header fields that a response echoes.
    pub fn header(&self) -> Header {
        Header {
            transaction_id: self.transaction_id(),
            unit_id: self.unit_id(),
        }
    }

    /// The PDU: function code and data, at least one byte.
    #[doc(alias = "PDU")]
    pub fn pdu(&self) -> &[u8] {
        self.bytes().get(field::PDU_START..self.len).unwrap_or(&[])
    }

    /// The frame's total length in bytes (header and PDU).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a checked frame holds at least a function code.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Writes an MBAP header for a PDU of `pdu_len` bytes into `out[..HEADER_LEN]`.
///
/// Returns `None` (writing nothing) if `out` is shorter than the header or
/// `pdu_len` is longer than [`MAX_PDU_LEN`].
pub(crate) fn emit_header(out: &mut [u8], header: Header, pdu_len: usize) -> Option<()> {
    if pdu_len > MAX_PDU_LEN {
        return None;
    }
    let length = (pdu_len + 1) as u16; // at most 254: checked above
    let out = out.get_mut(..HEADER_LEN)?;
    out[field::TRANSACTION_ID].copy_from_slice(&header.transaction_id.to_be_bytes());
    out[field::PROTOCOL_ID].copy_from_slice(&[0, 0]);
    out[field::LENGTH].copy_from_slice(&length.to_be_bytes());
    out[field::UNIT_ID] = header.unit_id;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read holding registers 0x006B x3 (Modbus Application Protocol, section 6.3), transaction 0x0001, unit 0x11.
    const REQUEST: [u8; 12] = [
        0x00, 0x01, /* tid */ 0x00, 0x00, /* proto */ 0x00, 0x06,
        /* len */ 0x11, /* unit */
        0x03, 0x00, 0x6B, 0x00, 0x03, /* pdu */
    ];

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&REQUEST[..]).unwrap().unwrap();
        assert_eq!(frame.transaction_id(), 1);
        assert_eq!(frame.unit_id(), 0x11);
        assert_eq!(frame.pdu(), &[0x03, 0x00, 0x6B, 0x00, 0x03]);
        assert_eq!(frame.len(), 12);
    }

    #[test]
    fn construct() {
        let mut out = [0xAA; 7];
        emit_header(
            &mut out,
            Header {
                transaction_id: 1,
                unit_id: 0x11,
            },
            5,
        )
        .unwrap();
        assert_eq!(out, REQUEST[..7]);
        assert!(emit_header(
            &mut out,
            Header {
                transaction_id: 1,
                unit_id: 0
            },
            254
        )
        .is_none());
        assert!(emit_header(
            &mut [0; 6],
            Header {
                transaction_id: 1,
                unit_id: 0
            },
            1
        )
        .is_none());
    }

    #[test]
    fn incomplete_frames_wait() {
        for cut in 0..REQUEST.len() {
            assert_eq!(
                Frame::<&[u8]>::frame_len(&REQUEST[..cut]),
                Ok(None),
                "cut at {cut}"
            );
        }
        let mut two = [0u8; 24];
        two[..12].copy_from_slice(&REQUEST);
        two[12..].copy_from_slice(&REQUEST);
        assert_eq!(Frame::<&[u8]>::frame_len(&two), Ok(Some(12)));
    }

    #[test]
    fn broken_headers_are_errors() {
        let bad_proto = [0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x11];
        assert_eq!(
            Frame::<&[u8]>::frame_len(&bad_proto),
            Err(FrameError::ProtocolId { found: 1 })
        );
        for (length, ok) in [
            (0u16, false),
            (1, false),
            (2, true),
            (254, true),
            (255, false),
            (0xFFFF, false),
        ] {
            let [hi, lo] = length.to_be_bytes();
            let header = [0x00, 0x01, 0x00, 0x00, hi, lo, 0x11];
            let result = Frame::<&[u8]>::frame_len(&header);
            assert_eq!(result.is_ok(), ok, "length {length}");
        }
        // Length 2: unit id and a function code only is a complete frame.
        assert_eq!(
            Frame::<&[u8]>::frame_len(&[0, 1, 0, 0, 0, 2, 1, 3]),
            Ok(Some(8))
        );
    }
}
