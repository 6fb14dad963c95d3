//! The few Modbus TCP frames the benchmark sends, what each server must
//! answer, and the table contents every server starts with.
//!
//! All servers are seeded with the same deterministic pattern, so a read can
//! be checked value by value without asking the server first. Reads use the
//! "read region", which nobody writes; writes go to a region of their own per
//! connection, so connections never disturb each other's expectations.

/// MBAP header length: transaction id, protocol id, length, unit id.
pub const MBAP_LEN: usize = 7;
/// Offset of the MBAP length field (counts the unit id and the PDU).
const LENGTH_FIELD: usize = 4;
/// The unit id every request carries.
pub const UNIT: u8 = 1;
/// Largest Modbus TCP ADU: a larger length field is a framing error.
pub const MAX_ADU: usize = 260;

/// Function codes used here.
pub const FC_READ_COILS: u8 = 0x01;
pub const FC_READ_HOLDING: u8 = 0x03;
pub const FC_WRITE_MULTIPLE: u8 = 0x10;

/// Registers per read or write request (the brief's "x10").
pub const REGS_PER_REQUEST: u16 = 10;
/// Coils per read-coils request: not a multiple of 8, so padding is checked.
pub const COILS_PER_REQUEST: u16 = 20;
/// Reads start anywhere in `0..READ_REGION` (plus the request size).
pub const READ_REGION: u16 = 1000;
/// Connection `c` writes registers `WRITE_BASE + c * REGS_PER_REQUEST ..`.
pub const WRITE_BASE: u16 = 10_000;
/// Most connections whose write regions fit below 65536.
pub const MAX_CONNECTIONS: usize = ((u16::MAX - WRITE_BASE) / REGS_PER_REQUEST) as usize;

/// Initial value of holding register `addr` on every server.
pub fn seed_register(addr: u16) -> u16 {
    addr.wrapping_mul(31).wrapping_add(7)
}

/// Initial value of coil `addr` on every server.
pub fn seed_coil(addr: u16) -> bool {
    addr.is_multiple_of(3)
}

/// What one request asks for; enough to build it and to predict its answer.
#[derive(Clone, Copy, Debug)]
pub enum Request {
    /// FC 3 over the read region: the answer is the seed pattern.
    ReadSeeded { addr: u16 },
    /// FC 1 over the read region: the answer is the seed pattern.
    ReadCoils { addr: u16 },
    /// FC 16 of `values` at `addr`.
    Write {
        addr: u16,
        values: [u16; REGS_PER_REQUEST as usize],
    },
    /// FC 3 at `addr` expecting `values` (the previous write's read-back).
    ReadBack {
        addr: u16,
        values: [u16; REGS_PER_REQUEST as usize],
    },
}

/// The expected response PDU (function code onwards), kept inline: at most
/// 2 + 2 * REGS_PER_REQUEST bytes, so no allocation per request.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pdu: [u8; 32],
    len: u8,
}

impl Expected {
    pub fn pdu(&self) -> &[u8] {
        &self.pdu[..usize::from(self.len)]
    }

