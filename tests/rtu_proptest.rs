//! No input panics the RTU engine: random bytes, in random chunks, at
//! random times, with random timer and idle-line events, on a serial line
//! at a random baud rate and on a stream. Every output is a whole RTU frame
//! with a valid CRC, and after the output is drained there is room for a
//! maximal frame. On a stream, valid requests split anywhere get the same
//! answers as the whole stream, one per request.
#![cfg(feature = "rtu")]

use std::cell::RefCell;
use std::time::Duration;

use modbus_device::rtu::{crc16, crc_matches, RtuConfig, RtuEngine, MAX_RTU_ADU};
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

/// A valid request frame: FC 3, 6 or 16 to address 1..=247.
fn request() -> impl Strategy<Value = Vec<u8>> {
    (
        1u8..=247,
        0u8..3,
        0u16..24,
        prop::collection::vec(any::<u16>(), 1..8),
    )
        .prop_map(|(unit, kind, address, values)| {
            let [a_hi, a_lo] = address.to_be_bytes();
            let mut body = match kind {
                0 => vec![unit, 0x03, a_hi, a_lo, 0, values.len() as u8],
                1 => {
                    let [v_hi, v_lo] = values[0].to_be_bytes();
                    vec![unit, 0x06, a_hi, a_lo, v_hi, v_lo]
                }
                _ => {
                    let mut b = vec![
                        unit,
                        0x10,
                        a_hi,
                        a_lo,
                        0,
                        values.len() as u8,
                        2 * values.len() as u8,
                    ];
                    values
                        .iter()
                        .for_each(|v| b.extend_from_slice(&v.to_be_bytes()));
                    b
                }
            };
            let crc = crc16(&body).to_le_bytes();
            body.extend_from_slice(&crc);
            body
        })
}

/// Feeds `stream` in chunks cut at `cuts`; returns every response.
fn answers(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let service = RefCell::new(Service::new(DataBank::new(
        FixedStorage::<0, 0, 32, 0>::new(),
    )));
    let mut engine = RtuEngine::new(RtuConfig::stream(None), None, Instant::ZERO);
    let mut out = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.push(0);
    bounds.push(stream.len());
    bounds.sort_unstable();
    for pair in bounds.windows(2) {
        let mut chunk = &stream[pair[0]..pair[1]];
        while !chunk.is_empty() {
            let room = engine.input_buffer();
            let n = chunk.len().min(room.len());
            room[..n].copy_from_slice(&chunk[..n]);
            engine.handle_input(n, Instant::ZERO);
            chunk = &chunk[n..];
            loop {
                let response = engine.poll_output(&service).to_vec();
                if response.is_empty() {
                    break;
                }
                out.push(response);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn stream_splits_do_not_change_the_answers(
        requests in prop::collection::vec(request(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let stream = requests.concat();
        let whole = answers(&stream, &[]);
        prop_assert_eq!(whole.len(), requests.len(), "one answer per request");
        prop_assert_eq!(answers(&stream, &cuts), whole);
    }
}
