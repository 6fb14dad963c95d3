//! The sans-IO core on a Cortex-M3 (QEMU mps2-an385), without std or a heap:
//! `FixedStorage` tables, a `RefCell`-shared `Service`, and request/response
//! vectors compared byte for byte. The exit status (semihosting) is the
//! verdict: 0 when every vector matched, 1 otherwise or on a panic.
#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
// Modbus RTU vectors (feature `rtu`).
mod rtu;

use modbus_device::{
    CloseReason, DataBank, DeviceIdentification, Engine, EngineConfig, FixedStorage, Instant,
    Service,
};

/// 256 coils, 256 discrete inputs, 128 holding and 16 input registers:
/// large enough for the specification's examples, small enough that
/// addresses past the end are exception 2.
type Tables = FixedStorage<32, 32, 128, 16>;
type Svc = Service<DataBank<Tables>>;
/// The smallest buffers the engine accepts: batching stops at one response.
type Conn = Engine<260, 260>;

/// Counts vectors and failures; prints each failure.
struct Verdict {
    checked: u32,
    failed: u32,
}

impl Verdict {
    fn check(&mut self, name: &str, got: &[u8], expected: &[u8]) {
        self.checked += 1;
        if got != expected {
            self.failed += 1;
            hprintln!(
                "FAIL {}:\n  got      {:02X?}\n  expected {:02X?}",
                name,
                got,
                expected
            );
        }
    }

    fn fail(&mut self, name: &str, closed: CloseReason) {
        self.checked += 1;
        self.failed += 1;
        hprintln!("FAIL {}: connection closed: {}", name, closed);
    }

    fn check_that(&mut self, name: &str, ok: bool) {
        self.checked += 1;
        if !ok {
            self.failed += 1;
            hprintln!("FAIL {}", name);
        }
    }
}

/// A fresh service with the values the specification's examples read.
fn service() -> RefCell<Svc> {
    let mut bank = DataBank::new(Tables::new());
    // FC 0x01 example: coils 20..=38 (addresses 19..=37) read as CD 6B 05.
    let coils = bits_of(&[0xCD, 0x6B, 0x05], 19);
    bank.set_coils(19, &coils[..19]).unwrap();
    // FC 0x02 example: inputs 197..=218 (addresses 196..=217) read as AC DB 35.
    let inputs = bits_of(&[0xAC, 0xDB, 0x35], 22);
    bank.set_discrete_inputs(196, &inputs[..22]).unwrap();
    // FC 0x03 example: registers 108..=110 (addresses 107..=109).
    bank.set_holding_registers(107, &[0x022B, 0x0000, 0x0064])
        .unwrap();
    // FC 0x17 example: registers 4..=9 (addresses 3..=8).
    bank.set_holding_registers(3, &[0x00FE, 0x0ACD, 0x0001, 0x0003, 0x000D, 0x00FF])
        .unwrap();
    // FC 0x16 example: register 5 (address 20 here, away from the above) holds 0x12.
    bank.set_holding_registers(20, &[0x0012]).unwrap();
    // FC 0x04 example: input register 9 (address 8).
    bank.set_input_registers(8, &[0x000A]).unwrap();
    RefCell::new(Service::new(bank))
}

/// Unpacks `n` bits, least significant bit of the first byte first.
fn bits_of(bytes: &[u8], n: usize) -> [bool; 32] {
    let mut bits = [false; 32];
    for (i, bit) in bits.iter_mut().enumerate().take(n) {
        *bit = bytes[i / 8] >> (i % 8) & 1 == 1;
    }
    bits
}

/// An ADU around `pdu`: transaction id `tid`, unit 1.
fn adu(tid: u16, pdu: &[u8], buf: &mut [u8; 260]) -> usize {
    let [t0, t1] = tid.to_be_bytes();
    let [l0, l1] = (pdu.len() as u16 + 1).to_be_bytes();
    buf[..7].copy_from_slice(&[t0, t1, 0, 0, l0, l1, 1]);
    buf[7..7 + pdu.len()].copy_from_slice(pdu);
    7 + pdu.len()
}