    fn push(&mut self, bytes: &[u8]) {
        let at = usize::from(self.len);
        self.pdu[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }
}

impl Request {
    /// Appends the request ADU with transaction id `tid` to `out`.
    pub fn encode(&self, tid: u16, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&tid.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, UNIT]); // protocol id, length (below), unit
        match *self {
            Request::ReadSeeded { addr } | Request::ReadBack { addr, .. } => {
                out.push(FC_READ_HOLDING);
                out.extend_from_slice(&addr.to_be_bytes());
                out.extend_from_slice(&REGS_PER_REQUEST.to_be_bytes());
            }
            Request::ReadCoils { addr } => {
                out.push(FC_READ_COILS);
                out.extend_from_slice(&addr.to_be_bytes());
                out.extend_from_slice(&COILS_PER_REQUEST.to_be_bytes());
            }
            Request::Write { addr, values } => {
                out.push(FC_WRITE_MULTIPLE);
                out.extend_from_slice(&addr.to_be_bytes());
                out.extend_from_slice(&REGS_PER_REQUEST.to_be_bytes());
                out.push((REGS_PER_REQUEST * 2) as u8);
                for v in values {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
        let length = (out.len() - start - 6) as u16;
        out[start + LENGTH_FIELD..start + LENGTH_FIELD + 2].copy_from_slice(&length.to_be_bytes());
    }

    /// The response PDU a correct server sends back.
    pub fn expected(&self) -> Expected {
        let mut e = Expected {
            pdu: [0; 32],
            len: 0,
        };
        match *self {
            Request::ReadSeeded { addr } => {
                e.push(&[FC_READ_HOLDING, (REGS_PER_REQUEST * 2) as u8]);
                for i in 0..REGS_PER_REQUEST {
                    e.push(&seed_register(addr + i).to_be_bytes());
                }
            }
            Request::ReadBack { values, .. } => {
                e.push(&[FC_READ_HOLDING, (REGS_PER_REQUEST * 2) as u8]);
                for v in values {
                    e.push(&v.to_be_bytes());
                }
            }
            Request::ReadCoils { addr } => {
                let bytes = coil_bytes(addr, COILS_PER_REQUEST);
                e.push(&[FC_READ_COILS, bytes.len() as u8]);
                e.push(&bytes);
            }
            Request::Write { addr, .. } => {
                e.push(&[FC_WRITE_MULTIPLE]);
                e.push(&addr.to_be_bytes());
                e.push(&REGS_PER_REQUEST.to_be_bytes());
            }
        }
        e
    }
}

/// Packs the seeded coils `addr..addr + count`, LSB first, padding zero.
pub fn coil_bytes(addr: u16, count: u16) -> Vec<u8> {
    let mut out = vec![0u8; usize::from(count).div_ceil(8)];
    for i in 0..count {
        if seed_coil(addr + i) {
            out[usize::from(i / 8)] |= 1 << (i % 8);
        }
    }
    out
}

/// Length of the complete ADU at the start of `buf`: `Ok(None)` if more bytes
/// are needed, `Err` if the length field cannot be a Modbus TCP frame.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < MBAP_LEN {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([
        buf[LENGTH_FIELD],
        buf[LENGTH_FIELD + 1],
    ]));
    let total = 6 + length;
    if length < 2 || total > MAX_ADU {
        return Err(format!("MBAP length field {length} out of range"));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// Transaction id of a frame of at least `MBAP_LEN` bytes.
pub fn transaction_id(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[0], frame[1]])
}

/// Checks one complete response ADU against what was expected: protocol id,
/// length, unit id, function code, byte count and every value byte.
pub fn check_response(frame: &[u8], expected: &Expected) -> Result<(), String> {
    let pdu = &frame[MBAP_LEN..];
    if frame[2..4] != [0, 0] {
        return Err(format!("protocol id {:02x}{:02x}", frame[2], frame[3]));
    }
    if frame[6] != UNIT {
        return Err(format!("unit id {}", frame[6]));
    }
    let want = expected.pdu();
    if pdu.first() != want.first() {
        return Err(format!(
            "function code {:02x?}, expected {:02x}",
            pdu.first(),
            want[0]
        ));
    }
    if pdu.len() != want.len() {
        return Err(format!(
            "PDU of {} bytes, expected {}",
            pdu.len(),
            want.len()
        ));
    }
    if pdu != want {
        return Err(format!("PDU {pdu:02x?}, expected {want:02x?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_request_and_expectation() {
        let mut out = Vec::new();
        Request::ReadSeeded { addr: 2 }.encode(0x0102, &mut out);
        assert_eq!(out, [1, 2, 0, 0, 0, 6, 1, 3, 0, 2, 0, 10]);
        let e = Request::ReadSeeded { addr: 2 }.expected();
        assert_eq!(e.pdu().len(), 22);
        assert_eq!(&e.pdu()[..4], &[3, 20, 0, 69]); // seed_register(2) = 69
    }

    #[test]
    fn write_request_length_and_echo() {
        let mut out = Vec::new();
        let r = Request::Write {
            addr: 10_000,
            values: [7; 10],
        };
        r.encode(5, &mut out);
        assert_eq!(out.len(), MBAP_LEN + 6 + 20);
        assert_eq!(frame_len(&out), Ok(Some(out.len())));
        assert_eq!(r.expected().pdu(), &[0x10, 0x27, 0x10, 0, 10]);
    }

    #[test]
    fn coils_pad_with_zero() {
        // 20 coils from 0: bits 0,3,6,9,12,15,18 set.
        assert_eq!(coil_bytes(0, 20), [0b0100_1001, 0b1001_0010, 0b0000_0100]);
    }

    #[test]
    fn framing_rejects_bad_lengths() {
        assert_eq!(frame_len(&[0, 0, 0, 0, 0, 6, 1]), Ok(None));
        assert!(frame_len(&[0, 0, 0, 0, 0, 1, 1]).is_err());
        assert!(frame_len(&[0, 0, 0, 0, 1, 0, 1]).is_err());
    }

    #[test]
    fn check_catches_a_wrong_value() {
        let r = Request::ReadSeeded { addr: 0 };
        let mut frame = vec![0, 9, 0, 0, 0, 23, 1];
        frame.extend_from_slice(r.expected().pdu());
        assert!(check_response(&frame, &r.expected()).is_ok());
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert!(check_response(&frame, &r.expected()).is_err());
    }
}
