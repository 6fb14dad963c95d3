//! The writer that response (and request) PDUs are emitted into, over a
//! caller-owned buffer, and the packing of bits.

use super::ExceptionCode;

/// The buffer given to a [`ResponseWriter`] is too small for what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WriteError {
    /// Bytes the write needed beyond what was left.
    pub required_size: usize,
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "response buffer too small by {} bytes",
            self.required_size
        )
    }
}

impl core::error::Error for WriteError {}

/// Appends bytes to a caller-owned buffer, refusing (not panicking) past its end.
#[derive(Debug)]
pub struct ResponseWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> ResponseWriter<'a> {
    /// Writes into `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        ResponseWriter { buf, len: 0 }
    }

    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes still free.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// The bytes written so far.
    #[must_use]
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets everything written (the buffer is reused from its start).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends one byte.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the buffer has no room left for them; nothing is
    /// written then.
    pub fn push(&mut self, byte: u8) -> Result<(), WriteError> {
        self.extend(&[byte])
    }

    /// Appends a big-endian `u16`.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the buffer has no room left for them; nothing is
    /// written then.
    pub fn push_u16(&mut self, word: u16) -> Result<(), WriteError> {
        self.extend(&word.to_be_bytes())
    }

    /// Appends `bytes`, all or nothing.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the buffer has no room left for them; nothing is
    /// written then.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
                Ok(())
            }
            None => Err(WriteError {
                required_size: end - self.buf.len(),
            }),
        }
    }

    /// Overwrites already written bytes from offset `at`.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the bytes would reach past what was written;
    /// nothing changes then.
    pub fn patch(&mut self, at: usize, bytes: &[u8]) -> Result<(), WriteError> {
        let end = at + bytes.len();
        match self.buf.get_mut(at..end) {
            Some(dst) if end <= self.len => {
                dst.copy_from_slice(bytes);
                Ok(())
            }
            _ => Err(WriteError {
                required_size: end.saturating_sub(self.len),
            }),
        }
    }

    /// Reserves `n` bytes and returns them for the caller to fill.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the buffer has fewer than `n` bytes left; nothing
    /// is reserved then.
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<&mut [u8], WriteError> {
        let start = self.len;
        let room = self.buf.len().saturating_sub(start);
        if n > room {
            return Err(WriteError {
                required_size: n - room,
            });
        }
        self.len = start + n;
        Ok(&mut self.buf[start..start + n])
    }
}

/// The function code bit that marks an exception response (Modbus
/// Application Protocol Specification V1.1b3, section 7).
pub(crate) const EXCEPTION_BIT: u8 = 0x80;

/// An exception response PDU (section 7): the request's function code with
/// [`EXCEPTION_BIT`] set (a set bit is kept as is), then the exception code.
pub(crate) fn exception_pdu(function: u8, code: ExceptionCode) -> [u8; 2] {
    [function | EXCEPTION_BIT, u8::from(code)]
}

/// Packs `bits` LSB first into `out[..bits.len().div_ceil(8)]`, zero-padding
/// the last byte, and returns the bytes used; `None` if `out` is too short.
pub fn pack_bits<'o>(bits: &[bool], out: &'o mut [u8]) -> Option<&'o mut [u8]> {
    let out = out.get_mut(..bits.len().div_ceil(8))?;
    for (byte, chunk) in out.iter_mut().zip(bits.chunks(8)) {
        *byte = chunk
            .iter()
            .enumerate()
            .fold(0u8, |acc, (i, &bit)| acc | (u8::from(bit) << i));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_spec_example() {
        // FC 0x01 example of the Modbus specification: coils 20..38 -> CD 6B 05.
        let bits = [
            true, false, true, true, false, false, true, true, // CD
            true, true, false, true, false, true, true, false, // 6B
            true, false, true, // 05
        ];
        let mut out = [0xFF; 4];
        assert_eq!(pack_bits(&bits, &mut out).unwrap(), &[0xCD, 0x6B, 0x05]);
        assert!(pack_bits(&bits, &mut [0; 2]).is_none());
    }

    #[test]
    fn writer_refuses_overflow_whole() {
        let mut buf = [0u8; 3];
        let mut w = ResponseWriter::new(&mut buf);
        w.push_u16(0x0102).unwrap();
        assert_eq!(w.extend(&[1, 2]), Err(WriteError { required_size: 1 }));
        assert_eq!(w.written(), &[1, 2]);
        assert!(w.reserve(2).is_err());
        w.push(3).unwrap();
        assert_eq!(w.remaining(), 0);
    }

    #[test]
    fn reserve_says_how_much_is_missing_and_never_overflows() {
        let mut buf = [0u8; 4];
        let mut w = ResponseWriter::new(&mut buf);
        assert_eq!(w.reserve(3).map(|r| r.len()), Ok(3));
        assert_eq!(w.reserve(2), Err(WriteError { required_size: 1 }));
        assert_eq!(
            w.reserve(usize::MAX),
            Err(WriteError {
                required_size: usize::MAX - 1
            })
        );
        assert_eq!(w.reserve(1).map(|r| r.len()), Ok(1));
        assert_eq!(w.written().len(), 4);
    }
}