/// Sends one request in one read and returns the engine's whole answer.
fn exchange<'e>(
    engine: &'e mut Conn,
    svc: &RefCell<Svc>,
    bytes: &[u8],
) -> Result<&'e [u8], CloseReason> {
    engine.input_buffer()[..bytes.len()].copy_from_slice(bytes);
    engine.handle_input(bytes.len(), Instant::from_millis(1));
    engine.poll_output(svc)
}

/// Request PDU and response PDU, both as in the specification's examples.
const SPEC_EXAMPLES: &[(&str, &[u8], &[u8])] = &[
    (
        "FC01 read coils 20-38",
        &[0x01, 0x00, 0x13, 0x00, 0x13],
        &[0x01, 0x03, 0xCD, 0x6B, 0x05],
    ),
    (
        "FC02 read inputs 197-218",
        &[0x02, 0x00, 0xC4, 0x00, 0x16],
        &[0x02, 0x03, 0xAC, 0xDB, 0x35],
    ),
    (
        "FC03 read registers 108-110",
        &[0x03, 0x00, 0x6B, 0x00, 0x03],
        &[0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64],
    ),
    (
        "FC04 read input register 9",
        &[0x04, 0x00, 0x08, 0x00, 0x01],
        &[0x04, 0x02, 0x00, 0x0A],
    ),
    (
        "FC05 write coil 173 ON",
        &[0x05, 0x00, 0xAC, 0xFF, 0x00],
        &[0x05, 0x00, 0xAC, 0xFF, 0x00],
    ),
    (
        "FC01 read back coil 173",
        &[0x01, 0x00, 0xAC, 0x00, 0x01],
        &[0x01, 0x01, 0x01],
    ),
    (
        "FC06 write register 2",
        &[0x06, 0x00, 0x01, 0x00, 0x03],
        &[0x06, 0x00, 0x01, 0x00, 0x03],
    ),
    (
        "FC0F write 10 coils from 20",
        &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
        &[0x0F, 0x00, 0x13, 0x00, 0x0A],
    ),
    (
        "FC01 read back 10 coils",
        &[0x01, 0x00, 0x13, 0x00, 0x0A],
        &[0x01, 0x02, 0xCD, 0x01],
    ),
    (
        "FC10 write 2 registers from 2",
        &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
        &[0x10, 0x00, 0x01, 0x00, 0x02],
    ),
    (
        "FC03 read back registers 2-3",
        &[0x03, 0x00, 0x01, 0x00, 0x02],
        &[0x03, 0x04, 0x00, 0x0A, 0x01, 0x02],
    ),
    (
        "FC16 mask write 0x12 & F2 | 25",
        &[0x16, 0x00, 0x14, 0x00, 0xF2, 0x00, 0x25],
        &[0x16, 0x00, 0x14, 0x00, 0xF2, 0x00, 0x25],
    ),
    (
        "FC03 read back masked 0x17",
        &[0x03, 0x00, 0x14, 0x00, 0x01],
        &[0x03, 0x02, 0x00, 0x17],
    ),
    (
        "FC17 read 6 from 4, write 3 at 15",
        &[
            0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF,
            0x00, 0xFF,
        ],
        &[
            0x17, 0x0C, 0x00, 0xFE, 0x0A, 0xCD, 0x00, 0x01, 0x00, 0x03, 0x00, 0x0D, 0x00, 0xFF,
        ],
    ),
    (
        "FC03 read back FC17 write",
        &[0x03, 0x00, 0x0E, 0x00, 0x03],
        &[0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF],
    ),
];

