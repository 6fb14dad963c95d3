//! One table of exception cases, shared by every transport's tests (the
//! engine in-process here; real TCP clients in the runtime tests).
//!
//! Each case is a request PDU and the exception code the server must answer,
//! with the `spec/behaviour.md` row it comes from. Preconditions, which every
//! transport's test must set up: the default data bank (0x10000 entries per
//! table), no device identification configured, the default unit filter
//! (every unit id answered) and the default handler.
//!
//! This file uses only `std`, so another test can include it on its own with
//! `#[path = "common/exceptions.rs"] mod exceptions;`.

/// A request PDU (function code first) and the exception it must get.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionCase {
    /// What is wrong with the request, and the behaviour.md row.
    pub name: &'static str,
    /// The request PDU, function code first.
    pub pdu: &'static [u8],
    /// The expected exception code (the byte after the function byte).
    pub exception: u8,
}

impl ExceptionCase {
    /// The function byte of the exception response: the request's function
    /// code with bit 0x80 set (0x80..=0xFF requests keep their own byte).
    pub fn response_function(&self) -> u8 {
        self.pdu[0] | 0x80
    }

    /// The whole expected response ADU to this case sent as `mbap_frame(transaction_id, unit_id, pdu)`.
    pub fn expected_response(&self, transaction_id: u16, unit_id: u8) -> Vec<u8> {
        mbap_frame(
            transaction_id,
            unit_id,
            &[self.response_function(), self.exception],
        )
    }
}

/// Illegal function.
pub const ILLEGAL_FUNCTION: u8 = 0x01;
/// Illegal data address.
pub const ILLEGAL_DATA_ADDRESS: u8 = 0x02;
/// Illegal data value.
pub const ILLEGAL_DATA_VALUE: u8 = 0x03;

