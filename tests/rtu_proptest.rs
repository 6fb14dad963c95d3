//! No input panics the RTU engine: random bytes, in random chunks, at
//! random times, with random timer and idle-line events, on a serial line
//! at a random baud rate and on a stream. Every output is a whole RTU frame
//! with a valid CRC, and after the output is drained there is room for a
//! maximal frame.
#![cfg(feature = "rtu")]

use std::cell::RefCell;
use std::time::Duration;

use modbus_device::rtu::{crc_matches, RtuConfig, RtuEngine, MAX_RTU_ADU};
use modbus_device::{DataBank, FixedStorage, Instant, Service};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Event {
    Input(Vec<u8>),
    Timeout,
    IdleLine,
}

fn event() -> impl Strategy<Value = (u64, Event)> {
    // Requests that reach the handler now and then: address 1, FC 3 or 6.
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(
            prop_oneof![Just(1u8), Just(3), Just(6), Just(0), any::<u8>()],
            0..40
        ),
    ];
    let event = prop_oneof![
        6 => bytes.prop_map(Event::Input),
        2 => Just(Event::Timeout),
        1 => Just(Event::IdleLine),
    ];
    (0u64..5_000, event)
}

fn run(config: RtuConfig, events: &[(u64, Event)]) -> Result<(), TestCaseError> {
    let service = RefCell::new(Service::new(DataBank::new(
        FixedStorage::<4, 4, 32, 32>::new(),
    )));
    let mut engine = RtuEngine::new(config, None, Instant::ZERO);
    let mut now = 0u64;
    for (delta, event) in events {
        now += delta;
        let at = Instant::from_micros(now);
        match event {
            Event::Input(bytes) => {
                let room = engine.input_buffer();
                let n = bytes.len().min(room.len());
                room[..n].copy_from_slice(&bytes[..n]);
                // A driver may also report more than it has room for.
                engine.handle_input(if n == bytes.len() { n } else { bytes.len() }, at);
            }
            Event::Timeout => {
                let _ = engine.handle_timeout(at);
            }
            Event::IdleLine => engine.handle_idle_line(at),
        }
        for _ in 0..1_000 {
            let out = engine.poll_output(&service);
            if out.is_empty() {
                break;
            }
            prop_assert!(out.len() <= MAX_RTU_ADU && out.len() >= 5, "{:02x?}", out);
            prop_assert!(crc_matches(out), "{:02x?}", out);
            engine.handle_output_written(at);
        }
        prop_assert!(engine.poll_output(&service).is_empty(), "output drained");
        prop_assert!(engine.input_buffer().len() >= MAX_RTU_ADU);
        let _ = engine.poll_timeout();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn serial_never_panics(
        baud in prop_oneof![Just(0u32), Just(1), 300u32..200_000, Just(u32::MAX)],
        address in any::<u8>(),
        events in prop::collection::vec(event(), 0..40),
    ) {
        run(RtuConfig::serial(address, baud), &events)?;
    }

    #[test]
    fn stream_never_panics(events in prop::collection::vec(event(), 0..40)) {
        run(RtuConfig::stream(Some(Duration::from_secs(1))), &events)?;
    }
}
