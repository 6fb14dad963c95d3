//! The engine's output in flight: `poll_output` starts it,
//! `handle_output_written` ends it, and meanwhile `poll_timeout` is the
//! write-stall deadline that `handle_timeout` enforces.

use std::cell::RefCell;
use std::time::Duration;

use modbus_device::{CloseReason, DataBank, Engine, EngineConfig, FixedStorage, Instant, Service};

type TestService = RefCell<Service<DataBank<FixedStorage<0, 0, 4, 0>>>>;

fn service() -> TestService {
    RefCell::new(Service::new(DataBank::new(FixedStorage::new())))
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Idle timeout 2 s, frame timeout 500 ms; one response per batch.
fn engine() -> Engine<260, 260> {
    let config = EngineConfig {
        idle_timeout: Some(Duration::from_secs(2)),
        frame_timeout: Some(Duration::from_millis(500)),
    };
    Engine::new(config, None, Instant::ZERO)
}

/// FC 3, one register, transaction `tid`.
fn request(tid: u8) -> [u8; 12] {
    [0, tid, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]
}

fn feed(engine: &mut Engine<260, 260>, bytes: &[u8], now: Instant) {
    engine.input_buffer()[..bytes.len()].copy_from_slice(bytes);
    engine.handle_input(bytes.len(), now);
}

#[test]
fn output_in_flight_has_the_write_stall_deadline() {
    let service = service();
    let mut engine = engine();
    feed(&mut engine, &request(1), at(100));
    let sent = engine.poll_output(&service).unwrap().to_vec();
    assert_eq!(engine.pending_output(), sent);
    assert_eq!(engine.idle_since(), None, "waiting for the client to read");
    assert_eq!(engine.poll_timeout(), Some(at(2_100)));
    assert_eq!(engine.handle_timeout(at(2_099)), Ok(()));
    assert_eq!(
        engine.handle_timeout(at(2_100)),
        Err(CloseReason::WriteTimeout)
    );
}

#[test]
fn written_output_gives_back_the_idle_and_frame_deadlines() {
    let service = service();
    let mut engine = engine();
    // A request and the first 5 bytes of the next.
    let mut bytes = request(1).to_vec();
    bytes.extend_from_slice(&request(2)[..5]);
    feed(&mut engine, &bytes, at(100));
    assert!(!engine.poll_output(&service).unwrap().is_empty());
    assert_eq!(engine.poll_timeout(), Some(at(2_100)), "write stall only");
    engine.handle_output_written(at(300));
    assert!(engine.pending_output().is_empty());
    assert_eq!(engine.poll_timeout(), Some(at(600)), "the partial frame's");
    assert_eq!(
        engine.handle_timeout(at(600)),
        Err(CloseReason::FrameTimeout)
    );
}

#[test]
fn the_next_batch_stalls_from_when_the_previous_one_was_written() {
    let service = service();
    let mut engine = engine();
    let pipelined: Vec<u8> = [request(1), request(2)].concat();
    feed(&mut engine, &pipelined, at(0));
    assert_eq!(engine.poll_output(&service).unwrap()[1], 1);
    engine.handle_output_written(at(1_500));
    assert_eq!(engine.poll_output(&service).unwrap()[1], 2);
    assert_eq!(engine.poll_timeout(), Some(at(3_500)));
    assert_eq!(engine.handle_timeout(at(3_499)), Ok(()));
    assert_eq!(
        engine.handle_timeout(at(3_500)),
        Err(CloseReason::WriteTimeout)
    );
    engine.handle_output_written(at(3_000));
    assert!(engine.poll_output(&service).unwrap().is_empty());
    // The idle deadline still counts from the requests' arrival.
    assert_eq!(engine.poll_timeout(), Some(at(2_000)));
    assert_eq!(engine.idle_since(), Some(at(0)));
}

/// A caller that does not report writes: the next `poll_output` says the
/// previous output was written (at the last time the engine was told).
#[test]
fn polling_again_counts_the_output_as_written() {
    let service = service();
    let mut engine = engine();
    feed(&mut engine, &request(1), at(100));
    assert!(!engine.poll_output(&service).unwrap().is_empty());
    assert!(engine.poll_output(&service).unwrap().is_empty());
    assert!(engine.pending_output().is_empty());
    assert_eq!(engine.poll_timeout(), Some(at(2_100)));
    assert_eq!(
        engine.handle_timeout(at(2_100)),
        Err(CloseReason::IdleTimeout)
    );
}

#[test]
fn a_write_reported_without_output_in_flight_changes_nothing() {
    let mut engine = engine();
    engine.handle_output_written(at(1_000));
    assert_eq!(engine.poll_timeout(), Some(at(2_000)));
    assert_eq!(engine.idle_since(), Some(at(0)));
}

#[test]
fn without_an_idle_timeout_a_write_never_stalls() {
    let service = service();
    let config = EngineConfig {
        idle_timeout: None,
        frame_timeout: Some(Duration::from_millis(500)),
    };
    let mut engine = Engine::<260, 260>::new(config, None, Instant::ZERO);
    feed(&mut engine, &request(1), at(100));
    assert!(!engine.poll_output(&service).unwrap().is_empty());
    assert_eq!(engine.poll_timeout(), None);
    assert_eq!(
        engine.handle_timeout(Instant::from_micros(u64::MAX)),
        Ok(())
    );
}

#[test]
fn restart_drops_the_output_in_flight() {
    let service = service();
    let mut engine = engine();
    feed(&mut engine, &request(1), at(100));
    assert!(!engine.poll_output(&service).unwrap().is_empty());
    engine.restart(None, at(5_000));
    assert!(engine.pending_output().is_empty());
    assert_eq!(engine.poll_timeout(), Some(at(7_000)));
}
