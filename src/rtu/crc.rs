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
    bytes.iter().fold(INITIAL, |crc, &byte| update(crc, byte))
}

/// The register before any byte.
const INITIAL: u16 = 0xFFFF;

/// `crc` with one more byte shifted through.
#[inline]
fn update(crc: u16, byte: u8) -> u16 {
    let crc = crc ^ u16::from(byte);
    let crc = (crc >> 4) ^ NIBBLE[usize::from(crc & 0xF)];
    (crc >> 4) ^ NIBBLE[usize::from(crc & 0xF)]
}

/// The length of the shortest frame at the start of `data`, at least
/// `min` bytes long, that ends with the CRC of what comes before it
/// ([`crc_matches`] of `data[..n]`); `None` if no prefix does. One pass
/// over `data`: the CRC of each prefix extends the previous one, so a
/// frame whose length only its CRC tells costs linear, not quadratic, time.
pub(crate) fn first_crc_match(data: &[u8], min: usize) -> Option<usize> {
    let mut crc = INITIAL;
    for (body_len, &byte) in data.iter().enumerate() {
        // `crc` is the CRC of `data[..body_len]` here.
        let len = body_len + 2;
        if body_len > 0 && len >= min {
            match data.get(body_len..len) {
                Some(sent) if crc.to_le_bytes() == sent => return Some(len),
                Some(_) => {}
                None => return None,
            }
        }
        crc = update(crc, byte);
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_crc_match_is_the_shortest_prefix_crc_matches_finds() {
        // 02 07 and its CRC 0x1241 (low byte first), then noise.
        let mut data = std::vec![0x02, 0x07, 0x41, 0x12, 0xAA, 0xBB];
        assert_eq!(crc16(&[0x02, 0x07]), 0x1241);
        assert_eq!(first_crc_match(&data, 4), Some(4));
        assert_eq!(first_crc_match(&data, 5), None);
        // Every prefix of arbitrary bytes: the one pass agrees with checking
        // each prefix on its own.
        data = (0u16..300)
            .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
            .collect();
        for start in 0..40 {
            let tail = &data[start..];
            for min in [3, 4, 9] {
                let slow = (min..=tail.len()).find(|&n| crc_matches(&tail[..n]));
                assert_eq!(first_crc_match(tail, min), slow, "start {start} min {min}");
            }
        }
        // A frame built with its CRC is found.
        let mut frame = std::vec![0x11, 0x42, 1, 2, 3];
        frame.extend_from_slice(&crc16(&frame).to_le_bytes());
        frame.extend_from_slice(&[9, 9, 9]);
        assert_eq!(first_crc_match(&frame, 4), Some(7));
    }
}