/// Requests answered with an exception (behaviour.md), against `Tables`.
const EXCEPTIONS: &[(&str, &[u8], &[u8])] = &[
    ("unsupported FC07", &[0x07], &[0x87, 0x01]),
    ("unsupported FC42 alone", &[0x42], &[0xC2, 0x01]),
    (
        "FC 0x81 keeps its byte",
        &[0x81, 0x00, 0x00, 0x00, 0x01],
        &[0x81, 0x01],
    ),
    ("FC03 function byte only", &[0x03], &[0x83, 0x03]),
    ("FC03 short PDU", &[0x03, 0x00, 0x00, 0x00], &[0x83, 0x03]),
    (
        "FC03 quantity 0",
        &[0x03, 0x00, 0x00, 0x00, 0x00],
        &[0x83, 0x03],
    ),
    (
        "FC03 quantity 126",
        &[0x03, 0x00, 0x00, 0x00, 0x7E],
        &[0x83, 0x03],
    ),
    (
        "FC03 past the table end",
        &[0x03, 0x00, 0x7F, 0x00, 0x02],
        &[0x83, 0x02],
    ),
    (
        "FC03 last register",
        &[0x03, 0x00, 0x7F, 0x00, 0x01],
        &[0x03, 0x02, 0x00, 0x00],
    ),
    (
        "FC01 quantity 2001",
        &[0x01, 0x00, 0x00, 0x07, 0xD1],
        &[0x81, 0x03],
    ),
    (
        "FC01 past the table end",
        &[0x01, 0x00, 0xFF, 0x00, 0x02],
        &[0x81, 0x02],
    ),
    (
        "FC02 past the table end",
        &[0x02, 0x01, 0x00, 0x00, 0x01],
        &[0x82, 0x02],
    ),
    (
        "FC04 past the table end",
        &[0x04, 0x00, 0x0F, 0x00, 0x02],
        &[0x84, 0x02],
    ),
    (
        "FC05 value 0x1234",
        &[0x05, 0x00, 0x00, 0x12, 0x34],
        &[0x85, 0x03],
    ),
    (
        "FC05 past the table end",
        &[0x05, 0x01, 0x00, 0xFF, 0x00],
        &[0x85, 0x02],
    ),
    (
        "FC06 past the table end",
        &[0x06, 0x00, 0x80, 0x00, 0x01],
        &[0x86, 0x02],
    ),
    (
        "FC0F byte count short",
        &[0x0F, 0x00, 0x00, 0x00, 0x0A, 0x01, 0xFF],
        &[0x8F, 0x03],
    ),
    (
        "FC10 byte count != 2*qty",
        &[0x10, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x01, 0x00],
        &[0x90, 0x03],
    ),
    (
        "FC10 quantity 124",
        &[0x10, 0x00, 0x00, 0x00, 0x7C, 0xF8],
        &[0x90, 0x03],
    ),
    (
        "FC16 past the table end",
        &[0x16, 0x00, 0x80, 0xFF, 0xFF, 0x00, 0x00],
        &[0x96, 0x02],
    ),
    (
        "FC17 write past the end, nothing written",
        &[
            0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x7F, 0x00, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78,
        ],
        &[0x97, 0x02],
    ),
    (
        "FC2B without identification",
        &[0x2B, 0x0E, 0x01, 0x00],
        &[0xAB, 0x02],
    ),
    ("FC2B MEI 0x0D", &[0x2B, 0x0D, 0x01, 0x00], &[0xAB, 0x02]),
];

fn spec_examples(v: &mut Verdict) {
    let svc = service();
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    let mut request = [0u8; 260];
    let mut expected = [0u8; 260];
    for (i, &(name, pdu, response)) in SPEC_EXAMPLES.iter().chain(EXCEPTIONS).enumerate() {
        let tid = 0x0100 + i as u16;
        let n = adu(tid, pdu, &mut request);
        let m = adu(tid, response, &mut expected);
        match exchange(&mut engine, &svc, &request[..n]) {
            Ok(got) => v.check(name, got, &expected[..m]),
            Err(e) => v.fail(name, e),
        }
    }
    // The FC17 write past the end wrote nothing (the pair is atomic).
    let mut r = [0u16; 1];
    svc.borrow()
        .data_bank
        .get_holding_registers(0x7F, &mut r)
        .unwrap();
    v.check_that("FC17 refused write left register 128 alone", r == [0]);
}

