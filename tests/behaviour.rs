//! One test per row of `spec/behaviour.md`, through the real `Engine` and
//! `Service` (no network). Each test names its row; expected responses are
//! written byte for byte, in hex with spaces between fields:
//! `transaction protocol length unit  function data...`.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use common::exceptions::{mbap_frame, EXCEPTION_CASES};
use common::{
    ask, assert_hex, client_addr, exchange, hex, server, Change, Conn, DefaultConn, Recorder,
    Server,
};
use modbus_device::wire::FrameError;
use modbus_device::{
    Bank, BitTable, ChangeCallbacks, CloseReason, DataBank, DataHandler, DeviceIdError,
    DeviceIdentification, EngineConfig, ExceptionCode, ExtResponse, FixedStorage, FunctionCode,
    HeapStorage, HeapStorageConfig, Instant, ResponseWriter, Service, SessionInfo, Storage,
    UnitFilter, UnitSet, WordTable,
};

fn holding(srv: &Server, address: u16, count: usize) -> Vec<u16> {
    let mut out = vec![0; count];
    srv.lock()
        .unwrap()
        .data_bank
        .get_holding_registers(address, &mut out)
        .unwrap();
    out
}

fn coils(srv: &Server, address: u16, count: usize) -> Vec<bool> {
    let mut out = vec![false; count];
    srv.lock()
        .unwrap()
        .data_bank
        .get_coils(address, &mut out)
        .unwrap();
    out
}

fn small_server(size: usize) -> Server {
    let config = HeapStorageConfig {
        coils_size: size,
        d_inputs_size: size,
        h_regs_size: size,
        i_regs_size: size,
        ..HeapStorageConfig::default()
    };
    Mutex::new(Service::new(DataBank::from_config(config).unwrap()))
}

// ===================================================================
// Framing (MBAP) table
// ===================================================================

/// Row "request split across several TCP segments": reassembled.
#[test]
fn framing_split_request_is_reassembled() {
    let srv = server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0, &[100, 200])
        .unwrap();
    let request = hex("00 01  00 00  00 06  01  03 00 00 00 02");
    let mut conn = DefaultConn::new(EngineConfig::default());
    for (i, byte) in request.iter().enumerate() {
        assert!(conn.sent.is_empty(), "answered after only {i} bytes");
        conn.feed(&srv, &[*byte], Instant::from_millis(i as u64));
    }
    assert_hex(&conn.sent, "00 01  00 00  00 07  01  03 04 00 64 00 C8");
    assert_eq!(conn.closed, None);
}

/// Row "several requests in one segment (pipelining)": answered in order,
/// all in one write.
#[test]
fn framing_pipelined_requests_answered_in_order_in_one_write() {
    let srv = server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0, &[7])
        .unwrap();
    let segment = hex(concat!(
        "00 01  00 00  00 06  01  03 00 00 00 01 ", // read register 0
        "00 02  00 00  00 06  01  06 00 00 12 34 ", // write register 0
        "00 03  00 00  00 06  01  03 00 00 00 01 ", // read it again
    ));
    let mut conn = DefaultConn::new(EngineConfig::default());
    conn.feed(&srv, &segment, Instant::ZERO);
    assert_hex(
        &conn.sent,
        concat!(
            "00 01  00 00  00 05  01  03 02 00 07 ",
            "00 02  00 00  00 06  01  06 00 00 12 34 ",
            "00 03  00 00  00 05  01  03 02 12 34",
        ),
    );
    assert_eq!(conn.writes, 1, "one batch, one write");
}

/// Row "protocol id != 0": connection closed, no reply. Responses to earlier
/// requests of the same segment still go out first.
#[test]
fn framing_protocol_id_not_zero_closes_without_reply() {
    let srv = server();
    let (sent, closed) = exchange(&srv, &hex("00 01  00 01  00 06  01  03 00 00 00 01"));
    assert!(sent.is_empty());
    assert_eq!(
        closed,
        Some(CloseReason::Frame(FrameError::ProtocolId { found: 1 }))
    );

    // The header alone is enough to decide.
    let (sent, closed) = exchange(&srv, &hex("00 01  FF FF  00 06"));
    assert!(sent.is_empty());
    assert_eq!(
        closed,
        Some(CloseReason::Frame(FrameError::ProtocolId { found: 0xFFFF }))
    );

    let (sent, closed) = exchange(
        &srv,
        &hex("00 01  00 00  00 06  01  03 00 00 00 01   00 02  00 01  00 06  01  03 00 00 00 01"),
    );
    assert_hex(&sent, "00 01  00 00  00 05  01  03 02 00 00");
    assert_eq!(
        closed,
        Some(CloseReason::Frame(FrameError::ProtocolId { found: 1 }))
    );
}

/// Row "length field outside 3..=255": accept 2..=254, close on anything else.
#[test]
fn framing_length_outside_2_to_254_closes_without_reply() {
    let srv = server();
    for length in [0u16, 1, 255, 256, 0xFFFF] {
        let mut request = hex("00 01  00 00");
        request.extend_from_slice(&length.to_be_bytes());
        request.extend_from_slice(&hex("01  03 00 00 00 01"));
        let (sent, closed) = exchange(&srv, &request);
        assert!(sent.is_empty(), "length {length}: no reply");
        assert_eq!(
            closed,
            Some(CloseReason::Frame(FrameError::Length { found: length })),
            "length {length}"
        );
    }
    // 254: unit id + a PDU of 253 bytes (an unsupported function, exception 1).
    let mut request = hex("00 09  00 00  00 FE  01  41");
    request.extend_from_slice(&[0x5A; 252]);
    let (sent, closed) = exchange(&srv, &request);
    assert_hex(&sent, "00 09  00 00  00 03  01  C1 01");
    assert_eq!(closed, None);
    // 2: unit id + function code only.
    assert_hex(
        &ask(&srv, "00 0A  00 00  00 02  01  03"),
        "00 0A  00 00  00 03  01  83 03",
    );
}

/// Row "declared length longer than what arrives": no reply; the connection
/// is closed when the idle timeout passes (frame timeout disabled here, so
/// only the idle timeout applies).
#[test]
fn framing_short_frame_waits_until_idle_timeout() {
    let srv = server();
    let config = EngineConfig {
        idle_timeout: Some(Duration::from_secs(30)),
        frame_timeout: None,
    };
    let mut conn = DefaultConn::new(config);
    // Declares 0xFE bytes after the length, sends 6.
    conn.feed(
        &srv,
        &hex("00 01  00 00  00 FE  01  03 00 00 00 01"),
        Instant::from_millis(1000),
    );
    assert!(conn.sent.is_empty());
    assert_eq!(conn.engine.pending_input(), 12);
    assert_eq!(
        conn.engine.poll_timeout(),
        Some(Instant::from_millis(31_000))
    );
    assert_eq!(
        conn.engine.handle_timeout(Instant::from_millis(30_999)),
        Ok(())
    );
    assert_eq!(
        conn.engine.handle_timeout(Instant::from_millis(31_000)),
        Err(CloseReason::IdleTimeout)
    );
}

