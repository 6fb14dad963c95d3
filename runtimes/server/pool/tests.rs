//! Parking in virtual time: a pooled connection gives its engine back when
//! idle for `PARK_AFTER`, takes one again when bytes arrive, and keeps the
//! idle deadline its engine computed while it holds none.

use core::pin::pin;
use std::net::SocketAddr;

use super::{EnginePool, PooledSlot, PARK_AFTER};
use crate::runtimes::io::tests::{request, response, service, timeouts};
use crate::runtimes::io::virtual_time::{ms, run, run_until, Peer, Reads, VirtualClock};
use crate::runtimes::io::{drive, Clock, ConnectionEnd};
use crate::runtimes::server::connection::lock;
use crate::CloseReason;

fn client() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 40_000))
}

/// Engines waiting in the pool.
fn parked(pool: &EnginePool) -> usize {
    lock(&pool.parked).len()
}

#[test]
fn park_after_is_100_ms() {
    // The instants below assume it.
    assert_eq!(PARK_AFTER.as_millis(), 100);
}

#[test]
fn an_idle_connection_parks_and_wakes_on_new_bytes() {
    let clock = VirtualClock::starting_at(ms(0));
    let pool = EnginePool::new(timeouts(Some(60_000), Some(5_000)));
    let service = service();
    let mut peer = Peer::new(&clock, Reads::Promptly)
        .sends(ms(1_000), &request(1))
        .sends(ms(5_000), &request(2));
    let mut slot = PooledSlot::new(&pool, client(), clock.now());
    let (end, at) = {
        let mut conn = pin!(drive(&mut peer, &service, &clock, &mut slot));
        // Woken at 1 s (a new engine), parked 100 ms after its last input.
        assert!(run_until(&clock, conn.as_mut(), ms(1_099)).is_none());
        assert_eq!(
            parked(&pool),
            0,
            "holds its engine while not idle long enough"
        );
        assert!(run_until(&clock, conn.as_mut(), ms(1_100)).is_none());
        assert_eq!(parked(&pool), 1, "parked 100 ms after the request");
        // Woken again by the second request: the pooled engine is reused.
        assert!(run_until(&clock, conn.as_mut(), ms(5_000)).is_none());
        assert_eq!(parked(&pool), 0, "woken by new bytes");
        assert!(run_until(&clock, conn.as_mut(), ms(5_100)).is_none());
        assert_eq!(parked(&pool), 1, "parked again");
        (run(&clock, conn.as_mut()), clock.now())
    };
    assert_eq!(
        peer.received,
        [(ms(1_000), response(1)), (ms(5_000), response(2))]
    );
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(at, ms(65_000), "the idle timeout after the last request");
}

/// The parked connection's deadline is its engine's idle deadline (input
/// at 0.5 s + 2 s), not one counted from when it was parked (0.6 s + 2 s).
#[test]
fn a_parked_connection_ends_at_the_idle_deadline_its_engine_computed() {
    let clock = VirtualClock::starting_at(ms(0));
    let pool = EnginePool::new(timeouts(Some(2_000), Some(1_000)));
    let service = service();
    let mut peer = Peer::new(&clock, Reads::Promptly).sends(ms(500), &request(1));
    let mut slot = PooledSlot::new(&pool, client(), clock.now());
    let mut conn = pin!(drive(&mut peer, &service, &clock, &mut slot));
    assert!(run_until(&clock, conn.as_mut(), ms(600)).is_none());
    assert_eq!(parked(&pool), 1);
    let end = run(&clock, conn.as_mut());
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(clock.now(), ms(2_500));
}

/// A connection starts parked: one that never sends ends at the idle
/// deadline counted from its accept, and never takes an engine.
#[test]
fn a_silent_new_connection_ends_at_its_idle_deadline_without_an_engine() {
    let clock = VirtualClock::starting_at(ms(7_000));
    let pool = EnginePool::new(timeouts(Some(2_000), Some(1_000)));
    let service = service();
    let mut peer = Peer::new(&clock, Reads::Promptly);
    let mut slot = PooledSlot::new(&pool, client(), clock.now());
    let end = run(&clock, pin!(drive(&mut peer, &service, &clock, &mut slot)));
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(clock.now(), ms(9_000));
    drop(slot);
    assert_eq!(parked(&pool), 0, "no engine was ever created");
}

/// A partial frame is work: the engine is kept until the frame deadline.
#[test]
fn an_incomplete_frame_keeps_its_engine_until_the_frame_deadline() {
    let clock = VirtualClock::starting_at(ms(0));
    let pool = EnginePool::new(timeouts(Some(60_000), Some(1_000)));
    let service = service();
    let mut peer = Peer::new(&clock, Reads::Promptly).sends(ms(1_000), &request(1)[..5]);
    let mut slot = PooledSlot::new(&pool, client(), clock.now());
    let mut conn = pin!(drive(&mut peer, &service, &clock, &mut slot));
    assert!(run_until(&clock, conn.as_mut(), ms(1_500)).is_none());
    assert_eq!(parked(&pool), 0, "not parked with a partial frame");
    let end = run(&clock, conn.as_mut());
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::FrameTimeout));
    assert_eq!(clock.now(), ms(2_000));
}