/// The application and the engine share the service through a RefCell: a
/// local write is seen by the next request, a Modbus write by the application.
fn refcell_sharing(v: &mut Verdict) {
    let svc = service();
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    svc.borrow_mut()
        .data_bank
        .set_input_registers(0, &[0xBEEF, 0x0102])
        .unwrap();
    let got = exchange(&mut engine, &svc, &[0, 9, 0, 0, 0, 6, 7, 0x04, 0, 0, 0, 2]);
    v.check(
        "engine reads a local write",
        got.unwrap_or(&[]),
        &[0, 9, 0, 0, 0, 7, 7, 0x04, 4, 0xBE, 0xEF, 0x01, 0x02],
    );
    let got = exchange(
        &mut engine,
        &svc,
        &[0, 10, 0, 0, 0, 6, 7, 0x06, 0, 50, 0xAB, 0xCD],
    );
    v.check(
        "FC06 response",
        got.unwrap_or(&[]),
        &[0, 10, 0, 0, 0, 6, 7, 0x06, 0, 50, 0xAB, 0xCD],
    );
    let mut r = [0u16; 1];
    svc.borrow()
        .data_bank
        .get_holding_registers(50, &mut r)
        .unwrap();
    v.check_that("application reads a Modbus write", r == [0xABCD]);
}

/// Three requests in one read: three responses in order. With 260-byte
/// output buffers one poll holds one response, so they come in three polls.
fn pipelining(v: &mut Verdict) {
    let svc = service();
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    let three = [
        0, 1, 0, 0, 0, 6, 1, 0x03, 0, 0x6B, 0, 1, // read 108
        0, 2, 0, 0, 0, 6, 1, 0x06, 0, 0x6B, 0x12, 0x34, // write 108
        0, 3, 0, 0, 0, 6, 1, 0x03, 0, 0x6B, 0, 1, // read 108 again
    ];
    let expected: [&[u8]; 3] = [
        &[0, 1, 0, 0, 0, 5, 1, 0x03, 2, 0x02, 0x2B],
        &[0, 2, 0, 0, 0, 6, 1, 0x06, 0, 0x6B, 0x12, 0x34],
        &[0, 3, 0, 0, 0, 5, 1, 0x03, 2, 0x12, 0x34],
    ];
    let first = exchange(&mut engine, &svc, &three);
    v.check("pipelined 1", first.unwrap_or(&[]), expected[0]);
    for (i, name) in [(1, "pipelined 2"), (2, "pipelined 3")] {
        let got = engine.poll_output(&svc);
        v.check(name, got.unwrap_or(&[]), expected[i]);
    }
    v.check(
        "pipeline drained",
        engine.poll_output(&svc).unwrap_or(&[1]),
        &[],
    );

    // A larger output buffer answers the whole batch in one poll.
    let mut big: Engine<260, 1024> = Engine::new(EngineConfig::default(), None, Instant::ZERO);
    let svc = service();
    big.input_buffer()[..three.len()].copy_from_slice(&three);
    big.handle_input(three.len(), Instant::ZERO);
    let mut all = [0u8; 34];
    all[..11].copy_from_slice(expected[0]);
    all[11..23].copy_from_slice(expected[1]);
    all[23..].copy_from_slice(expected[2]);
    v.check(
        "pipelined batch",
        big.poll_output(&svc).unwrap_or(&[]),
        &all,
    );

    // A good request then a broken header: the response, then the close.
    let svc = service();
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    let good_then_bad = [
        0, 4, 0, 0, 0, 6, 1, 0x04, 0, 8, 0, 1, // read input 9
        0, 5, 0, 1, 0, 6, 1, 0x04, 0, 8, 0, 1, // protocol id 1
    ];
    let got = exchange(&mut engine, &svc, &good_then_bad);
    v.check(
        "response before a broken header",
        got.unwrap_or(&[]),
        &[0, 4, 0, 0, 0, 5, 1, 0x04, 2, 0, 0x0A],
    );
    v.check_that(
        "broken header closes",
        matches!(engine.poll_output(&svc), Err(CloseReason::Frame(_))),
    );
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    let length_255 = [0, 6, 0, 0, 0, 0xFF, 1, 0x03];
    v.check_that(
        "length 255 closes",
        matches!(
            exchange(&mut engine, &svc, &length_255),
            Err(CloseReason::Frame(_))
        ),
    );
}