/// Row "unit id": echoed back; every unit id accepted by default.
#[test]
fn framing_unit_id_echoed_and_all_accepted_by_default() {
    let srv = server();
    for unit in [0x00u8, 0x01, 0x11, 0xF7, 0xFF] {
        let sent = exchange(&srv, &mbap_frame(0x0102, unit, &hex("03 00 00 00 01"))).0;
        let mut expected = hex("01 02  00 00  00 05");
        expected.push(unit);
        expected.extend_from_slice(&hex("03 02 00 00"));
        assert_eq!(sent, expected, "unit {unit:#04X}");
    }
}

/// Row "unit id", policy "serve only a set, stay silent for the others".
#[test]
fn framing_unit_filter_silent() {
    let srv = Mutex::new(
        Service::new(DataBank::default())
            .with_unit_filter(UnitFilter::OnlySilent(UnitSet::of(&[1, 5]))),
    );
    let segment = hex(concat!(
        "00 01  00 00  00 06  01  03 00 00 00 01 ",
        "00 02  00 00  00 06  02  03 00 00 00 01 ", // unit 2: not served
        "00 03  00 00  00 06  05  03 00 00 00 01 ",
    ));
    let (sent, closed) = exchange(&srv, &segment);
    assert_hex(
        &sent,
        "00 01  00 00  00 05  01  03 02 00 00   00 03  00 00  00 05  05  03 02 00 00",
    );
    assert_eq!(
        closed, None,
        "a filtered unit does not close the connection"
    );
}

/// Row "unit id", policy "serve only a set, answer exception 0x0B for the others".
#[test]
fn framing_unit_filter_exception_0b() {
    let srv = Mutex::new(
        Service::new(DataBank::default())
            .with_unit_filter(UnitFilter::OnlyWithException(UnitSet::of(&[1]))),
    );
    assert_hex(
        &ask(&srv, "00 07  00 00  00 06  02  03 00 00 00 01"),
        "00 07  00 00  00 03  02  83 0B",
    );
    assert_hex(
        &ask(&srv, "00 08  00 00  00 06  01  03 00 00 00 01"),
        "00 08  00 00  00 05  01  03 02 00 00",
    );
}

/// Row "unit id", "route unit ids to different handlers": a handler that
/// serves each unit from its own block of registers.
#[test]
fn framing_unit_routing_through_handler() {
    struct PerUnit;
    impl DataHandler for PerUnit {
        fn read_h_regs(
            &mut self,
            bank: &mut dyn Bank,
            address: u16,
            out: &mut [u16],
            srv_info: &SessionInfo,
        ) -> Result<(), ExceptionCode> {
            let base = u16::from(srv_info.unit_id) * 100;
            let address = address
                .checked_add(base)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            bank.read_h_regs(address, out, srv_info)
        }
    }
    let srv = Mutex::new(Service::with_handler(DataBank::default(), PerUnit));
    {
        let bank = &mut srv.lock().unwrap().data_bank;
        bank.set_holding_registers(100, &[0x1111]).unwrap();
        bank.set_holding_registers(200, &[0x2222]).unwrap();
    }
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  03 00 00 00 01"),
        "00 01  00 00  00 05  01  03 02 11 11",
    );
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  02  03 00 00 00 01"),
        "00 01  00 00  00 05  02  03 02 22 22",
    );
}

/// Row "transaction id": echoed.
#[test]
fn framing_transaction_id_echoed() {
    let srv = server();
    for tid in [0x0000u16, 0x0001, 0xABCD, 0xFFFF] {
        let sent = exchange(&srv, &mbap_frame(tid, 1, &hex("06 00 00 00 2A"))).0;
        assert_eq!(
            sent,
            mbap_frame(tid, 1, &hex("06 00 00 00 2A")),
            "tid {tid:#06X}"
        );
    }
}

/// Row "PDU shorter than its function code needs": exception 3, connection kept.
#[test]
fn framing_short_pdu_is_exception_3_and_connection_kept() {
    let srv = server();
    let mut conn = DefaultConn::new(EngineConfig::default());
    conn.feed(
        &srv,
        &hex("00 05  00 00  00 04  01  03 00 00"),
        Instant::ZERO,
    );
    assert_hex(&conn.take_sent(), "00 05  00 00  00 03  01  83 03");
    conn.feed(
        &srv,
        &hex("00 06  00 00  00 06  01  03 00 00 00 01"),
        Instant::ZERO,
    );
    assert_hex(&conn.sent, "00 06  00 00  00 05  01  03 02 00 00");
    assert_eq!(conn.closed, None);
}

/// Row "bytes after the PDU's last needed field": ignored (and the next
/// frame is still found by the length field).
#[test]
fn framing_trailing_bytes_ignored() {
    let srv = server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0, &[0xBEEF])
        .unwrap();
    let sent = ask(
        &srv,
        "00 06  00 00  00 08  01  03 00 00 00 01 AA BB   00 07  00 00  00 06  01  03 00 00 00 01",
    );
    assert_hex(
        &sent,
        "00 06  00 00  00 05  01  03 02 BE EF   00 07  00 00  00 05  01  03 02 BE EF",
    );
}

/// Row "function code 0x80..=0xFF": exception 1, function byte is the request's own.
#[test]
fn framing_function_0x80_to_0xff_is_exception_1_with_own_byte() {
    let srv = server();
    for function in [0x80u8, 0x81, 0x83, 0xAB, 0xFF] {
        let sent = exchange(&srv, &mbap_frame(3, 1, &[function, 0, 0, 0, 1])).0;
        assert_eq!(sent, mbap_frame(3, 1, &[function, 0x01]), "{function:#04X}");
    }
}

/// Row "length 2: a PDU that is only a function code": exception 1 if not
/// supported, else exception 3.
#[test]
fn framing_length_2_function_code_only() {
    let srv = server();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 02  01  41"),
        "00 01  00 00  00 03  01  C1 01",
    );
    for function in [
        0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x2B,
    ] {
        let sent = exchange(&srv, &mbap_frame(1, 1, &[function])).0;
        assert_eq!(
            sent,
            mbap_frame(1, 1, &[function | 0x80, 0x03]),
            "{function:#04X}"
        );
    }
}

// ===================================================================
// Function codes table
// ===================================================================

/// The shared exception table (tests/common/exceptions.rs), through the engine.
#[test]
fn function_codes_exception_table() {
    let srv = server();
    for (i, case) in EXCEPTION_CASES.iter().enumerate() {
        let tid = 0x1000 + i as u16;
        let (sent, closed) = exchange(&srv, &mbap_frame(tid, 0x11, case.pdu));
        assert_eq!(closed, None, "{}", case.name);
        assert_eq!(sent, case.expected_response(tid, 0x11), "{}", case.name);
    }
    // No case wrote anything.
    let lock = srv.lock().unwrap();
    let mut all = vec![0u16; 0x10000];
    lock.data_bank.get_holding_registers(0, &mut all).unwrap();
    assert!(
        all.iter().all(|&v| v == 0),
        "an exception case wrote a register"
    );
    let mut bits = vec![false; 0x10000];
    lock.data_bank.get_coils(0, &mut bits).unwrap();
    assert!(bits.iter().all(|&v| !v), "an exception case wrote a coil");
}

