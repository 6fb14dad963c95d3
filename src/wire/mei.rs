//! The response layout of read device identification (FC 0x2B, MEI type
//! 0x0E), Modbus Application Protocol Specification V1.1b3, section 6.21:
//!
//! ```text
//! | 0x2B | 0x0E | read code | conformity | more follows | next id | count | objects |
//! ```
//!
//! and each object is `| id | length | value (length bytes) |`.

use super::{limits::MEI_READ_DEVICE_ID, FunctionCode, ResponseWriter, WriteError};

/// Byte positions in the response PDU, function code at 0.
pub(crate) mod field {
    /// The function code, 0x2B.
    pub const FUNCTION: usize = 0;
    /// The MEI type, 0x0E.
    pub const MEI_TYPE: usize = 1;
    /// The request's read device id code, echoed.
    pub const READ_CODE: usize = 2;
    /// The conformity level.
    pub const CONFORMITY_LEVEL: usize = 3;
    /// 0xFF if another request is needed for the rest, else 0x00.
    pub const MORE_FOLLOWS: usize = 4;
    /// Where that next request starts; 0x00 without more follows.
    pub const NEXT_OBJECT_ID: usize = 5;
    /// How many objects this response holds.
    pub const OBJECT_COUNT: usize = 6;
    /// The first object.
    pub const OBJECTS: usize = 7;
}

/// Byte positions inside one object of the list.
mod object_field {
    /// The object id.
    pub const ID: usize = 0;
    /// The value's length.
    pub const LEN: usize = 1;
    /// The value's first byte.
    pub const VALUE: usize = 2;
}

/// Bytes of the response PDU before the first object.
pub(crate) const HEADER_LEN: usize = field::OBJECTS;
/// Bytes of one object besides its value: id and length.
pub(crate) const OBJECT_HEADER_LEN: usize = object_field::VALUE;

/// The two values of the more-follows field.
pub(crate) const MORE_FOLLOWS: u8 = 0xFF;
pub(crate) const NO_MORE_FOLLOWS: u8 = 0x00;

/// Appends the response header with an empty object list; returns where it
/// starts, for [`patch_header`] once the objects are written.
pub(crate) fn emit_header(
    out: &mut ResponseWriter<'_>,
    read_code: u8,
    conformity_level: u8,
) -> Result<usize, WriteError> {
    let at = out.len();
    let header = out.reserve(HEADER_LEN)?;
    header[field::FUNCTION] = u8::from(FunctionCode::EncapsulatedInterfaceTransport);
    header[field::MEI_TYPE] = MEI_READ_DEVICE_ID;
    header[field::READ_CODE] = read_code;
    header[field::CONFORMITY_LEVEL] = conformity_level;
    header[field::MORE_FOLLOWS] = NO_MORE_FOLLOWS;
    header[field::NEXT_OBJECT_ID] = 0;
    header[field::OBJECT_COUNT] = 0;
    Ok(at)
}

/// Appends one object; the caller keeps `value` within 255 bytes (and the
/// whole response within a PDU).
pub(crate) fn emit_object(
    out: &mut ResponseWriter<'_>,
    id: u8,
    value: &[u8],
) -> Result<(), WriteError> {
    let object = out.reserve(OBJECT_HEADER_LEN + value.len())?;
    object[object_field::ID] = id;
    object[object_field::LEN] = value.len() as u8;
    object[object_field::VALUE..].copy_from_slice(value);
    Ok(())
}

/// Fills in the paging fields and the object count of the header written at
/// `header_at` by [`emit_header`]: `next_object_id` is where the client
/// continues (`Some` sets more follows).
pub(crate) fn patch_header(
    out: &mut ResponseWriter<'_>,
    header_at: usize,
    next_object_id: Option<u8>,
    count: u8,
) -> Result<(), WriteError> {
    let (more, next) = match next_object_id {
        Some(id) => (MORE_FOLLOWS, id),
        None => (NO_MORE_FOLLOWS, 0),
    };
    // The three fields are adjacent, in this order.
    out.patch(header_at + field::MORE_FOLLOWS, &[more, next, count])
}

/// The object list of a read device identification response: `(id, value)`
/// pairs, as on the wire.
///
/// [`DeviceObjects::new`] checks the list once; accessors never panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceObjects<'a> {
    bytes: &'a [u8],
    count: u8,
}

impl<'a> DeviceObjects<'a> {
    /// A view over the first `count` objects in `bytes`, or `None` if
    /// `bytes` holds fewer. Bytes after the last object are not part of it.
    #[must_use]
    pub fn new(bytes: &'a [u8], count: u8) -> Option<Self> {
        let mut rest = bytes;
        for _ in 0..count {
            rest = split_object(rest)?.1;
        }
        let bytes = bytes.get(..bytes.len() - rest.len())?;
        Some(DeviceObjects { bytes, count })
    }

    /// The number of objects.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True if there are no objects.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The objects' bytes, as on the wire.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The objects as `(id, value)`, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Object<'a>> + 'a {
        let mut rest = self.bytes;
        core::iter::from_fn(move || {
            let (object, tail) = split_object(rest)?;
            rest = tail;
            Some(object)
        })
    }
}

/// One object: its id and its value.
type Object<'a> = (u8, &'a [u8]);

/// The first object of `bytes` and the bytes after it.
fn split_object(bytes: &[u8]) -> Option<(Object<'_>, &[u8])> {
    let id = *bytes.get(object_field::ID)?;
    let end = object_field::VALUE + usize::from(*bytes.get(object_field::LEN)?);
    let value = bytes.get(object_field::VALUE..end)?;
    Some(((id, value), bytes.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_walk_the_list_and_stop_at_count() {
        let bytes = [0x00, 0x02, b'A', b'B', 0x01, 0x00, 0x02, 0x01, b'x', 0xEE];
        let objects = DeviceObjects::new(&bytes, 3).unwrap();
        assert_eq!(objects.as_bytes(), &bytes[..9]);
        let mut iter = objects.iter();
        assert_eq!(iter.next(), Some((0x00, &b"AB"[..])));
        assert_eq!(iter.next(), Some((0x01, &b""[..])));
        assert_eq!(iter.next(), Some((0x02, &b"x"[..])));
        assert_eq!(iter.next(), None);
        // A length running past the end.
        assert!(DeviceObjects::new(&bytes[..3], 1).is_none());
        assert!(DeviceObjects::new(&bytes, 5).is_none());
    }

    #[test]
    fn header_is_patched_in_place() {
        let mut buf = [0xAA; 16];
        let mut out = ResponseWriter::new(&mut buf);
        out.push(0x55).unwrap();
        let at = emit_header(&mut out, 3, 0x83).unwrap();
        emit_object(&mut out, 0x80, b"ok").unwrap();
        patch_header(&mut out, at, Some(0x81), 1).unwrap();
        assert_eq!(
            out.written(),
            [0x55, 0x2B, 0x0E, 3, 0x83, 0xFF, 0x81, 1, 0x80, 2, b'o', b'k']
        );
    }
}
