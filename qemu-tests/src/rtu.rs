//! Modbus RTU vectors on the Cortex-M3 (feature `rtu` of the library): the
//! CRC of the serial specification's example, a frame answered after t3.5
//! of silence and not before, a t1.5 gap, a CRC error counted (FC 8 0x0C),
//! another address ignored and a broadcast executed without a response, on
//! virtual time. CRC bytes from the bitwise procedure of "Modbus over
//! Serial Line V1.02", appendix B.

use modbus_device::rtu::{crc16, RtuConfig, RtuEngine};
use modbus_device::Instant;

use crate::{service, Verdict};

/// FC 3, registers 108..=110 (the application protocol's example), to 0x11.
const READ: [u8; 8] = [0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87];
const READ_REPLY: [u8; 11] = [
    0x11, 0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64, 0xC8, 0xBA,
];

fn us(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

fn feed(engine: &mut RtuEngine, bytes: &[u8], now: Instant) {
    if let Some(room) = engine.input_buffer().get_mut(..bytes.len()) {
        room.copy_from_slice(bytes);
        engine.handle_input(bytes.len(), now);
    }
}

pub fn rtu_vectors(v: &mut Verdict) {
    v.check_that("CRC of 02 07 is 0x1241", crc16(&[0x02, 0x07]) == 0x1241);
    let svc = service();
    // 19,200 baud: t1.5 = 860 µs, t3.5 = 2,006 µs.
    let mut engine = RtuEngine::new(RtuConfig::serial(0x11, 19_200), None, Instant::ZERO);

    feed(&mut engine, &READ, us(10_000));
    let _ = engine.handle_timeout(us(12_005));
    v.check("no answer before t3.5", engine.poll_output(&svc), &[]);
    v.check_that("t3.5 deadline", engine.poll_timeout() == Some(us(12_006)));
    let _ = engine.handle_timeout(us(12_006));
    v.check("FC 3 after t3.5", engine.poll_output(&svc), &READ_REPLY);
    engine.handle_output_written(us(13_000));

    // 900 µs of silence after 4 bytes: the frame is discarded.
    feed(&mut engine, &READ[..4], us(20_000));
    feed(&mut engine, &READ[4..], us(20_000 + 900 + 4 * 573));
    let _ = engine.handle_timeout(us(30_000));
    v.check("t1.5 gap discards", engine.poll_output(&svc), &[]);

    // A CRC error, another address, then the error count: 1.
    let mut bad = READ;
    bad[7] ^= 0x01;
    feed(&mut engine, &bad, us(40_000));
    let _ = engine.handle_timeout(us(50_000));
    v.check("CRC error: no answer", engine.poll_output(&svc), &[]);
    let other = [0x12, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0xB4];
    feed(&mut engine, &other, us(60_000));
    let _ = engine.handle_timeout(us(70_000));
    v.check("another address: no answer", engine.poll_output(&svc), &[]);
    feed(
        &mut engine,
        &[0x11, 0x08, 0x00, 0x0C, 0x00, 0x00, 0x22, 0x98],
        us(80_000),
    );
    engine.handle_idle_line(us(80_100));
    v.check(
        "FC 8 0x0C counts the CRC error (idle-line end)",
        engine.poll_output(&svc),
        &[0x11, 0x08, 0x00, 0x0C, 0x00, 0x01, 0xE3, 0x58],
    );
    engine.handle_output_written(us(81_000));

    // Broadcast FC 6: register 21 = 0x00AB, no answer; then read it back.
    feed(
        &mut engine,
        &[0x00, 0x06, 0x00, 0x15, 0x00, 0xAB, 0xD8, 0x60],
        us(90_000),
    );
    let _ = engine.handle_timeout(us(100_000));
    v.check("broadcast: no answer", engine.poll_output(&svc), &[]);
    feed(
        &mut engine,
        &[0x11, 0x03, 0x00, 0x15, 0x00, 0x01, 0x97, 0x5E],
        us(110_000),
    );
    let _ = engine.handle_timeout(us(120_000));
    v.check(
        "broadcast executed",
        engine.poll_output(&svc),
        &[0x11, 0x03, 0x02, 0x00, 0xAB, 0x38, 0x38],
    );

    // Above 19,200 baud t3.5 is the fixed 1,750 µs.
    let mut fast = RtuEngine::new(RtuConfig::serial(0x11, 115_200), None, Instant::ZERO);
    feed(&mut fast, &READ, us(1_000));
    v.check_that(
        "115,200 baud: t3.5 = 1,750 µs",
        fast.poll_timeout() == Some(us(2_750)),
    );
}