/// Row 0x01: quantity 1..=2000, address + quantity <= size, packed LSB first,
/// last byte zero-padded (the specification's example: coils 20..=38).
#[test]
fn fc01_read_coils() {
    let srv = server();
    let bits = [
        1, 0, 1, 1, 0, 0, 1, 1, /* CD */ 1, 1, 0, 1, 0, 1, 1, 0, /* 6B */ 1, 0,
        1, /* 05 */
    ]
    .map(|b| b == 1);
    {
        let bank = &mut srv.lock().unwrap().data_bank;
        bank.set_coils(19, &bits).unwrap();
        bank.set_coils(38, &[true; 5]).unwrap(); // beyond the range: must not leak into the padding
    }
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  01 00 13 00 13"),
        "00 01  00 00  00 06  01  01 03 CD 6B 05",
    );
    // The top of the table, the largest quantity.
    let sent = ask(&srv, "00 02  00 00  00 06  01  01 F8 30 07 D0");
    assert_hex(&sent[..9], "00 02  00 00  00 FD  01  01 FA");
    assert_eq!(sent.len(), 9 + 250);
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  01 FF FF 00 01"),
        "00 03  00 00  00 04  01  01 01 00",
    );
    assert_hex(
        &ask(&srv, "00 04  00 00  00 06  01  01 FF FF 00 02"),
        "00 04  00 00  00 03  01  81 02",
    );
}

/// Row 0x02: same rules and packing (the specification's example: inputs 197..=218).
#[test]
fn fc02_read_discrete_inputs() {
    let srv = server();
    let bits = [
        0, 0, 1, 1, 0, 1, 0, 1, /* AC */ 1, 1, 0, 1, 1, 0, 1, 1, /* DB */ 1, 0, 1, 0, 1,
        1, /* 35 */
    ]
    .map(|b| b == 1);
    srv.lock()
        .unwrap()
        .data_bank
        .set_discrete_inputs(196, &bits)
        .unwrap();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  02 00 C4 00 16"),
        "00 01  00 00  00 06  01  02 03 AC DB 35",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  01  02 00 00 07 D1"),
        "00 02  00 00  00 03  01  82 03",
    );
}

/// Row 0x03: quantity 1..=125 (the specification's example: registers 108..=110).
#[test]
fn fc03_read_holding_registers() {
    let srv = server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0x6B, &[0x022B, 0x0000, 0x0064])
        .unwrap();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  03 00 6B 00 03"),
        "00 01  00 00  00 09  01  03 06 02 2B 00 00 00 64",
    );
    let sent = ask(&srv, "00 02  00 00  00 06  01  03 FF 83 00 7D");
    assert_hex(&sent[..9], "00 02  00 00  00 FD  01  03 FA");
    assert_eq!(sent.len(), 9 + 250);
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  03 FF 84 00 7D"),
        "00 03  00 00  00 03  01  83 02",
    );
}

/// Row 0x04 (the specification's example: register 9).
#[test]
fn fc04_read_input_registers() {
    let srv = server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_input_registers(8, &[0x000A])
        .unwrap();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  04 00 08 00 01"),
        "00 01  00 00  00 05  01  04 02 00 0A",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  01  04 00 00 00 7E"),
        "00 02  00 00  00 03  01  84 03",
    );
}

/// Row 0x05: value 0xFF00 or 0x0000 (else exception 3, deviation), address
/// < size, response echoes the request.
#[test]
fn fc05_write_single_coil_values() {
    let srv = small_server(0x100);
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  05 00 AC FF 00"),
        "00 01  00 00  00 06  01  05 00 AC FF 00",
    );
    assert_eq!(coils(&srv, 0xAC, 1), [true]);
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  01  05 00 AC 12 34"),
        "00 02  00 00  00 03  01  85 03",
    );
    assert_eq!(
        coils(&srv, 0xAC, 1),
        [true],
        "a refused value writes nothing"
    );
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  05 00 AC 00 00"),
        "00 03  00 00  00 06  01  05 00 AC 00 00",
    );
    assert_eq!(coils(&srv, 0xAC, 1), [false]);
    assert_hex(
        &ask(&srv, "00 04  00 00  00 06  01  05 00 FF FF 00"),
        "00 04  00 00  00 06  01  05 00 FF FF 00",
    );
    assert_hex(
        &ask(&srv, "00 05  00 00  00 06  01  05 01 00 FF 00"),
        "00 05  00 00  00 03  01  85 02",
    );
}

/// Row 0x06: any value, address < size, response echoes the request.
#[test]
fn fc06_write_single_register() {
    let srv = small_server(10);
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  06 00 01 00 03"),
        "00 01  00 00  00 06  01  06 00 01 00 03",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  01  06 00 09 FF FF"),
        "00 02  00 00  00 06  01  06 00 09 FF FF",
    );
    assert_eq!(holding(&srv, 0, 10), [0, 3, 0, 0, 0, 0, 0, 0, 0, 0xFFFF]);
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  06 00 0A 00 01"),
        "00 03  00 00  00 03  01  86 02",
    );
}

/// Row 0x0F: the specification's example, a larger byte count accepted (as
/// pyModbusTCP), and the largest quantity.
#[test]
fn fc0f_write_multiple_coils() {
    let srv = server();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 09  01  0F 00 13 00 0A 02 CD 01"),
        "00 01  00 00  00 06  01  0F 00 13 00 0A",
    );
    assert_eq!(
        coils(&srv, 19, 11),
        [1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0].map(|b| b == 1)
    );
    // Byte count 4 for 3 coils: accepted; bits past the quantity are not written.
    assert_hex(
        &ask(
            &srv,
            "00 02  00 00  00 0B  01  0F 00 00 00 03 04 05 FF FF FF",
        ),
        "00 02  00 00  00 06  01  0F 00 00 00 03",
    );
    assert_eq!(coils(&srv, 0, 4), [true, false, true, false]);
    // 1968 coils, 246 data bytes, at the top of the table.
    let mut pdu = hex("0F F8 50 07 B0 F6");
    pdu.extend_from_slice(&[0xFF; 246]);
    let sent = exchange(&srv, &mbap_frame(3, 1, &pdu)).0;
    assert_hex(&sent, "00 03  00 00  00 06  01  0F F8 50 07 B0");
    assert!(coils(&srv, 0xF850, 1968).iter().all(|&c| c));
}

/// Row 0x10: quantity 1..=123, byte count == 2 * quantity (the specification's example).
#[test]
fn fc10_write_multiple_registers() {
    let srv = server();
    assert_hex(
        &ask(
            &srv,
            "00 01  00 00  00 0B  01  10 00 01 00 02 04 00 0A 01 02",
        ),
        "00 01  00 00  00 06  01  10 00 01 00 02",
    );
    assert_eq!(holding(&srv, 0, 4), [0, 0x000A, 0x0102, 0]);
    let mut pdu = hex("10 FF 85 00 7B F6");
    pdu.extend((0..123u16).flat_map(|v| v.to_be_bytes()));
    assert_eq!(pdu.len(), 252);
    let sent = exchange(&srv, &mbap_frame(2, 1, &pdu)).0;
    assert_hex(&sent, "00 02  00 00  00 06  01  10 FF 85 00 7B");
    assert_eq!(holding(&srv, 0xFF85, 123), (0..123).collect::<Vec<u16>>());
}

