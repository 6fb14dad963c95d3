//! CRC-16 of Modbus RTU frames (polynomial 0xA001 reflected, initial value
//! 0xFFFF, low byte sent first): "Modbus over Serial Line V1.02",
//! appendix B.
//!
//! Computed four bits at a time from a 16-entry table (32 bytes of flash):
//! the specification's two 256-byte tables would cost half a kilobyte of
//! firmware for a speed no frame of at most 256 bytes needs.

/// The CRC of one nibble (0..16) shifted through the register: entry `n` is
/// `n` shifted right four times with the polynomial applied.
const NIBBLE: [u16; 16] = nibble_table();

const fn nibble_table() -> [u16; 16] {
    let mut table = [0u16; 16];
    let mut n = 0;
    while n < 16 {
        let mut crc = n as u16;
        let mut bit = 0;
        while bit < 4 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[n] = crc;
        n += 1;
    }
    table
}

/// The CRC-16 of `bytes`, as a number: its low byte goes first on the wire
/// ([`u16::to_le_bytes`]).
#[must_use]
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in bytes {
        crc ^= u16::from(byte);
        crc = (crc >> 4) ^ NIBBLE[usize::from(crc & 0xF)];
        crc = (crc >> 4) ^ NIBBLE[usize::from(crc & 0xF)];
    }
    crc
}

/// Whether `frame` (address, PDU, then the two CRC bytes) ends with the
/// CRC of what comes before. False for frames shorter than 3 bytes.
#[must_use]
pub fn crc_matches(frame: &[u8]) -> bool {
    match frame
        .len()
        .checked_sub(2)
        .and_then(|n| frame.split_at_checked(n))
    {
        Some((body, crc)) if !body.is_empty() => crc16(body).to_le_bytes() == crc,
        _ => false,
    }
}
