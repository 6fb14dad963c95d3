//! pyModbusTCP's `DeviceIdentification` and its encoding for function
//! 0x2B / MEI type 0x0E (read device identification, Modbus Application
//! Protocol Specification V1.1b3, section 6.21), with paging. The byte
//! layout itself lives in `wire::mei`.

use crate::wire::mei::{self, OBJECT_HEADER_LEN};
use crate::wire::{ExceptionCode, ResponseWriter, MAX_PDU_LEN};

/// Object ids of the named objects.
pub mod object_id {
    /// Vendor name (basic, mandatory).
    pub const VENDOR_NAME: u8 = 0x00;
    /// Product code (basic, mandatory).
    pub const PRODUCT_CODE: u8 = 0x01;
    /// Major/minor revision (basic, mandatory).
    pub const MAJOR_MINOR_REVISION: u8 = 0x02;
    /// Vendor URL (regular).
    pub const VENDOR_URL: u8 = 0x03;
    /// Product name (regular).
    pub const PRODUCT_NAME: u8 = 0x04;
    /// Model name (regular).
    pub const MODEL_NAME: u8 = 0x05;
    /// User application name (regular).
    pub const USER_APPLICATION_NAME: u8 = 0x06;
    /// First user-defined (extended) object.
    pub const FIRST_EXTENDED: u8 = 0x80;
}

use object_id::*;

/// The longest object value that fits in one response with its id and length.
pub const MAX_OBJECT_LEN: usize = MAX_PDU_LEN - mei::HEADER_LEN - OBJECT_HEADER_LEN;

/// Read device id codes (section 6.21, table "Read Device ID code").
mod read_code {
    /// A stream of the basic objects.
    pub const BASIC: u8 = 0x01;
    /// A stream of the basic and regular objects.
    pub const REGULAR: u8 = 0x02;
    /// A stream of all objects.
    pub const EXTENDED: u8 = 0x03;
    /// One specific object.
    pub const SPECIFIC: u8 = 0x04;
}

/// Conformity levels (section 6.21): the highest category, plus
/// [`INDIVIDUAL_ACCESS`](conformity::INDIVIDUAL_ACCESS) since code 4 is served.
mod conformity {
    /// Basic objects only.
    pub const BASIC: u8 = 0x01;
    /// Regular objects.
    pub const REGULAR: u8 = 0x02;
    /// Extended objects.
    pub const EXTENDED: u8 = 0x03;
    /// Objects can also be read one at a time.
    pub const INDIVIDUAL_ACCESS: u8 = 0x80;
}

/// Object values without a heap: total bytes of all values.
#[cfg(not(feature = "alloc"))]
pub const CAPACITY_BYTES: usize = 512;
/// Objects without a heap: how many objects (the three basic ones included).
#[cfg(not(feature = "alloc"))]
pub const CAPACITY_OBJECTS: usize = 24;

#[cfg(feature = "alloc")]
type Bytes = alloc::vec::Vec<u8>;
#[cfg(not(feature = "alloc"))]
type Bytes = heapless::Vec<u8, CAPACITY_BYTES>;
#[cfg(feature = "alloc")]
type Entries = alloc::vec::Vec<Entry>;
#[cfg(not(feature = "alloc"))]
type Entries = heapless::Vec<Entry, CAPACITY_OBJECTS>;

/// Why an object cannot be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DeviceIdError {
    /// Ids 0x07..=0x7F are reserved by the Modbus specification.
    ReservedId {
        /// The id given.
        id: u8,
    },
    /// The value can never fit in one response (more than 244 bytes); a
    /// server would page forever.
    TooLong {
        /// The id given.
        id: u8,
        /// The value's length.
        len: usize,
    },
    /// No room left (without a heap: 512 bytes of values, 24 objects).
    Full {
        /// The id given.
        id: u8,
    },
}

impl core::fmt::Display for DeviceIdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeviceIdError::ReservedId { id } => write!(
                f,
                "object id 0x{id:02X} is reserved: use 0x00..=0x06 or 0x80..=0xFF"
            ),
            DeviceIdError::TooLong { id, len } => write!(
                f,
                "object 0x{id:02X} is {len} bytes, more than the {MAX_OBJECT_LEN} that fit in one response"
            ),
            DeviceIdError::Full { id } => write!(f, "no room left for object 0x{id:02X}"),
        }
    }
}