/// Row 0x16: result = (current AND and_mask) OR (or_mask AND NOT and_mask)
/// (the specification's example: 0x12 becomes 0x17), response echoes.
#[test]
fn fc16_mask_write_register() {
    let srv = small_server(8);
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(4, &[0x12])
        .unwrap();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 08  01  16 00 04 00 F2 00 25"),
        "00 01  00 00  00 08  01  16 00 04 00 F2 00 25",
    );
    assert_eq!(holding(&srv, 4, 1), [0x17]);
    assert_hex(
        &ask(&srv, "00 02  00 00  00 08  01  16 00 08 00 F2 00 25"),
        "00 02  00 00  00 03  01  96 02",
    );
}

/// Row 0x17: write first, then read (overlapping ranges show the order).
#[test]
fn fc17_write_then_read() {
    let srv = server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0, &[1, 2, 3, 4])
        .unwrap();
    // Read 4 from 0, write 2 at 1.
    assert_hex(
        &ask(
            &srv,
            "00 01  00 00  00 0F  01  17 00 00 00 04 00 01 00 02 04 AA AA BB BB",
        ),
        "00 01  00 00  00 0B  01  17 08 00 01 AA AA BB BB 00 04",
    );
    // Limits: read 125 and write 121 are accepted (a 252-byte PDU).
    let mut pdu = hex("17 00 00 00 7D 00 00 00 79 F2");
    pdu.extend((0..121u16).flat_map(|v| (v + 1000).to_be_bytes()));
    let sent = exchange(&srv, &mbap_frame(2, 1, &pdu)).0;
    assert_hex(&sent[..9], "00 02  00 00  00 FD  01  17 FA");
    assert_hex(&sent[9..13], "03 E8 03 E9");
    assert_eq!(sent.len(), 9 + 250);
}

/// Row 0x17: both ranges are checked before anything is written
/// (deviation: pyModbusTCP writes, then answers exception 2).
#[test]
fn fc17_check_before_write() {
    let srv = Mutex::new(Service::new(DataBank::with_callbacks(
        HeapStorage::default(),
        Recorder::default(),
    )));
    // Valid write at 0, read range 0xFFFF + 2 beyond the table.
    let sent = exchange(
        &srv,
        &hex("00 01  00 00  00 0D  01  17 FF FF 00 02 00 00 00 01 02 12 34"),
    )
    .0;
    assert_hex(&sent, "00 01  00 00  00 03  01  97 02");
    let lock = srv.lock().unwrap();
    let mut reg = [0u16];
    lock.data_bank.get_holding_registers(0, &mut reg).unwrap();
    assert_eq!(reg, [0], "nothing written");
    assert!(lock.data_bank.callbacks().0.is_empty(), "no callback");
}

/// Row 0x17: the write and the read are one step. Two connections on two
/// threads share one service: FC 23 always reads back exactly what it wrote
/// (no other write slips in between), and a concurrent FC 3 never sees a
/// half-written block.
#[test]
fn fc17_atomic_under_concurrency() {
    const ROUNDS: u16 = 200;
    const N: usize = 100;
    let srv = server();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut conn = DefaultConn::new(EngineConfig::default());
            for round in 1..=ROUNDS {
                let mut pdu = hex("17 00 00 00 64 00 00 00 64 C8");
                pdu.extend((0..N).flat_map(|_| round.to_be_bytes()));
                conn.feed(&srv, &mbap_frame(round, 1, &pdu), Instant::ZERO);
                let sent = conn.take_sent();
                assert_eq!(sent.len(), 9 + 2 * N);
                assert!(
                    sent[9..].chunks(2).all(|w| w == round.to_be_bytes()),
                    "FC 23 round {round} read back other values"
                );
            }
        });
        s.spawn(|| {
            let mut conn = DefaultConn::new(EngineConfig::default());
            for round in 1..=ROUNDS {
                let mut pdu = hex("10 00 00 00 64 C8");
                pdu.extend((0..N).flat_map(|_| (round | 0x8000).to_be_bytes()));
                conn.feed(&srv, &mbap_frame(round, 1, &pdu), Instant::ZERO);
                conn.feed(
                    &srv,
                    &mbap_frame(round, 1, &hex("03 00 00 00 64")),
                    Instant::ZERO,
                );
                let sent = conn.take_sent();
                let read = &sent[12 + 9..];
                assert_eq!(read.len(), 2 * N);
                assert!(
                    read.chunks(2).all(|w| w == &read[..2]),
                    "torn read: {}",
                    common::to_hex(read)
                );
            }
        });
    });
}

/// Row "any other 0x00..=0x7F": exception 1, unless the raw-PDU hook answers it.
#[test]
fn other_function_codes_are_exception_1() {
    let srv = server();
    let supported = [
        0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x2B,
    ];
    // FC 20, 21, 24 (tests/behaviour_files.rs); FC 8 and 11 answer this
    // request (tests/behaviour_diagnostics.rs); FC 17 answers exception 1
    // without a server id.
    let files_fifo = [0x14u8, 0x15, 0x18];
    let diagnostics = [0x08u8, 0x0B];
    for function in (0x00u8..=0x7F)
        .filter(|f| !supported.contains(f) && !files_fifo.contains(f) && !diagnostics.contains(f))
    {
        let sent = exchange(&srv, &mbap_frame(1, 1, &[function, 0, 0, 0, 1])).0;
        assert_eq!(
            sent,
            mbap_frame(1, 1, &[function | 0x80, 0x01]),
            "{function:#04X}"
        );
    }
}

/// "Check order": unsupported → 1, then quantity → 3, then address → 2,
/// then the handler, which may answer any exception code 1..=0x0B itself.
#[test]
fn handler_refuses_with_any_exception_code() {
    struct Refuse(u8);
    impl DataHandler for Refuse {
        fn read_h_regs(
            &mut self,
            _: &mut dyn Bank,
            _: u16,
            _: &mut [u16],
            _: &SessionInfo,
        ) -> Result<(), ExceptionCode> {
            Err(ExceptionCode::from(self.0))
        }
    }
    let srv = Mutex::new(Service::with_handler(DataBank::default(), Refuse(0)));
    for code in 0x01u8..=0x0B {
        srv.lock().unwrap().data_hdl.0 = code;
        let sent = exchange(&srv, &mbap_frame(9, 1, &hex("03 00 00 00 01"))).0;
        assert_eq!(
            sent,
            mbap_frame(9, 1, &[0x83, code]),
            "exception {code:#04X}"
        );
        // The server's own checks come first: a bad quantity never reaches it.
        let sent = exchange(&srv, &mbap_frame(9, 1, &hex("03 00 00 00 00"))).0;
        assert_eq!(sent, mbap_frame(9, 1, &[0x83, 0x03]));
    }
}