/// A request arriving one byte at a time, and two requests split across
/// reads at every position: nothing until a frame is complete.
fn split_frames(v: &mut Verdict) {
    let svc = service();
    let two = [
        0, 7, 0, 0, 0, 6, 9, 0x03, 0, 0x6B, 0, 3, // read 108..=110
        0, 8, 0, 0, 0, 6, 9, 0x01, 0, 0x13, 0, 0x13, // read coils 20..=38
    ];
    let responses: [&[u8]; 2] = [
        &[0, 7, 0, 0, 0, 9, 9, 0x03, 6, 0x02, 0x2B, 0, 0, 0, 0x64],
        &[0, 8, 0, 0, 0, 6, 9, 0x01, 3, 0xCD, 0x6B, 0x05],
    ];
    // One byte per read.
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    let mut answered = 0;
    let mut early = false;
    for (i, &byte) in two.iter().enumerate() {
        engine.input_buffer()[0] = byte;
        engine.handle_input(1, Instant::from_millis(i as u64));
        match engine.poll_output(&svc) {
            Ok([]) => {}
            Ok(got) => {
                early |= !(i == 11 || i == 23);
                if answered < 2 {
                    v.check("byte-by-byte response", got, responses[answered]);
                }
                answered += 1;
            }
            Err(_) => early = true,
        }
    }
    v.check_that(
        "byte by byte: two responses, each at its last byte",
        answered == 2 && !early,
    );

    // Every split point of the pair into two reads.
    let mut all_ok = true;
    for cut in 1..two.len() {
        let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
        let mut got_count = 0;
        for part in [&two[..cut], &two[cut..]] {
            engine.input_buffer()[..part.len()].copy_from_slice(part);
            engine.handle_input(part.len(), Instant::ZERO);
            // At most two responses: bounded drain.
            for _ in 0..3 {
                match engine.poll_output(&svc) {
                    Ok([]) => break,
                    Ok(got) => {
                        all_ok &= got_count < 2 && got == responses[got_count];
                        got_count += 1;
                    }
                    Err(_) => all_ok = false,
                }
            }
        }
        all_ok &= got_count == 2 && engine.pending_input() == 0;
    }
    v.check_that("split at every position", all_ok);

    // An incomplete frame times out; the idle timeout closes a silent one.
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    engine.input_buffer()[..5].copy_from_slice(&two[..5]);
    engine.handle_input(5, Instant::from_millis(1000));
    v.check_that(
        "frame deadline",
        engine.poll_timeout() == Some(Instant::from_millis(6000)),
    );
    v.check_that(
        "frame timeout",
        engine.handle_timeout(Instant::from_millis(6000)) == Err(CloseReason::FrameTimeout),
    );
}