impl core::error::Error for DeviceIdError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: u8,
    start: u16,
    len: u8,
}

/// Device identification objects (pyModbusTCP's `DeviceIdentification`),
/// served by function 0x2B / 0x0E.
///
/// The three basic objects (vendor name, product code, major/minor revision)
/// always exist, empty until set. Values are byte strings of at most
/// [`MAX_OBJECT_LEN`] bytes; a longer one is refused when it is set, not
/// sent as an endless series of empty pages.
///
/// ```
/// use modbus_device::DeviceIdentification;
///
/// let mut id = DeviceIdentification::new();
/// id.set_vendor_name(b"My Company")?;
/// id.set_product_code(b"MC-001")?;
/// id.set(0x80, b"extra object")?;
/// assert_eq!(id.vendor_name(), b"My Company");
/// assert_eq!(id.get(0x80), Some(&b"extra object"[..]));
/// assert!(id.set(0x10, b"reserved").is_err());
/// # Ok::<(), modbus_device::DeviceIdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "device_id")]
pub struct DeviceIdentification {
    bytes: Bytes,
    /// Sorted by id; always holds the three basic objects.
    entries: Entries,
}

impl Default for DeviceIdentification {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! named_object {
    ($(#[$doc:meta])* $get:ident, $set:ident, $id:expr) => {
        $(#[$doc])*
        pub fn $get(&self) -> &[u8] {
            self.get($id).unwrap_or(&[])
        }

        $(#[$doc])*
        ///
        /// Setting it.
        ///
        /// # Errors
        ///
        /// As [`set`](Self::set).
        pub fn $set(&mut self, value: &[u8]) -> Result<(), DeviceIdError> {
            self.set($id, value)
        }
    };
}

impl DeviceIdentification {
    /// The three basic objects, empty.
    #[must_use]
    pub fn new() -> Self {
        let mut entries = Entries::new();
        for id in [VENDOR_NAME, PRODUCT_CODE, MAJOR_MINOR_REVISION] {
            // Capacity is at least 3: cannot fail.
            #[allow(clippy::let_unit_value)]
            let _ = entries.push(Entry {
                id,
                start: 0,
                len: 0,
            });
        }
        DeviceIdentification {
            bytes: Bytes::new(),
            entries,
        }
    }

    /// Builds from `(id, value)` pairs (pyModbusTCP's constructor and its
    /// `objects_id` dictionary).
    ///
    /// # Errors
    ///
    /// The first error of [`set`](Self::set), nothing being built then.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = (u8, &'a [u8])>,
    ) -> Result<Self, DeviceIdError> {
        let mut id = Self::new();
        for (object, value) in objects {
            id.set(object, value)?;
        }
        Ok(id)
    }

    named_object!(/// Object 0x00, vendor name.
        vendor_name, set_vendor_name, VENDOR_NAME);
    named_object!(/// Object 0x01, product code.
        product_code, set_product_code, PRODUCT_CODE);
    named_object!(/// Object 0x02, major/minor revision.
        major_minor_revision, set_major_minor_revision, MAJOR_MINOR_REVISION);
    named_object!(/// Object 0x03, vendor URL.
        vendor_url, set_vendor_url, VENDOR_URL);
    named_object!(/// Object 0x04, product name.
        product_name, set_product_name, PRODUCT_NAME);
    named_object!(/// Object 0x05, model name.
        model_name, set_model_name, MODEL_NAME);
    named_object!(/// Object 0x06, user application name.
        user_application_name, set_user_application_name, USER_APPLICATION_NAME);

    /// The value of object `id`, if set (pyModbusTCP's `__getitem__`).
    #[doc(alias = "__getitem__")]
    #[must_use]
    pub fn get(&self, id: u8) -> Option<&[u8]> {
        let entry = self.entries.iter().find(|e| e.id == id)?;
        let start = usize::from(entry.start);
        self.bytes.get(start..start + usize::from(entry.len))
    }

    /// Sets object `id` (pyModbusTCP's `__setitem__`): 0x00..=0x06 named,
    /// 0x80..=0xFF user-defined; at most [`MAX_OBJECT_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// On error nothing changes: [`DeviceIdError::ReservedId`] for ids
    /// 0x07..=0x7F, [`DeviceIdError::TooLong`] for a value over
    /// [`MAX_OBJECT_LEN`], [`DeviceIdError::Full`] when the storage is
    /// full (only without a heap).
    #[doc(alias = "__setitem__")]
    #[doc(alias = "objects_id")]
    pub fn set(&mut self, id: u8, value: &[u8]) -> Result<(), DeviceIdError> {
        if (USER_APPLICATION_NAME + 1..FIRST_EXTENDED).contains(&id) {
            return Err(DeviceIdError::ReservedId { id });
        }
        if value.len() > MAX_OBJECT_LEN {
            return Err(DeviceIdError::TooLong {
                id,
                len: value.len(),
            });
        }
        let position = self.entries.binary_search_by_key(&id, |e| e.id);
        let freed = position.map_or(0, |i| usize::from(self.entries[i].len));
        let new_len = self.bytes.len() - freed + value.len();
        if new_len > u16::MAX as usize || self.bytes_capacity_left(new_len).is_none() {
            return Err(DeviceIdError::Full { id });
        }
        if position.is_err() && self.entries_full() {
            return Err(DeviceIdError::Full { id });
        }
        if let Ok(i) = position {
            self.cut(i);
        }
        let start = self.bytes.len() as u16; // new_len fits u16: checked above
        extend(&mut self.bytes, value).ok_or(DeviceIdError::Full { id })?;
        let entry = Entry {
            id,
            start,
            len: value.len() as u8, // <= 244: checked above
        };
        match position {
            Ok(i) => self.entries[i] = entry,
            Err(i) => insert(&mut self.entries, i, entry).ok_or(DeviceIdError::Full { id })?,
        }
        Ok(())
    }

    /// Removes object `id`; a basic object (0x00..=0x02) becomes empty instead.
    pub fn remove(&mut self, id: u8) {
        if let Ok(i) = self.entries.binary_search_by_key(&id, |e| e.id) {
            self.cut(i);
            if id > MAJOR_MINOR_REVISION {
                self.entries.remove(i);
            }
        }
    }

    /// Every object as `(id, value)`, by increasing id (pyModbusTCP's `items()`).
    #[doc(alias = "items")]
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.entries.iter().map(|e| {
            let start = usize::from(e.start);
            (
                e.id,
                self.bytes
                    .get(start..start + usize::from(e.len))
                    .unwrap_or(&[]),
            )
        })
    }

    /// The conformity level: the highest category configured (0x01 basic,
    /// 0x02 regular, 0x03 extended), with bit 0x80 (individual access).
    #[must_use]
    pub fn conformity_level(&self) -> u8 {
        let highest = self.entries.last().map_or(0, |e| e.id);
        let category = if highest >= FIRST_EXTENDED {
            conformity::EXTENDED
        } else if highest > MAJOR_MINOR_REVISION {
            conformity::REGULAR
        } else {
            conformity::BASIC
        };
        conformity::INDIVIDUAL_ACCESS | category
    }

    /// Removes entry `i`'s bytes from the arena, keeping the entry (empty).
    fn cut(&mut self, i: usize) {
        let Entry { start, len, .. } = self.entries[i];
        let (start, len) = (usize::from(start), usize::from(len));
        if len > 0 {
            self.bytes.copy_within(start + len.., start);
            self.bytes.truncate(self.bytes.len() - len);
            for e in self.entries.iter_mut() {
                if usize::from(e.start) > start {
                    e.start -= len as u16;
                }
            }
        }
        self.entries[i].len = 0;
        self.entries[i].start = 0;
    }

    #[cfg(feature = "alloc")]
    fn bytes_capacity_left(&self, _new_len: usize) -> Option<()> {
        Some(())
    }

    #[cfg(not(feature = "alloc"))]
    fn bytes_capacity_left(&self, new_len: usize) -> Option<()> {
        (new_len <= CAPACITY_BYTES).then_some(())
    }

    #[cfg(feature = "alloc")]
    fn entries_full(&self) -> bool {
        false
    }

    #[cfg(not(feature = "alloc"))]
    fn entries_full(&self) -> bool {
        self.entries.is_full()
    }

    /// Encodes the response PDU to a read device identification request
    /// (`read_code` 1..=4, already checked by the parser) into `out`.
    ///
    /// Streams (codes 1..=3) start at `object_id`, or at 0x00 when that object
    /// does not exist in the stream; objects that do not fit within 253
    /// bytes are announced with more-follows 0xFF and their id.
    ///
    /// # Errors
    ///
    /// Code 4 on a missing object is [`ExceptionCode::IllegalDataAddress`];
    /// a code outside 1..=4 is [`ExceptionCode::IllegalDataValue`]; `out`
    /// too small is [`ExceptionCode::ServerDeviceFailure`].
    pub fn encode_response(
        &self,
        read_code: u8,
        object_id: u8,
        out: &mut ResponseWriter<'_>,
    ) -> Result<(), ExceptionCode> {
        let fail = |_| ExceptionCode::ServerDeviceFailure;
        let last_in_stream = match read_code {
            read_code::BASIC => MAJOR_MINOR_REVISION,
            read_code::REGULAR => FIRST_EXTENDED - 1,
            read_code::EXTENDED => u8::MAX,
            read_code::SPECIFIC => object_id,
            _ => return Err(ExceptionCode::IllegalDataValue),
        };
        let exists = self.entries.iter().any(|e| e.id == object_id);
        if read_code == read_code::SPECIFIC && !exists {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let first = if exists && object_id <= last_in_stream {
            object_id
        } else {
            0
        };

        let header_at = mei::emit_header(out, read_code, self.conformity_level()).map_err(fail)?;
        let budget_end = header_at + MAX_PDU_LEN;
        let (mut count, mut next) = (0u8, None);
        for (id, value) in self
            .iter()
            .filter(|(id, _)| (first..=last_in_stream).contains(id))
        {
            if out.len() + OBJECT_HEADER_LEN + value.len() > budget_end {
                next = Some(id);
                break;
            }
            mei::emit_object(out, id, value).map_err(fail)?;
            count += 1;
        }
        mei::patch_header(out, header_at, next, count).map_err(fail)
    }
}

#[cfg(feature = "alloc")]
fn extend(bytes: &mut Bytes, value: &[u8]) -> Option<()> {
    bytes.extend_from_slice(value);
    Some(())
}

#[cfg(not(feature = "alloc"))]
fn extend(bytes: &mut Bytes, value: &[u8]) -> Option<()> {
    bytes.extend_from_slice(value).ok()
}

#[cfg(feature = "alloc")]
fn insert(entries: &mut Entries, at: usize, entry: Entry) -> Option<()> {
    entries.insert(at, entry);
    Some(())
}

#[cfg(not(feature = "alloc"))]
fn insert(entries: &mut Entries, at: usize, entry: Entry) -> Option<()> {
    entries.insert(at, entry).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Response;

    fn encode(
        id: &DeviceIdentification,
        code: u8,
        object: u8,
    ) -> Result<heapless::Vec<u8, 260>, ExceptionCode> {
        let mut buf = [0u8; 260];
        let mut w = ResponseWriter::new(&mut buf);
        id.encode_response(code, object, &mut w)?;
        Ok(heapless::Vec::from_slice(w.written()).unwrap())
    }

    /// The paging field and the object ids of a response, parsed by `wire`.
    fn page(pdu: &[u8]) -> (Option<u8>, heapless::Vec<u8, 64>) {
        match Response::parse(pdu) {
            Ok(Response::ReadDeviceIdentification {
                next_object_id,
                objects,
                ..
            }) => (next_object_id, objects.iter().map(|(id, _)| id).collect()),
            other => panic!("not a device identification response: {other:?}"),
        }
    }

    fn sample() -> DeviceIdentification {
        DeviceIdentification::from_objects([
            (0x00, &b"Seed"[..]),
            (0x01, b"MS-1"),
            (0x02, b"1.0"),
            (0x04, b"modbus-device"),
            (0x80, b"extra"),
        ])
        .unwrap()
    }

    #[test]
    fn basic_stream() {
        let r = encode(&sample(), 1, 0).unwrap();
        assert_eq!(
            &r[..],
            b"\x2B\x0E\x01\x83\x00\x00\x03\x00\x04Seed\x01\x04MS-1\x02\x031.0"
        );
    }

    #[test]
    fn regular_and_extended_streams_include_lower_categories() {
        let r = encode(&sample(), 2, 0).unwrap();
        let (more, ids) = page(&r);
        assert_eq!(more, None);
        assert_eq!(ids, [0x00, 0x01, 0x02, 0x04], "0x00..=0x02 and 0x04");
        let r = encode(&sample(), 3, 0).unwrap();
        assert_eq!(page(&r).1.len(), 5);
        assert!(r.ends_with(b"\x80\x05extra"));
    }

    #[test]
    fn missing_start_restarts_at_zero() {
        let r = encode(&sample(), 3, 0x05).unwrap();
        assert_eq!(page(&r).1, [0x00, 0x01, 0x02, 0x04, 0x80]);
        // Starting at an existing object skips the ones before.
        let r = encode(&sample(), 3, 0x04).unwrap();
        assert_eq!(page(&r).1, [0x04, 0x80]);
    }

    #[test]
    fn individual_access() {
        let r = encode(&sample(), 4, 0x80).unwrap();
        assert_eq!(&r[..], b"\x2B\x0E\x04\x83\x00\x00\x01\x80\x05extra");
        assert_eq!(
            encode(&sample(), 4, 0x81),
            Err(ExceptionCode::IllegalDataAddress)
        );
        // Basic objects always exist, possibly empty.
        let r = encode(&DeviceIdentification::new(), 4, 0x01).unwrap();
        assert_eq!(&r[..], b"\x2B\x0E\x04\x81\x00\x00\x01\x01\x00");
    }

    #[test]
    fn paging_stays_within_253_bytes() {
        let mut id = DeviceIdentification::new();
        let big = [b'x'; 200];
        #[cfg(feature = "alloc")]
        for object in 0x80..=0x84u8 {
            id.set(object, &big).unwrap();
        }
        #[cfg(not(feature = "alloc"))]
        id.set(0x80, &big).unwrap();
        id.set(0x00, &big[..100]).unwrap();
        id.set(0x01, &big[..100]).unwrap();
        let mut next = 0;
        let mut seen = 0;
        for _ in 0..10 {
            let r = encode(&id, 3, next).unwrap();
            assert!(r.len() <= 253);
            let (more, objects) = page(&r);
            seen += objects.len();
            match more {
                Some(id) => next = id,
                None => break,
            }
        }
        assert_eq!(seen, id.iter().count());
    }

    #[test]
    fn refuses_objects_that_can_never_fit() {
        let mut id = DeviceIdentification::new();
        assert_eq!(
            id.set(0x80, &[0; 245]),
            Err(DeviceIdError::TooLong { id: 0x80, len: 245 })
        );
        id.set(0x80, &[7; 244]).unwrap();
        let r = encode(&id, 4, 0x80).unwrap();
        assert_eq!(r.len(), 253);
        assert_eq!(
            id.set(0x7F, b"x"),
            Err(DeviceIdError::ReservedId { id: 0x7F })
        );
    }

    #[test]
    fn replace_and_remove_keep_other_values() {
        let mut id = sample();
        id.set(0x00, b"A much longer vendor name").unwrap();
        id.set(0x01, b"").unwrap();
        id.remove(0x04);
        id.remove(0x02);
        assert_eq!(id.vendor_name(), b"A much longer vendor name");
        assert_eq!(id.product_code(), b"");
        assert_eq!(id.major_minor_revision(), b"");
        assert_eq!(id.get(0x04), None);
        assert_eq!(id.get(0x80), Some(&b"extra"[..]));
        assert_eq!(id.conformity_level(), 0x83);
        id.remove(0x80);
        assert_eq!(id.conformity_level(), 0x81);
    }
}