/// "ext_engine" (Server lifecycle): the raw-PDU hook answers a custom
/// function code and passes the others through to the normal dispatch; it
/// may also stay silent, and a bad length becomes exception 4.
#[test]
fn ext_engine_answers_custom_function_and_passes_others() {
    struct Hook;
    impl DataHandler for Hook {
        fn ext_engine(
            &mut self,
            _: &mut dyn Bank,
            request: &[u8],
            srv_info: &SessionInfo,
            response: &mut ResponseWriter<'_>,
        ) -> ExtResponse {
            match request.first() {
                // Echo the data reversed, after the unit id.
                Some(0x41) => {
                    let written = response.extend(&[0x41, srv_info.unit_id]).and_then(|()| {
                        request[1..]
                            .iter()
                            .rev()
                            .try_for_each(|&b| response.push(b))
                    });
                    match written {
                        Ok(()) => ExtResponse::Respond,
                        Err(_) => ExtResponse::Exception(ExceptionCode::ServerDeviceFailure),
                    }
                }
                Some(0x42) => ExtResponse::NoResponse,
                // Nothing written: exception 4.
                Some(0x43) => ExtResponse::Respond,
                // More than a PDU holds is refused whole: nothing written, exception 4.
                Some(0x44) => {
                    assert!(response.extend(&[0x44; 254]).is_err());
                    ExtResponse::Respond
                }
                Some(0x46) => ExtResponse::Exception(ExceptionCode::IllegalDataValue),
                // What the hook wrote before passing a request on is discarded.
                _ => {
                    let _ = response.extend(&[0xEE, 0xEE]);
                    ExtResponse::Dispatch
                }
            }
        }
    }
    let srv = Mutex::new(Service::with_handler(DataBank::default(), Hook));
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  07  41 01 02 03"),
        "00 01  00 00  00 06  07  41 07 03 02 01",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  07  03 00 00 00 01"),
        "00 02  00 00  00 05  07  03 02 00 00",
    );
    assert_hex(
        &ask(&srv, "00 03  00 00  00 02  07  45"),
        "00 03  00 00  00 03  07  C5 01",
    );
    assert!(ask(&srv, "00 04  00 00  00 02  07  42").is_empty());
    assert_hex(
        &ask(&srv, "00 05  00 00  00 02  07  43"),
        "00 05  00 00  00 03  07  C3 04",
    );
    assert_hex(
        &ask(&srv, "00 06  00 00  00 02  07  44"),
        "00 06  00 00  00 03  07  C4 04",
    );
    assert_hex(
        &ask(&srv, "00 07  00 00  00 02  07  46"),
        "00 07  00 00  00 03  07  C6 03",
    );
}

// ===================================================================
// Device identification (FC 0x2B, MEI type 0x0E)
// ===================================================================

fn id_server(id: DeviceIdentification) -> Server {
    Mutex::new(Service::new(DataBank::default()).with_device_identification(id))
}

/// Objects 0x00 "Vend", 0x01 "P1", 0x02 "1.0", 0x04 "Prod", 0x80 "X".
fn sample_id() -> DeviceIdentification {
    let mut id = DeviceIdentification::new();
    id.set_vendor_name(b"Vend").unwrap();
    id.set_product_code(b"P1").unwrap();
    id.set_major_minor_revision(b"1.0").unwrap();
    id.set_product_name(b"Prod").unwrap();
    id.set(0x80, b"X").unwrap();
    id
}

/// Bullet "code 1 basic, 2 regular, 3 extended, 4 one object"; response
/// layout `2B 0E code conformity more next count (id len value)...`.
#[test]
fn device_id_streams_and_individual_access() {
    let srv = id_server(sample_id());
    // Basic: 0x00..=0x02.
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0E 01 00"),
        "00 01  00 00  00 17  01  2B 0E 01 83 00 00 03  00 04 56 65 6E 64  01 02 50 31  02 03 31 2E 30",
    );
    // Regular: 0x00..=0x7F (deviation: pyModbusTCP starts at 0x03).
    assert_hex(
        &ask(&srv, "00 02  00 00  00 05  01  2B 0E 02 00"),
        "00 02  00 00  00 1D  01  2B 0E 02 83 00 00 04  00 04 56 65 6E 64  01 02 50 31  02 03 31 2E 30  04 04 50 72 6F 64",
    );
    // Extended: 0x00..=0xFF (deviation: pyModbusTCP starts at 0x80).
    assert_hex(
        &ask(&srv, "00 03  00 00  00 05  01  2B 0E 03 00"),
        "00 03  00 00  00 20  01  2B 0E 03 83 00 00 05  00 04 56 65 6E 64  01 02 50 31  02 03 31 2E 30  04 04 50 72 6F 64  80 01 58",
    );
    // Individual: one object.
    assert_hex(
        &ask(&srv, "00 04  00 00  00 05  01  2B 0E 04 04"),
        "00 04  00 00  00 0E  01  2B 0E 04 83 00 00 01  04 04 50 72 6F 64",
    );
    // Stream starting at an existing object of the stream.
    assert_hex(
        &ask(&srv, "00 05  00 00  00 05  01  2B 0E 03 04"),
        "00 05  00 00  00 11  01  2B 0E 03 83 00 00 02  04 04 50 72 6F 64  80 01 58",
    );
}

/// Bullet "stream access starting at an object id that does not exist
/// restarts at 0x00; code 4 on a missing object: exception 2".
#[test]
fn device_id_missing_start_restarts_and_missing_object_is_exception_2() {
    let srv = id_server(sample_id());
    let from_zero = ask(&srv, "00 01  00 00  00 05  01  2B 0E 02 00");
    // 0x05 does not exist; 0x80 exists but is not in the regular stream.
    for start in ["05", "80", "FF"] {
        let sent = ask(&srv, &format!("00 01  00 00  00 05  01  2B 0E 02 {start}"));
        assert_eq!(sent, from_zero, "start {start}");
    }
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0E 04 05"),
        "00 01  00 00  00 03  01  AB 02",
    );
}

/// Bullet "conformity level is the highest category configured, with bit 0x80".
#[test]
fn device_id_conformity_level() {
    let mut id = DeviceIdentification::new();
    id.set_vendor_name(b"V").unwrap();
    let srv = id_server(id.clone());
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0E 04 00"),
        "00 01  00 00  00 0B  01  2B 0E 04 81 00 00 01  00 01 56",
    );
    id.set_model_name(b"M").unwrap();
    let srv = id_server(id.clone());
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0E 04 05"),
        "00 01  00 00  00 0B  01  2B 0E 04 82 00 00 01  05 01 4D",
    );
    id.set(0xC0, b"E").unwrap();
    let srv = id_server(id);
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0E 04 C0"),
        "00 01  00 00  00 0B  01  2B 0E 04 83 00 00 01  C0 01 45",
    );
}

