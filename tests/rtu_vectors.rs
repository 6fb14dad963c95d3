//! Byte-exact RTU vectors on virtual time: the CRC, the silent intervals
//! (t1.5, t3.5, the fixed values above 19,200 baud, the idle-line event),
//! addressing, broadcast, the CRC error counter, and RTU on a byte stream.
//! The CRC bytes were computed with the bitwise procedure of "Modbus over
//! Serial Line V1.02", appendix B (independently of the crate's table).
#![cfg(feature = "rtu")]

use std::cell::RefCell;
use std::time::Duration;

use modbus_device::rtu::{crc16, crc_matches, RtuConfig, RtuEngine, RtuTiming};
use modbus_device::{CloseReason, DataBank, FixedStorage, Instant, Service};

type TestService = RefCell<Service<DataBank<FixedStorage<0, 0, 16, 0>>>>;

/// Sixteen holding registers, all 7.
fn service() -> TestService {
    RefCell::new(Service::new(DataBank::new(FixedStorage::filled(
        false, false, 7, 0,
    ))))
}

fn us(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

/// FC 3 to 0x11: registers 0 and 1.
const READ_2: [u8; 8] = [0x11, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC6, 0x9B];
const READ_2_REPLY: [u8; 9] = [0x11, 0x03, 0x04, 0x00, 0x07, 0x00, 0x07, 0x1B, 0xF1];
/// FC 3 to 0x11: register 1.
const READ_1: [u8; 8] = [0x11, 0x03, 0x00, 0x01, 0x00, 0x01, 0xD7, 0x5A];

/// 19,200 baud: a character is 11 bits, 572.92 µs; t1.5 = 860 µs,
/// t3.5 = 2006 µs (rounded up to whole microseconds).
fn serial() -> RtuEngine {
    RtuEngine::new(RtuConfig::serial(0x11, 19_200), None, Instant::ZERO)
}

fn feed(engine: &mut RtuEngine, bytes: &[u8], now: Instant) {
    engine.input_buffer()[..bytes.len()].copy_from_slice(bytes);
    engine.handle_input(bytes.len(), now);
}

/// Ends the frame in progress at its deadline and returns the reply.
fn end_frame(engine: &mut RtuEngine, service: &TestService) -> Vec<u8> {
    let end = engine
        .poll_timeout()
        .expect("a frame in progress has an end");
    engine.handle_timeout(end).unwrap();
    engine.poll_output(service).to_vec()
}

#[test]
fn crc_vectors_of_the_specification() {
    // Appendix B: the frame 02 07 has the CRC 0x1241, sent 41 12.
    assert_eq!(crc16(&[0x02, 0x07]), 0x1241);
    assert!(crc_matches(&[0x02, 0x07, 0x41, 0x12]));
    assert!(!crc_matches(&[0x02, 0x07, 0x12, 0x41]));
    assert_eq!(
        crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A]).to_le_bytes(),
        [0xC5, 0xCD]
    );
    assert!(crc_matches(&READ_2) && crc_matches(&READ_2_REPLY));
    assert_eq!(crc16(&[]), 0xFFFF);
    assert!(!crc_matches(&[0xFF, 0xFF]), "no frame without a body");
}

#[test]
fn silent_intervals_follow_the_baud_rate_and_are_fixed_above_19200() {
    let t = RtuTiming::for_baud(19_200);
    assert_eq!(t.char_time, Duration::from_nanos(572_917));
    assert_eq!(t.t1_5, Duration::from_micros(860));
    assert_eq!(t.t3_5, Duration::from_micros(2_006));
    let t = RtuTiming::for_baud(9_600);
    assert_eq!(t.t3_5, Duration::from_micros(4_011));
    for baud in [19_201, 38_400, 115_200, 1_000_000] {
        let t = RtuTiming::for_baud(baud);
        assert_eq!(
            (t.t1_5, t.t3_5),
            (Duration::from_micros(750), Duration::from_micros(1750))
        );
    }
    assert_eq!(
        RtuTiming::for_baud(115_200).char_time,
        Duration::from_nanos(95_487)
    );
}

#[test]
fn a_frame_is_answered_after_t3_5_of_silence_not_before() {
    let service = service();
    let mut engine = serial();
    feed(&mut engine, &READ_2, us(10_000));
    assert!(engine.poll_output(&service).is_empty());
    assert_eq!(engine.poll_timeout(), Some(us(12_006)));
    engine.handle_timeout(us(12_005)).unwrap();
    assert!(engine.poll_output(&service).is_empty(), "2005 µs < t3.5");
    engine.handle_timeout(us(12_006)).unwrap();
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
    engine.handle_output_written(us(12_500));
    assert!(engine.poll_output(&service).is_empty());
    assert_eq!(
        engine.poll_timeout(),
        None,
        "a serial line has no idle timeout"
    );
}

#[test]
fn fixed_t3_5_at_115200_baud() {
    let service = service();
    let mut engine = RtuEngine::new(RtuConfig::serial(0x11, 115_200), None, Instant::ZERO);
    feed(&mut engine, &READ_2, us(1_000));
    assert_eq!(engine.poll_timeout(), Some(us(2_750)));
    assert_eq!(end_frame(&mut engine, &service), READ_2_REPLY);
}