/// Device identification: each read code, paging and the errors.
fn device_identification(v: &mut Verdict) {
    let mut id = DeviceIdentification::new();
    id.set_vendor_name(b"Company").unwrap();
    id.set_product_code(b"P1").unwrap();
    id.set_major_minor_revision(b"1.0").unwrap();
    id.set_product_name(b"Pump").unwrap();
    id.set(0x80, &[b'a'; 200]).unwrap();
    id.set(0x81, &[b'b'; 100]).unwrap();
    v.check_that(
        "heapless identification refuses 245 bytes",
        id.set(0x90, &[0; 245]).is_err(),
    );
    let svc = service();
    svc.borrow_mut().device_identification = Some(id);
    let mut engine = Conn::new(EngineConfig::default(), None, Instant::ZERO);
    let mut request = [0u8; 260];
    let mut expected = [0u8; 260];

    let basic: &[u8] = &[
        0x2B, 0x0E, 0x01, 0x83, 0x00, 0x00, 0x03, //
        0x00, 7, b'C', b'o', b'm', b'p', b'a', b'n', b'y', //
        0x01, 2, b'P', b'1', //
        0x02, 3, b'1', b'.', b'0',
    ];
    let n = adu(0x2B01, &[0x2B, 0x0E, 0x01, 0x00], &mut request);
    let m = adu(0x2B01, basic, &mut expected);
    v.check(
        "basic stream",
        exchange(&mut engine, &svc, &request[..n]).unwrap_or(&[]),
        &expected[..m],
    );

    // Regular stream from a missing object (0x03) restarts at 0x00.
    let mut regular = [0u8; 31];
    regular[..basic.len()].copy_from_slice(basic);
    regular[2] = 0x02;
    regular[6] = 0x04;
    regular[basic.len()..].copy_from_slice(&[0x04, 4, b'P', b'u', b'm', b'p']);
    let n = adu(0x2B02, &[0x2B, 0x0E, 0x02, 0x03], &mut request);
    let m = adu(0x2B02, &regular, &mut expected);
    v.check(
        "regular stream restarts",
        exchange(&mut engine, &svc, &request[..n]).unwrap_or(&[]),
        &expected[..m],
    );

    // Extended stream: 0x80 (200 bytes) fits, 0x81 does not: page 1 ends with
    // more follows 0xFF and next id 0x81; page 2 holds 0x81 alone.
    let mut page = [0u8; 253];
    page[..31].copy_from_slice(&regular);
    page[2] = 0x03;
    page[4] = 0xFF;
    page[5] = 0x81;
    page[6] = 0x05;
    page[31] = 0x80;
    page[32] = 200;
    page[33..233].fill(b'a');
    let n = adu(0x2B03, &[0x2B, 0x0E, 0x03, 0x00], &mut request);
    let m = adu(0x2B03, &page[..233], &mut expected);
    v.check(
        "extended stream page 1",
        exchange(&mut engine, &svc, &request[..n]).unwrap_or(&[]),
        &expected[..m],
    );
    page[..9].copy_from_slice(&[0x2B, 0x0E, 0x03, 0x83, 0x00, 0x00, 0x01, 0x81, 100]);
    page[9..109].fill(b'b');
    let n = adu(0x2B04, &[0x2B, 0x0E, 0x03, 0x81], &mut request);
    let m = adu(0x2B04, &page[..109], &mut expected);
    v.check(
        "extended stream page 2",
        exchange(&mut engine, &svc, &request[..n]).unwrap_or(&[]),
        &expected[..m],
    );

    // Individual access.
    let n = adu(0x2B05, &[0x2B, 0x0E, 0x04, 0x04], &mut request);
    let m = adu(
        0x2B05,
        &[
            0x2B, 0x0E, 0x04, 0x83, 0x00, 0x00, 0x01, 0x04, 4, b'P', b'u', b'm', b'p',
        ],
        &mut expected,
    );
    v.check(
        "individual object",
        exchange(&mut engine, &svc, &request[..n]).unwrap_or(&[]),
        &expected[..m],
    );
    for (name, pdu, response) in [
        (
            "individual missing object",
            [0x2B, 0x0E, 0x04, 0x05],
            [0xAB, 0x02],
        ),
        ("read code 5", [0x2B, 0x0E, 0x05, 0x00], [0xAB, 0x03]),
        ("read code 0", [0x2B, 0x0E, 0x00, 0x00], [0xAB, 0x03]),
    ] {
        let n = adu(0x2B06, &pdu, &mut request);
        let m = adu(0x2B06, &response, &mut expected);
        v.check(
            name,
            exchange(&mut engine, &svc, &request[..n]).unwrap_or(&[]),
            &expected[..m],
        );
    }
}

#[entry]
fn main() -> ! {
    let mut v = Verdict {
        checked: 0,
        failed: 0,
    };
    spec_examples(&mut v);
    refcell_sharing(&mut v);
    pipelining(&mut v);
    split_frames(&mut v);
    device_identification(&mut v);
    rtu::rtu_vectors(&mut v);
    hprintln!("{} checks, {} failed", v.checked, v.failed);
    debug::exit(if v.failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached if the emulator ignores the exit request.
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
