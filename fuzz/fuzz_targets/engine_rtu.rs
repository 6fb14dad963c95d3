//! Arbitrary bytes at arbitrary times through `RtuEngine` + `Service`, on a
//! 19,200-baud serial line (server address 0x11) and on a stream (RTU over
//! TCP): never a panic, the input buffer never stays full, and every
//! response is a well-formed RTU frame: 5 to 256 bytes, a valid CRC, and on
//! the line the server's own address (broadcasts and other addresses get
//! no answer).
//!
//! Input layout: a sequence of events, each an opcode byte and its operand:
//! `op % 4 == 0`: the next `operand + 1` bytes arrive (clamped to the free
//! input space and to what is left), followed by their CRC when bit 7 of
//! `op` is set (so that whole frames reach the service, not only CRC
//! errors); `1`: time passes, `operand * 50` µs;
//! `2`: the UART reports an idle line; `3`: a framing/parity error.
#![no_main]

use core::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use modbus_device::rtu::{crc16, crc_matches, RtuConfig, RtuEngine, MAX_RTU_ADU};
use modbus_device::{
    DataBank, HeapFiles, HeapStorage, HeapStorageConfig, Instant, Respond, ServerId, Service,
};

/// The serial line's server address.
const ADDRESS: u8 = 0x11;

/// Drains every response due at `now`, checking each one.
fn drain<X: Respond>(engine: &mut RtuEngine, service: &RefCell<X>, now: Instant, serial: bool) {
    // A response per complete frame; the buffer holds at most a few.
    for _ in 0..64 {
        let out = engine.poll_output(service);
        if out.is_empty() {
            return;
        }
        assert!(
            (5..=MAX_RTU_ADU).contains(&out.len()),
            "response of {} bytes",
            out.len()
        );
        assert!(crc_matches(out), "response with a bad CRC: {out:02x?}");
        if serial {
            assert_eq!(out[0], ADDRESS, "answered another address");
        } else {
            assert_ne!(out[0], 0, "answered a broadcast");
        }
        engine.handle_output_written(now);
    }
    panic!("poll_output never ran dry");
}

fn run<X: Respond>(service: &RefCell<X>, config: RtuConfig, serial: bool, data: &[u8]) {
    let mut engine = RtuEngine::new(config, None, Instant::ZERO);
    let mut now = 0u64;
    let mut rest = data;
    while let [op, operand, tail @ ..] = rest {
        rest = tail;
        let at = Instant::from_micros(now);
        match op % 4 {
            0 => {
                let free = engine.input_buffer();
                assert!(!free.is_empty(), "input buffer full after a drained poll");
                let n = (usize::from(*operand) + 1).min(rest.len());
                let mut bytes = rest[..n].to_vec();
                rest = &rest[n..];
                if op & 0x80 != 0 {
                    bytes.extend_from_slice(&crc16(&bytes).to_le_bytes());
                }
                let n = bytes.len().min(free.len());
                free[..n].copy_from_slice(&bytes[..n]);
                engine.handle_input(n, at);
            }
            1 => now += u64::from(*operand) * 50,
            2 => engine.handle_idle_line(at),
            _ => engine.handle_line_error(at),
        }
        let at = Instant::from_micros(now);
        if engine.poll_timeout().is_some_and(|deadline| deadline <= at) {
            // An idle timeout closes the connection: start a new one.
            if engine.handle_timeout(at).is_err() {
                engine = RtuEngine::new(config, None, at);
                continue;
            }
        }
        drain(&mut engine, service, at, serial);
    }
}

fuzz_target!(|data: &[u8]| {
    let bank = DataBank::new(HeapStorage::new(HeapStorageConfig::default()).unwrap())
        .with_files(HeapFiles::new(3, 40).unwrap());
    let service = RefCell::new(Service::new(bank).with_server_id(ServerId::new(b"fuzz").unwrap()));
    run(&service, RtuConfig::serial(ADDRESS, 19_200), true, data);
    run(
        &service,
        RtuConfig::stream(Some(core::time::Duration::from_secs(5))),
        false,
        data,
    );
});