/// Bullet "the response PDU never exceeds 253 bytes: more_follows = 0xFF and
/// next_object_id = the object that did not fit".
#[test]
fn device_id_paging() {
    let mut id = DeviceIdentification::new();
    for object in 0x80u8..=0x83 {
        id.set(object, &[object; 100]).unwrap();
    }
    let srv = id_server(id);
    // 7 header + 3 empty basic objects (6) + 2 * 102 = 217; a third 102 does not fit.
    let sent = ask(&srv, "00 01  00 00  00 05  01  2B 0E 03 00");
    assert_hex(&sent[..14], "00 01  00 00  00 DA  01  2B 0E 03 83 FF 82 05");
    assert_eq!(sent.len(), 7 + 217);
    assert_hex(&sent[14..20], "00 00  01 00  02 00");
    assert_hex(&sent[20..22], "80 64");
    assert_hex(&sent[122..124], "81 64");
    // The next page, from the announced object.
    let sent = ask(&srv, "00 02  00 00  00 05  01  2B 0E 03 82");
    assert_hex(&sent[..14], "00 02  00 00  00 D4  01  2B 0E 03 83 00 00 02");
    assert_eq!(sent.len(), 7 + 7 + 2 * 102);
}

/// Bullet "an object that can never fit (longer than 244 bytes) must be
/// refused when the identification is configured"; 244 fits exactly.
#[test]
fn device_id_object_too_long_refused_at_configuration() {
    let mut id = DeviceIdentification::new();
    assert_eq!(
        id.set(0x80, &[0; 245]),
        Err(DeviceIdError::TooLong { id: 0x80, len: 245 })
    );
    id.set(0x80, &[0x33; 244]).unwrap();
    let srv = id_server(id);
    let sent = ask(&srv, "00 01  00 00  00 05  01  2B 0E 04 80");
    assert_hex(
        &sent[..16],
        "00 01  00 00  00 FE  01  2B 0E 04 83 00 00 01  80 F4",
    );
    assert_eq!(sent.len(), 7 + 253);
    // In a stream it goes on a page of its own after the basic objects.
    let sent = ask(&srv, "00 02  00 00  00 05  01  2B 0E 03 00");
    assert_hex(
        &sent,
        "00 02  00 00  00 0E  01  2B 0E 03 83 FF 80 03  00 00  01 00  02 00",
    );
}

/// Bullet "MEI type other than 0x0E: exception 2"; "no identification
/// configured: exception 2"; "read code 1..=4 else exception 3".
#[test]
fn device_id_mei_type_and_read_code() {
    let srv = id_server(sample_id());
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0D 01 00"),
        "00 01  00 00  00 03  01  AB 02",
    );
    assert_hex(
        &ask(&srv, "00 01  00 00  00 05  01  2B 0E 05 00"),
        "00 01  00 00  00 03  01  AB 03",
    );
    assert_hex(
        &ask(&server(), "00 01  00 00  00 05  01  2B 0E 01 00"),
        "00 01  00 00  00 03  01  AB 02",
    );
}

// ===================================================================
// Data bank semantics
// ===================================================================

type RecServer = Mutex<Service<DataBank<HeapStorage, Recorder>>>;

fn rec_server() -> RecServer {
    Mutex::new(Service::new(DataBank::with_callbacks(
        HeapStorage::default(),
        Recorder::default(),
    )))
}

fn take_changes(srv: &RecServer) -> Vec<Change> {
    std::mem::take(&mut srv.lock().unwrap().data_bank.callbacks_mut().0)
}

fn session(tid: u16, unit: u8, function: FunctionCode) -> SessionInfo<'static> {
    SessionInfo {
        client_addr: Some(client_addr()),
        unit_id: unit,
        transaction_id: tid,
        function_code: function,
        identity: None,
    }
}

/// "Change callbacks fire only for writes that came from a Modbus request
/// (FC 5/15 coils; FC 6/16/22/23 registers)", "local writes fire no callback",
/// with "the session information (client address and port, unit id,
/// transaction id, function code)".
#[test]
fn callbacks_only_for_modbus_writes_with_session() {
    let srv = rec_server();
    {
        let bank = &mut srv.lock().unwrap().data_bank;
        bank.set_coils(0, &[true; 4]).unwrap();
        bank.set_holding_registers(0, &[9; 4]).unwrap();
        bank.set_input_registers(0, &[9; 4]).unwrap();
        bank.set_discrete_inputs(0, &[true; 4]).unwrap();
    }
    assert!(take_changes(&srv).is_empty(), "local writes fire nothing");
    // Reads fire nothing either.
    ask(&srv, "00 01  00 00  00 06  01  03 00 00 00 04");
    ask(&srv, "00 01  00 00  00 06  01  01 00 00 00 04");
    assert!(take_changes(&srv).is_empty());

    ask(&srv, "00 05  00 00  00 06  21  05 00 00 00 00");
    ask(&srv, "00 0F  00 00  00 08  22  0F 00 01 00 01 01 00");
    ask(&srv, "00 06  00 00  00 06  23  06 00 00 00 01");
    ask(&srv, "00 10  00 00  00 09  24  10 00 01 00 01 02 00 02");
    ask(&srv, "00 16  00 00  00 08  25  16 00 02 00 00 00 03");
    ask(
        &srv,
        "00 17  00 00  00 0D  26  17 00 00 00 01 00 03 00 01 02 00 04",
    );
    let coil = |tid, unit, fc, address| Change::Coils {
        address,
        from: vec![true],
        to: vec![false],
        session: session(tid, unit, fc),
    };
    let reg = |tid, unit, fc, address, to| Change::Registers {
        address,
        from: vec![9],
        to: vec![to],
        session: session(tid, unit, fc),
    };
    assert_eq!(
        take_changes(&srv),
        [
            coil(0x05, 0x21, FunctionCode::WriteSingleCoil, 0),
            coil(0x0F, 0x22, FunctionCode::WriteMultipleCoils, 1),
            reg(0x06, 0x23, FunctionCode::WriteSingleRegister, 0, 1),
            reg(0x10, 0x24, FunctionCode::WriteMultipleRegisters, 1, 2),
            reg(0x16, 0x25, FunctionCode::MaskWriteRegister, 2, 3),
            reg(0x17, 0x26, FunctionCode::ReadWriteMultipleRegisters, 3, 4),
        ]
    );
}