#[test]
fn bytes_arriving_one_character_apart_make_one_frame() {
    let service = service();
    let mut engine = serial();
    // Each read returns one byte, 573 µs (one character) after the last.
    for (i, &byte) in READ_2.iter().enumerate() {
        feed(&mut engine, &[byte], us(1_000 + 573 * i as u64));
        engine.handle_timeout(us(1_000 + 573 * i as u64)).unwrap();
        assert!(engine.poll_output(&service).is_empty());
    }
    assert_eq!(end_frame(&mut engine, &service), READ_2_REPLY);
}

#[test]
fn a_gap_over_t1_5_inside_a_frame_discards_it() {
    let service = service();
    let mut engine = serial();
    feed(&mut engine, &READ_2[..4], us(1_000));
    // 4 characters after a silence of 900 µs (> t1.5, < t3.5).
    feed(&mut engine, &READ_2[4..], us(1_000 + 900 + 4 * 573));
    assert!(end_frame(&mut engine, &service).is_empty());
    // The same split within t1.5 (800 µs of silence) is one frame.
    feed(&mut engine, &READ_2[..4], us(20_000));
    feed(&mut engine, &READ_2[4..], us(20_000 + 800 + 4 * 573));
    assert_eq!(end_frame(&mut engine, &service), READ_2_REPLY);
    assert_eq!(
        service.borrow().counters().bus_communication_error_count(),
        0
    );
}

#[test]
fn bytes_after_a_missed_deadline_start_the_next_frame() {
    let service = service();
    let mut engine = serial();
    feed(&mut engine, &READ_2, us(1_000));
    // No timer fired; the next request arrives 10 ms later.
    feed(&mut engine, &READ_1, us(11_000));
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
    engine.handle_output_written(us(11_100));
    assert!(
        engine.poll_output(&service).is_empty(),
        "READ_1 still in progress"
    );
    assert_eq!(
        end_frame(&mut engine, &service),
        [0x11, 0x03, 0x02, 0x00, 0x07, 0x38, 0x45]
    );
}

#[test]
fn an_idle_line_event_ends_the_frame_at_once() {
    let service = service();
    let mut engine = serial();
    feed(&mut engine, &READ_2, us(1_000));
    engine.handle_idle_line(us(1_100));
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
}

#[test]
fn crc_errors_are_dropped_silently_and_counted() {
    let service = service();
    let mut engine = serial();
    let mut bad = READ_2;
    bad[7] ^= 0x01;
    feed(&mut engine, &bad, us(1_000));
    assert!(end_frame(&mut engine, &service).is_empty());
    feed(&mut engine, &bad, us(10_000));
    assert!(end_frame(&mut engine, &service).is_empty());
    // Diagnostics, return bus communication error count (0x0C): 2.
    feed(
        &mut engine,
        &[0x11, 0x08, 0x00, 0x0C, 0x00, 0x00, 0x22, 0x98],
        us(20_000),
    );
    assert_eq!(
        end_frame(&mut engine, &service),
        [0x11, 0x08, 0x00, 0x0C, 0x00, 0x02, 0xA3, 0x59]
    );
    assert_eq!(
        service.borrow().counters().bus_message_count(),
        1,
        "CRC errors are no messages"
    );
}

#[test]
fn frames_for_other_addresses_are_ignored() {
    let service = service();
    let mut engine = serial();
    feed(
        &mut engine,
        &[0x12, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC6, 0xA8],
        us(1_000),
    );
    assert!(end_frame(&mut engine, &service).is_empty());
    assert_eq!(service.borrow().counters().bus_message_count(), 0);
    assert_eq!(
        service.borrow().counters().bus_communication_error_count(),
        0
    );
}

#[test]
fn a_broadcast_write_is_executed_without_a_response() {
    let service = service();
    let mut engine = serial();
    // FC 6 to address 0: register 1 = 0x1234.
    feed(
        &mut engine,
        &[0x00, 0x06, 0x00, 0x01, 0x12, 0x34, 0xD4, 0xAC],
        us(1_000),
    );
    assert!(end_frame(&mut engine, &service).is_empty());
    feed(&mut engine, &READ_1, us(10_000));
    assert_eq!(
        end_frame(&mut engine, &service),
        [0x11, 0x03, 0x02, 0x12, 0x34, 0x74, 0xF0]
    );
}

#[test]
fn exceptions_are_rtu_frames_with_their_crc() {
    let service = service();
    let mut engine = serial();
    // FC 3 at register 16 of 16: exception 2.
    feed(
        &mut engine,
        &[0x11, 0x03, 0x00, 0x10, 0x00, 0x01, 0x87, 0x5F],
        us(1_000),
    );
    assert_eq!(
        end_frame(&mut engine, &service),
        [0x11, 0x83, 0x02, 0xC1, 0x34]
    );
}

