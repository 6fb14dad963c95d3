//! The engine's crate-internal inputs: parking (the desktop pool) and the
//! shared-borrow deadline check the driver makes while it writes.

use core::cell::RefCell;
use core::time::Duration;

use super::{CloseReason, Engine, EngineConfig};
use crate::{DataBank, FixedStorage, Instant, Service};

type TestService = RefCell<Service<DataBank<FixedStorage<0, 0, 4, 0>>>>;

fn service() -> TestService {
    RefCell::new(Service::new(DataBank::new(FixedStorage::new())))
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn engine(idle_ms: u64, frame_ms: u64) -> Engine<260, 260> {
    let config = EngineConfig {
        idle_timeout: Some(Duration::from_millis(idle_ms)),
        frame_timeout: Some(Duration::from_millis(frame_ms)),
    };
    Engine::new(config, None, Instant::ZERO)
}

/// Feeds `bytes` at `now`.
fn feed(engine: &mut Engine<260, 260>, bytes: &[u8], now: Instant) {
    engine.input_buffer()[..bytes.len()].copy_from_slice(bytes);
    engine.handle_input(bytes.len(), now);
}

const REQUEST: [u8; 12] = [0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];

#[test]
fn timed_out_agrees_with_handle_timeout_while_output_is_in_flight() {
    let service = service();
    let mut engine = engine(2_000, 500);
    feed(&mut engine, &REQUEST, at(100));
    assert!(!engine.poll_output(&service).unwrap().is_empty());
    assert_eq!(engine.timed_out(at(2_099)), None);
    assert_eq!(engine.timed_out(at(2_100)), Some(CloseReason::WriteTimeout));
    assert_eq!(
        engine.handle_timeout(at(2_100)),
        Err(CloseReason::WriteTimeout)
    );
}

#[cfg(feature = "_desktop")]
mod parking {
    use super::*;
    use crate::engine::Parked;

    fn parking_engine(idle_ms: u64, frame_ms: u64) -> Engine<260, 260> {
        let mut engine = engine(idle_ms, frame_ms);
        engine.set_park_after(Some(Duration::from_millis(100)));
        engine
    }

    #[test]
    fn an_idle_engine_parks_with_its_idle_deadline() {
        let service = service();
        let mut engine = parking_engine(2_000, 500);
        feed(&mut engine, &REQUEST, at(1_000));
        assert!(!engine.poll_output(&service).unwrap().is_empty());
        engine.handle_output_written(at(1_000));
        assert!(engine.poll_output(&service).unwrap().is_empty());
        assert_eq!(engine.poll_timeout(), Some(at(1_100)), "the park deadline");
        assert_eq!(engine.handle_timer(at(1_099)), Ok(None));
        let parked = engine.handle_timer(at(1_100)).unwrap().expect("parks");
        assert_eq!(parked.poll_timeout(), Some(at(3_000)));
        assert_eq!(parked.handle_timeout(at(2_999)), Ok(()));
        assert_eq!(
            parked.handle_timeout(at(3_000)),
            Err(CloseReason::IdleTimeout)
        );
    }

    #[test]
    fn an_engine_with_work_does_not_park() {
        let service = service();
        // A partial frame: the frame deadline, not the park deadline.
        let mut engine = parking_engine(2_000, 500);
        feed(&mut engine, &REQUEST[..5], at(1_000));
        assert!(engine.poll_output(&service).unwrap().is_empty());
        assert_eq!(engine.poll_timeout(), Some(at(1_500)));
        assert_eq!(engine.handle_timer(at(1_200)), Ok(None));
        // Output in flight: the write-stall deadline only.
        let mut engine = parking_engine(2_000, 500);
        feed(&mut engine, &REQUEST, at(1_000));
        assert!(!engine.poll_output(&service).unwrap().is_empty());
        assert_eq!(engine.poll_timeout(), Some(at(3_000)));
        assert_eq!(engine.handle_timer(at(1_200)), Ok(None));
    }

    #[test]
    fn restart_keeps_park_after() {
        let mut engine = parking_engine(2_000, 500);
        engine.restart(None, at(5_000));
        assert_eq!(engine.poll_timeout(), Some(at(5_100)));
    }

    #[test]
    fn without_park_after_an_idle_engine_never_parks() {
        let mut engine = engine(2_000, 500);
        assert_eq!(engine.poll_timeout(), Some(at(2_000)));
        assert_eq!(engine.handle_timer(at(1_999)), Ok(None));
    }

    #[test]
    fn an_accepted_connection_idles_out_from_its_accept() {
        let config = EngineConfig {
            idle_timeout: Some(Duration::from_secs(3)),
            frame_timeout: None,
        };
        let parked = Parked::accepted(&config, at(500));
        assert_eq!(parked.poll_timeout(), Some(at(3_500)));
        let never = Parked::accepted(
            &EngineConfig {
                idle_timeout: None,
                frame_timeout: None,
            },
            at(500),
        );
        assert_eq!(never.poll_timeout(), None);
        assert_eq!(never.handle_timeout(Instant::from_micros(u64::MAX)), Ok(()));
    }
}