/// Builds a Modbus TCP frame: MBAP header (protocol id 0, length = unit id +
/// PDU) followed by the PDU.
pub fn mbap_frame(transaction_id: u16, unit_id: u8, pdu: &[u8]) -> Vec<u8> {
    let length = u16::try_from(pdu.len() + 1).expect("a PDU is at most 253 bytes");
    let mut frame = Vec::with_capacity(7 + pdu.len());
    frame.extend_from_slice(&transaction_id.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.push(unit_id);
    frame.extend_from_slice(pdu);
    frame
}

/// The exception cases. Check order (behaviour.md, "Check order"):
/// unsupported function → 1, then quantity / byte count / short PDU → 3,
/// then address range → 2.
#[rustfmt::skip]
pub const EXCEPTION_CASES: &[ExceptionCase] = &[
    // --- unsupported functions (function-code table, last row; framing table) ---
    ExceptionCase { name: "FC 0x41 is not supported", pdu: &[0x41, 0x00, 0x00], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x00 is not supported", pdu: &[0x00], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x07 (read exception status) is not supported", pdu: &[0x07], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x7F is not supported", pdu: &[0x7F, 0x00, 0x00, 0x00, 0x01], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x80..=0xFF: exception 1, own function byte (0x83)", pdu: &[0x83, 0x00, 0x00, 0x00, 0x01], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x80..=0xFF: exception 1, own function byte (0xFF)", pdu: &[0xFF], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "unsupported function wins over a bad quantity", pdu: &[0x41, 0x00, 0x00, 0x00, 0x00], exception: ILLEGAL_FUNCTION },
    // --- length 2: a PDU that is only a function code ---
    ExceptionCase { name: "FC 0x01 alone (length 2)", pdu: &[0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x10 alone (length 2)", pdu: &[0x10], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x2B alone (length 2)", pdu: &[0x2B], exception: ILLEGAL_DATA_VALUE },
    // --- FC 0x01 / 0x02: quantity 1..=2000, address + quantity <= size ---
    ExceptionCase { name: "FC 0x01 quantity 0", pdu: &[0x01, 0x00, 0x00, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x01 quantity 2001", pdu: &[0x01, 0x00, 0x00, 0x07, 0xD1], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x01 truncated quantity", pdu: &[0x01, 0x00, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x01 0xFFFF + 2 > size", pdu: &[0x01, 0xFF, 0xFF, 0x00, 0x02], exception: ILLEGAL_DATA_ADDRESS },
    ExceptionCase { name: "FC 0x01 bad quantity wins over bad address", pdu: &[0x01, 0xFF, 0xFF, 0x07, 0xD1], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x02 quantity 0", pdu: &[0x02, 0x00, 0x00, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x02 quantity 2001", pdu: &[0x02, 0x00, 0x00, 0x07, 0xD1], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x02 0xF830 + 2000 > size", pdu: &[0x02, 0xF8, 0x31, 0x07, 0xD0], exception: ILLEGAL_DATA_ADDRESS },
    // --- FC 0x03 / 0x04: quantity 1..=125 ---
    ExceptionCase { name: "FC 0x03 quantity 0", pdu: &[0x03, 0x00, 0x00, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x03 quantity 126", pdu: &[0x03, 0x00, 0x00, 0x00, 0x7E], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x03 0xFF84 + 125 > size", pdu: &[0x03, 0xFF, 0x84, 0x00, 0x7D], exception: ILLEGAL_DATA_ADDRESS },
    ExceptionCase { name: "FC 0x04 quantity 126", pdu: &[0x04, 0x00, 0x00, 0x00, 0x7E], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x04 0xFFFF + 2 > size", pdu: &[0x04, 0xFF, 0xFF, 0x00, 0x02], exception: ILLEGAL_DATA_ADDRESS },
    ExceptionCase { name: "FC 0x04 only an address", pdu: &[0x04, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    // --- FC 0x05: value 0xFF00 or 0x0000 (deviation from pyModbusTCP) ---
    ExceptionCase { name: "FC 0x05 value 0x1234", pdu: &[0x05, 0x00, 0x00, 0x12, 0x34], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x05 value 0x00FF", pdu: &[0x05, 0x00, 0x00, 0x00, 0xFF], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x05 value 0x0001", pdu: &[0x05, 0x00, 0x00, 0x00, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x05 truncated value", pdu: &[0x05, 0x00, 0x00, 0xFF], exception: ILLEGAL_DATA_VALUE },
    // --- FC 0x06 ---
    ExceptionCase { name: "FC 0x06 truncated value", pdu: &[0x06, 0x00, 0x01, 0x00], exception: ILLEGAL_DATA_VALUE },
    // --- FC 0x0F: quantity 1..=1968, byte count >= ceil(qty/8), data present ---
    ExceptionCase { name: "FC 0x0F quantity 0", pdu: &[0x0F, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x0F quantity 1969", pdu: &[0x0F, 0x00, 0x00, 0x07, 0xB1, 0x01, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x0F byte count below ceil(9/8)", pdu: &[0x0F, 0x00, 0x00, 0x00, 0x09, 0x01, 0xFF], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x0F data shorter than byte count", pdu: &[0x0F, 0x00, 0x00, 0x00, 0x09, 0x02, 0xFF], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x0F no byte count", pdu: &[0x0F, 0x00, 0x00, 0x00, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x0F 0xFFFF + 2 > size", pdu: &[0x0F, 0xFF, 0xFF, 0x00, 0x02, 0x01, 0x03], exception: ILLEGAL_DATA_ADDRESS },
    // --- FC 0x10: quantity 1..=123, byte count == 2 * qty, data present ---
    ExceptionCase { name: "FC 0x10 quantity 0", pdu: &[0x10, 0x00, 0x00, 0x00, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x10 quantity 124", pdu: &[0x10, 0x00, 0x00, 0x00, 0x7C, 0xF8], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x10 byte count 3 for 1 register", pdu: &[0x10, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x01, 0x02], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x10 byte count 4 for 1 register (larger is refused)", pdu: &[0x10, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x01, 0x00, 0x02], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x10 data shorter than byte count", pdu: &[0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x10 0xFFFF + 2 > size", pdu: &[0x10, 0xFF, 0xFF, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02], exception: ILLEGAL_DATA_ADDRESS },
    // --- FC 0x16 ---
    ExceptionCase { name: "FC 0x16 truncated or-mask", pdu: &[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00], exception: ILLEGAL_DATA_VALUE },
    // --- FC 0x17: read 1..=125, write 1..=121, byte count == 2 * write qty, both ranges ---
    ExceptionCase { name: "FC 0x17 read quantity 0", pdu: &[0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x17 read quantity 126", pdu: &[0x17, 0x00, 0x00, 0x00, 0x7E, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x17 write quantity 0", pdu: &[0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x17 write quantity 122", pdu: &[0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7A, 0xF4], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x17 byte count 1 for 1 register", pdu: &[0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x17 data missing", pdu: &[0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x17 read range 0xFFFF + 2 > size", pdu: &[0x17, 0xFF, 0xFF, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01], exception: ILLEGAL_DATA_ADDRESS },
    ExceptionCase { name: "FC 0x17 write range 0xFFFF + 2 > size", pdu: &[0x17, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02], exception: ILLEGAL_DATA_ADDRESS },
    // --- FC 0x2B / 0x0E: read code 1..=4; MEI type 0x0E; no identification configured ---
    ExceptionCase { name: "FC 0x2B no identification configured", pdu: &[0x2B, 0x0E, 0x01, 0x00], exception: ILLEGAL_DATA_ADDRESS },
    ExceptionCase { name: "FC 0x2B MEI type 0x0D", pdu: &[0x2B, 0x0D, 0x01, 0x00], exception: ILLEGAL_DATA_ADDRESS },
    ExceptionCase { name: "FC 0x2B read code 0", pdu: &[0x2B, 0x0E, 0x00, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x2B read code 5", pdu: &[0x2B, 0x0E, 0x05, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x2B missing object id", pdu: &[0x2B, 0x0E, 0x01], exception: ILLEGAL_DATA_VALUE },
    // --- FC 8, 11, 17 (diagnostics, get comm event counter, report server id) ---
    ExceptionCase { name: "FC 0x08 sub-function 0x04 (force listen only mode) is not served", pdu: &[0x08, 0x00, 0x04, 0x00, 0x00], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x08 reserved sub-function 0x13", pdu: &[0x08, 0x00, 0x13, 0x00, 0x00], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x08 alone (length 2)", pdu: &[0x08], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x08 half a sub-function", pdu: &[0x08, 0x00], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x08 bus message count with data 0x1234", pdu: &[0x08, 0x00, 0x0B, 0x12, 0x34], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x08 restart with data 0xFF01", pdu: &[0x08, 0x00, 0x01, 0xFF, 0x01], exception: ILLEGAL_DATA_VALUE },
    ExceptionCase { name: "FC 0x08 unsupported sub-function wins over bad data", pdu: &[0x08, 0x00, 0x04, 0x12, 0x34], exception: ILLEGAL_FUNCTION },
    ExceptionCase { name: "FC 0x11 no server id configured", pdu: &[0x11], exception: ILLEGAL_FUNCTION },
];