/// "Only for values that actually changed", "each contiguous run of changed
/// values as one call".
#[test]
fn callbacks_only_changed_values_in_contiguous_runs() {
    let srv = rec_server();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(10, &[1, 2, 3, 4, 5, 6])
        .unwrap();
    // Same values: no call.
    ask(
        &srv,
        "00 01  00 00  00 13  01  10 00 0A 00 06 0C 00 01 00 02 00 03 00 04 00 05 00 06",
    );
    assert!(take_changes(&srv).is_empty());
    // 1 9 9 4 0 7: runs at 11..=12 and 14..=15.
    ask(
        &srv,
        "00 02  00 00  00 13  01  10 00 0A 00 06 0C 00 01 00 09 00 09 00 04 00 00 00 07",
    );
    let s = session(2, 1, FunctionCode::WriteMultipleRegisters);
    assert_eq!(
        take_changes(&srv),
        [
            Change::Registers {
                address: 11,
                from: vec![2, 3],
                to: vec![9, 9],
                session: s
            },
            Change::Registers {
                address: 14,
                from: vec![5, 6],
                to: vec![0, 7],
                session: s
            },
        ]
    );
    // Coils 0..8 from 0000_0000 to 1011_0110 (LSB first: 0 1 1 0 1 1 0 1).
    ask(&srv, "00 03  00 00  00 08  01  0F 00 00 00 08 01 B6");
    let s = session(3, 1, FunctionCode::WriteMultipleCoils);
    assert_eq!(
        take_changes(&srv),
        [
            Change::Coils {
                address: 1,
                from: vec![false; 2],
                to: vec![true; 2],
                session: s
            },
            Change::Coils {
                address: 4,
                from: vec![false; 2],
                to: vec![true; 2],
                session: s
            },
            Change::Coils {
                address: 7,
                from: vec![false],
                to: vec![true],
                session: s
            },
        ]
    );
    // A single write of the current value: no call.
    ask(&srv, "00 04  00 00  00 06  01  05 00 01 FF 00");
    ask(&srv, "00 04  00 00  00 06  01  06 00 0A 00 01");
    assert!(take_changes(&srv).is_empty());
}

/// A storage that logs every write into a journal shared with the callbacks.
struct Journaled {
    inner: FixedStorage<2, 0, 16, 0>,
    journal: Rc<RefCell<Vec<String>>>,
}

impl Storage for Journaled {
    fn bits_len(&self, table: BitTable) -> usize {
        self.inner.bits_len(table)
    }
    fn words_len(&self, table: WordTable) -> usize {
        self.inner.words_len(table)
    }
    fn get_bits(&self, t: BitTable, a: u16, out: &mut [bool]) -> Result<(), ExceptionCode> {
        self.inner.get_bits(t, a, out)
    }
    fn set_bits(&mut self, t: BitTable, a: u16, v: &[bool]) -> Result<(), ExceptionCode> {
        self.journal.borrow_mut().push(format!("set bits {a}"));
        self.inner.set_bits(t, a, v)
    }
    fn get_words(&self, t: WordTable, a: u16, out: &mut [u16]) -> Result<(), ExceptionCode> {
        self.inner.get_words(t, a, out)
    }
    fn set_words(&mut self, t: WordTable, a: u16, v: &[u16]) -> Result<(), ExceptionCode> {
        self.journal.borrow_mut().push(format!("set words {a}"));
        self.inner.set_words(t, a, v)
    }
}

struct JournalCallbacks(Rc<RefCell<Vec<String>>>);

impl ChangeCallbacks for JournalCallbacks {
    fn on_coils_change(&mut self, a: u16, _: &[bool], _: &[bool], _: &SessionInfo) {
        self.0.borrow_mut().push(format!("coils changed {a}"));
    }
    fn on_holding_registers_change(&mut self, a: u16, _: &[u16], _: &[u16], _: &SessionInfo) {
        self.0.borrow_mut().push(format!("registers changed {a}"));
    }
}

/// "After the write is committed": the storage's write comes before the
/// callback (single-threaded sharing through a `RefCell`).
#[test]
fn callbacks_after_commit() {
    let journal = Rc::new(RefCell::new(Vec::new()));
    let storage = Journaled {
        inner: FixedStorage::new(),
        journal: journal.clone(),
    };
    let srv = RefCell::new(Service::new(DataBank::with_callbacks(
        storage,
        JournalCallbacks(journal.clone()),
    )));
    ask(
        &srv,
        "00 01  00 00  00 0B  01  10 00 02 00 02 04 00 01 00 00",
    );
    ask(&srv, "00 02  00 00  00 06  01  05 00 03 FF 00");
    ask(
        &srv,
        "00 03  00 00  00 0D  01  17 00 00 00 01 00 05 00 01 02 00 08",
    );
    assert_eq!(
        *journal.borrow(),
        [
            "set words 2",
            "registers changed 2",
            "set bits 3",
            "coils changed 3",
            "set words 5",
            "registers changed 5",
        ]
    );
}

/// "Local get/set out of range: an error value, never a panic, never a
/// partial write", seen through a small FixedStorage and Modbus reads.
#[test]
fn local_out_of_range_writes_nothing() {
    let srv = RefCell::new(Service::new(DataBank::new(
        FixedStorage::<1, 1, 4, 4>::new(),
    )));
    assert!(srv
        .borrow_mut()
        .data_bank
        .set_holding_registers(3, &[1, 2])
        .is_err());
    assert!(srv
        .borrow_mut()
        .data_bank
        .set_coils(7, &[true, true])
        .is_err());
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  03 00 00 00 04"),
        "00 01  00 00  00 0B  01  03 08 00 00 00 00 00 00 00 00",
    );
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  01 00 00 00 08"),
        "00 01  00 00  00 04  01  01 01 00",
    );
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  01 00 00 00 09"),
        "00 01  00 00  00 03  01  81 02",
    );
}

// ===================================================================
// Engine timeouts, on virtual time
// ===================================================================

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The idle timeout runs from the last byte received.
#[test]
fn timeout_idle() {
    let srv = server();
    let config = EngineConfig {
        idle_timeout: Some(Duration::from_secs(10)),
        frame_timeout: Some(Duration::from_secs(2)),
    };
    let mut conn = DefaultConn::new(config);
    assert_eq!(conn.engine.poll_timeout(), Some(at(10_000)));
    assert_eq!(conn.engine.handle_timeout(at(9_999)), Ok(()));
    conn.feed(
        &srv,
        &hex("00 01  00 00  00 06  01  03 00 00 00 01"),
        at(4_000),
    );
    assert_eq!(conn.sent.len(), 11);
    // A complete frame leaves no frame deadline; idle restarts at 4 s.
    assert_eq!(conn.engine.poll_timeout(), Some(at(14_000)));
    assert_eq!(conn.engine.handle_timeout(at(13_999)), Ok(()));
    assert_eq!(
        conn.engine.handle_timeout(at(14_000)),
        Err(CloseReason::IdleTimeout)
    );
}

/// A stalled partial frame is closed after the frame timeout, counted from
/// its first byte, even when more bytes of it trickle in.
#[test]
fn timeout_stalled_partial_frame() {
    let srv = server();
    let config = EngineConfig {
        idle_timeout: Some(Duration::from_secs(60)),
        frame_timeout: Some(Duration::from_secs(5)),
    };
    let mut conn = DefaultConn::new(config);
    conn.feed(&srv, &hex("00 01  00 00  00"), at(1_000));
    assert_eq!(conn.engine.poll_timeout(), Some(at(6_000)));
    conn.feed(&srv, &hex("06  01  03"), at(4_000));
    assert!(conn.sent.is_empty());
    assert_eq!(conn.engine.poll_timeout(), Some(at(6_000)));
    assert_eq!(conn.engine.handle_timeout(at(5_999)), Ok(()));
    assert_eq!(
        conn.engine.handle_timeout(at(6_000)),
        Err(CloseReason::FrameTimeout)
    );
}

