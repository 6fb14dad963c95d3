//! Checked views over the packed values inside request and response PDUs.

use super::REGISTER_LEN;

/// `quantity` bits packed LSB first in `bytes`, as coils travel on the wire.
///
/// The parsers guarantee `bytes.len() * 8 >= quantity`; accessors never
/// panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bits<'a> {
    bytes: &'a [u8],
    quantity: usize,
}

impl<'a> Bits<'a> {
    /// A view over the first `quantity` bits of `bytes`, or `None` if
    /// `bytes` holds fewer bits.
    #[must_use]
    pub fn new(bytes: &'a [u8], quantity: usize) -> Option<Self> {
        (bytes.len().checked_mul(8)? >= quantity).then_some(Bits { bytes, quantity })
    }

    /// The number of bits.
    #[must_use]
    pub fn len(&self) -> usize {
        self.quantity
    }

    /// The packed bytes, as on the wire (the last may hold unused bits).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True if there are no bits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.quantity == 0
    }

    /// Bit `index`, or `None` past the end.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<bool> {
        if index >= self.quantity {
            return None;
        }
        self.bytes
            .get(index / 8)
            .map(|byte| byte >> (index % 8) & 1 == 1)
    }

    /// The bits in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = bool> + 'a {
        let bytes = self.bytes;
        (0..self.quantity).map(move |i| bytes.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1))
    }

    /// Unpacks into `out[..len()]`; `None` if `out` is shorter.
    pub fn unpack_into<'o>(&self, out: &'o mut [bool]) -> Option<&'o mut [bool]> {
        let out = out.get_mut(..self.quantity)?;
        for (slot, bit) in out.iter_mut().zip(self.iter()) {
            *slot = bit;
        }
        Some(out)
    }
}

/// Big-endian 16-bit registers, as they travel on the wire.
///
/// The parsers guarantee an even length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words<'a> {
    bytes: &'a [u8],
}

impl<'a> Words<'a> {
    /// A view over `bytes` as registers, or `None` if the length is odd.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() % REGISTER_LEN == 0).then_some(Words { bytes })
    }

    /// The number of registers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len() / REGISTER_LEN
    }

    /// The registers' bytes, big-endian, as on the wire.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True if there are no registers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Register `index`, or `None` past the end.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<u16> {
        super::be_u16(self.bytes, index.checked_mul(REGISTER_LEN)?)
    }

    /// The registers in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u16> + 'a {
        self.bytes
            .chunks_exact(REGISTER_LEN)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
    }

    /// Decodes into `out[..len()]`; `None` if `out` is shorter.
    pub fn decode_into<'o>(&self, out: &'o mut [u16]) -> Option<&'o mut [u16]> {
        let out = out.get_mut(..self.len())?;
        for (slot, word) in out.iter_mut().zip(self.iter()) {
            *slot = word;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_lsb_first() {
        // Spec example for FC 0x0F: 10 coils, CD 01 -> 1011 0011 1 0.
        let bits = Bits::new(&[0xCD, 0x01], 10).unwrap();
        let mut out = [false; 10];
        bits.unpack_into(&mut out).unwrap();
        assert_eq!(
            out,
            [true, false, true, true, false, false, true, true, true, false]
        );
        assert_eq!(bits.get(10), None);
        assert!(Bits::new(&[0xFF], 9).is_none());
    }

    #[test]
    fn words_big_endian() {
        let words = Words::new(&[0x00, 0x0A, 0x01, 0x02]).unwrap();
        assert_eq!(
            words.iter().collect::<heapless::Vec<u16, 4>>(),
            [0x000A, 0x0102]
        );
        assert_eq!(words.get(2), None);
        assert!(Words::new(&[1, 2, 3]).is_none());
    }
}
