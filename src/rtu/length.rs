//! The length of a request frame from its first bytes, for RTU frames on a
//! byte stream (RTU over TCP), where no silent interval marks their end.
//! Every standard request's length follows from its function code and, for
//! the variable ones, a byte count (the request layouts of the "MODBUS
//! Application Protocol V1.1b3", section 6).

/// What the first bytes of a request frame say about its length (address,
/// PDU and CRC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestLen {
    /// The frame is this long.
    Known(usize),
    /// At least this many bytes are needed to know.
    Need(usize),
    /// The function code does not say (a user function): the frame is
    /// found by its CRC.
    Unknown,
}

/// The length of the request frame starting at `frame[0]` (its address).
pub(crate) fn request_len(frame: &[u8]) -> RequestLen {
    use RequestLen::{Known, Need, Unknown};
    // Address + function + fixed fields + CRC; for a byte count at
    // `count_at`, the frame is `fixed` plus that many bytes.
    let counted = |count_at: usize, fixed: usize| match frame.get(count_at) {
        Some(&count) => Known(fixed + usize::from(count)),
        None => Need(count_at + 1),
    };
    let Some(&function) = frame.get(1) else {
        return Need(2);
    };
    match function {
        // Read bits/registers, write single coil/register, diagnostics
        // (a sub-function and one data word).
        0x01..=0x06 | 0x08 => Known(8),
        // Read exception status, get comm event counter/log, report server id.
        0x07 | 0x0B | 0x0C | 0x11 => Known(4),
        // Write multiple coils/registers: address, quantity, byte count.
        0x0F | 0x10 => counted(6, 9),
        // Read/write file record: byte count.
        0x14 | 0x15 => counted(2, 5),
        0x16 => Known(10),
        // Read/write multiple registers: byte count after 4 words.
        0x17 => counted(10, 13),
        0x18 => Known(6),
        // Encapsulated interface: read device identification (MEI 14).
        0x2B => match frame.get(2) {
            Some(0x0E) => Known(7),
            Some(_) => Unknown,
            None => Need(3),
        },
        _ => Unknown,
    }
}