#[test]
fn a_frame_longer_than_256_bytes_is_discarded() {
    let service = service();
    let mut engine = serial();
    let mut long = READ_2.to_vec();
    long.resize(300, 0);
    for chunk in long.chunks(100) {
        feed(&mut engine, chunk, us(1_000));
    }
    assert!(end_frame(&mut engine, &service).is_empty());
    assert!(engine.input_buffer().len() >= 256);
    feed(&mut engine, &READ_2, us(10_000));
    assert_eq!(end_frame(&mut engine, &service), READ_2_REPLY);
}

#[test]
fn too_short_frames_are_discarded() {
    let service = service();
    let mut engine = serial();
    // Address and a CRC that matches it: no function code.
    let crc = crc16(&[0x11]).to_le_bytes();
    feed(&mut engine, &[0x11, crc[0], crc[1]], us(1_000));
    assert!(end_frame(&mut engine, &service).is_empty());
    assert_eq!(service.borrow().counters().bus_message_count(), 0);
}

fn stream() -> RtuEngine {
    RtuEngine::new(
        RtuConfig::stream(Some(Duration::from_secs(2))),
        None,
        Instant::ZERO,
    )
}

#[test]
fn on_a_stream_frames_end_by_their_length() {
    let service = service();
    let mut engine = stream();
    // Two requests and half of a third in one read.
    let mut bytes = [READ_2, READ_1].concat();
    bytes.extend_from_slice(&READ_2[..3]);
    feed(&mut engine, &bytes, us(1_000));
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
    assert_eq!(
        engine.poll_output(&service),
        [0x11, 0x03, 0x02, 0x00, 0x07, 0x38, 0x45]
    );
    assert!(engine.poll_output(&service).is_empty());
    feed(&mut engine, &READ_2[3..], us(1_500));
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
    // Write multiple registers (byte count 4) to every address (`None`).
    let mut write = vec![
        0x05, 0x10, 0x00, 0x02, 0x00, 0x02, 0x04, 0xAB, 0xCD, 0x00, 0x01,
    ];
    write.extend_from_slice(&crc16(&write).to_le_bytes());
    feed(&mut engine, &write, us(2_000));
    let mut reply = vec![0x05, 0x10, 0x00, 0x02, 0x00, 0x02];
    reply.extend_from_slice(&crc16(&reply).to_le_bytes());
    assert_eq!(engine.poll_output(&service), reply);
}

#[test]
fn on_a_stream_a_bad_crc_drops_what_was_buffered() {
    let service = service();
    let mut engine = stream();
    let mut bad = READ_2;
    bad[6] ^= 0xFF;
    feed(&mut engine, &[bad, READ_2].concat(), us(1_000));
    assert!(engine.poll_output(&service).is_empty());
    assert_eq!(
        service.borrow().counters().bus_communication_error_count(),
        1
    );
    feed(&mut engine, &READ_2, us(2_000));
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
}

#[test]
fn on_a_stream_a_user_function_is_found_by_its_crc() {
    let service = service();
    let mut engine = stream();
    // Function 0x41 (user defined): the default handler answers exception 1.
    let mut request = vec![0x11, 0x41, 0x01, 0x02, 0x03];
    request.extend_from_slice(&crc16(&request).to_le_bytes());
    feed(&mut engine, &request, us(1_000));
    let mut reply = vec![0x11, 0xC1, 0x01];
    reply.extend_from_slice(&crc16(&reply).to_le_bytes());
    assert_eq!(engine.poll_output(&service), reply);
}

#[test]
fn on_a_stream_the_idle_and_write_stall_deadlines_close() {
    let service = service();
    let mut engine = stream();
    assert_eq!(engine.poll_timeout(), Some(us(2_000_000)));
    feed(&mut engine, &READ_2, us(1_000_000));
    assert_eq!(engine.poll_output(&service), READ_2_REPLY);
    assert_eq!(engine.poll_timeout(), Some(us(3_000_000)));
    assert_eq!(
        engine.handle_timeout(us(3_000_000)),
        Err(CloseReason::WriteTimeout)
    );
    engine.handle_output_written(us(1_500_000));
    assert_eq!(engine.handle_timeout(us(3_499_999)), Ok(()));
    assert_eq!(
        engine.handle_timeout(us(3_500_000)),
        Err(CloseReason::IdleTimeout)
    );
}

#[test]
fn a_character_error_discards_the_frame_in_progress() {
    let service = service();
    let mut engine = serial();
    feed(&mut engine, &READ_2[..5], us(1_000));
    engine.handle_line_error(us(1_600));
    feed(&mut engine, &READ_2[5..], us(1_600 + 3 * 573));
    assert!(end_frame(&mut engine, &service).is_empty());
    // A lost character alone: the next frame is whole.
    engine.handle_line_error(us(10_000));
    assert!(end_frame(&mut engine, &service).is_empty());
    feed(&mut engine, &READ_2, us(20_000));
    assert_eq!(end_frame(&mut engine, &service), READ_2_REPLY);
    assert_eq!(engine.poll_timeout(), None);
}