/// A partial frame completed in time is answered and its deadline cleared;
/// the partial rest of a segment gets its own frame deadline.
#[test]
fn timeout_partial_frame_completed_in_time() {
    let srv = server();
    let mut conn = DefaultConn::new(EngineConfig::default()); // 60 s idle, 5 s frame
    conn.feed(&srv, &hex("00 01  00 00  00 06  01  03"), at(100));
    assert_eq!(conn.engine.poll_timeout(), Some(at(5_100)));
    // The rest of the frame and the first 3 bytes of the next one.
    conn.feed(&srv, &hex("00 00 00 01   00 02  00"), at(3_000));
    assert_hex(&conn.take_sent(), "00 01  00 00  00 05  01  03 02 00 00");
    assert_eq!(conn.engine.pending_input(), 3);
    assert_eq!(conn.engine.poll_timeout(), Some(at(8_000)));
    conn.feed(&srv, &hex("00  00 06  01  03 00 00 00 01"), at(7_000));
    assert_hex(&conn.sent, "00 02  00 00  00 05  01  03 02 00 00");
    assert_eq!(conn.engine.poll_timeout(), Some(at(67_000)));
    assert_eq!(conn.engine.handle_timeout(at(66_999)), Ok(()));
}

/// `None` disables a timeout; with both disabled there is no deadline.
#[test]
fn timeout_disabled() {
    let srv = server();
    let none = EngineConfig {
        idle_timeout: None,
        frame_timeout: None,
    };
    let mut conn = DefaultConn::new(none);
    assert_eq!(conn.engine.poll_timeout(), None);
    conn.feed(&srv, &hex("00 01  00"), at(1));
    assert_eq!(conn.engine.poll_timeout(), None);
    assert_eq!(
        conn.engine.handle_timeout(Instant::from_micros(u64::MAX)),
        Ok(())
    );

    let frame_only = EngineConfig {
        idle_timeout: None,
        frame_timeout: Some(Duration::from_millis(250)),
    };
    let mut conn = DefaultConn::new(frame_only);
    assert_eq!(conn.engine.poll_timeout(), None, "no partial frame yet");
    conn.feed(&srv, &hex("00 01  00"), at(1_000));
    assert_eq!(conn.engine.poll_timeout(), Some(at(1_250)));
    assert_eq!(
        conn.engine.handle_timeout(at(1_250)),
        Err(CloseReason::FrameTimeout)
    );
}

/// A deadline near the end of the clock saturates instead of overflowing.
#[test]
fn timeout_saturates_at_end_of_time() {
    let mut conn: Conn<260, 260> = Conn {
        engine: modbus_device::Engine::new(
            EngineConfig::default(),
            None,
            Instant::from_micros(u64::MAX - 10),
        ),
        sent: Vec::new(),
        writes: 0,
        closed: None,
    };
    assert_eq!(
        conn.engine.poll_timeout(),
        Some(Instant::from_micros(u64::MAX))
    );
    assert_eq!(
        conn.engine
            .handle_timeout(Instant::from_micros(u64::MAX - 1)),
        Ok(())
    );
    conn.closed = conn
        .engine
        .handle_timeout(Instant::from_micros(u64::MAX))
        .err();
    assert_eq!(conn.closed, Some(CloseReason::IdleTimeout));
}

/// Release issue, FC 22 / FC 23 bypass: a handler that restricts
/// `read_h_regs` and `write_h_regs` (as the `custom_handler` example does)
/// holds for every function that reaches the holding registers. FC 22 and
/// FC 23 are refused exactly as FC 3 and FC 6 / 16 are, and a refused
/// request leaves the table as it was, even when FC 23's read is refused
/// after its write went through the handler.
#[test]
fn restricting_handler_holds_for_combined_functions() {
    /// Reads must end at or below 1000; values must not exceed 1000.
    struct Restricting;
    impl DataHandler for Restricting {
        fn read_h_regs(
            &mut self,
            bank: &mut dyn Bank,
            address: u16,
            out: &mut [u16],
            srv_info: &SessionInfo,
        ) -> Result<(), ExceptionCode> {
            if usize::from(address) + out.len() > 1000 {
                return Err(ExceptionCode::IllegalFunction);
            }
            bank.read_h_regs(address, out, srv_info)
        }
        fn write_h_regs(
            &mut self,
            bank: &mut dyn Bank,
            address: u16,
            words_l: &[u16],
            srv_info: &SessionInfo,
        ) -> Result<(), ExceptionCode> {
            if words_l.iter().any(|&w| w > 1000) {
                return Err(ExceptionCode::IllegalDataValue);
            }
            bank.write_h_regs(address, words_l, srv_info)
        }
    }
    let srv = Mutex::new(Service::with_handler(DataBank::default(), Restricting));
    let initial = [1, 2, 3];
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(0, &initial)
        .unwrap();
    srv.lock()
        .unwrap()
        .data_bank
        .set_holding_registers(998, &[8, 9, 10])
        .unwrap();
    let table = |srv: &Mutex<Service<DataBank<HeapStorage>, Restricting>>| {
        let mut regs = [0; 3];
        srv.lock()
            .unwrap()
            .data_bank
            .get_holding_registers(0, &mut regs)
            .unwrap();
        regs
    };
    // (request PDU, expected response PDU): value refusals (exception 3).
    let refused_values = [
        ("06 00 00 13 88", "86 03"),                      // FC 6: 5000
        ("10 00 00 00 01 02 13 88", "90 03"),             // FC 16: 5000
        ("17 00 00 00 01 00 00 00 01 02 13 88", "97 03"), // FC 23: write 5000 at 0
        ("16 00 01 00 00 FF FF", "96 03"),                // FC 22: register 1 -> 0xFFFF
    ];
    // Address refusals (exception 1): the whole range counts.
    let refused_reads = [
        ("03 03 E6 00 03", "83 01"), // FC 3: 998 x3 reaches 1000
        ("17 03 E6 00 03 00 00 00 01 02 00 07", "97 01"), // FC 23: read refused after the write
        ("16 03 E8 FF FF 00 00", "96 01"), // FC 22 at 1000
    ];
    for (tid, (request, expected)) in refused_values.iter().chain(&refused_reads).enumerate() {
        let tid = tid as u16;
        let sent = exchange(&srv, &mbap_frame(tid, 1, &hex(request))).0;
        assert_eq!(sent, mbap_frame(tid, 1, &hex(expected)), "{request}");
        assert_eq!(table(&srv), initial, "{request} changed the table");
    }
    // Within the limits, the combined functions still work.
    assert_hex(
        &ask(
            &srv,
            "00 20  00 00  00 0D  01  17 00 00 00 02 00 00 00 01 02 00 07",
        ),
        "00 20  00 00  00 07  01  17 04 00 07 00 02",
    );
    assert_hex(
        &ask(&srv, "00 21  00 00  00 08  01  16 00 02 00 F0 00 05"),
        "00 21  00 00  00 08  01  16 00 02 00 F0 00 05",
    );
    assert_eq!(table(&srv), [7, 2, 5]);
}
