//! Each deadline of a connection served by [`serve_connection`], in virtual
//! time: the reason it ends and the exact instant.

use core::cell::{Cell, RefCell};
use core::convert::Infallible;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::vec::Vec;

use embedded_io_async::{ErrorType, Read, Write};

use super::virtual_time::{ms, run, Peer, Reads, VirtualClock, WakeCount};
use super::{serve_connection, Clock, ConnectionEnd, FAIRNESS_BUDGET};
use crate::{CloseReason, DataBank, Engine, EngineConfig, FixedStorage, Service};

pub(crate) type TestService = RefCell<Service<DataBank<FixedStorage<0, 0, 4, 0>>>>;

/// Four holding registers, all 7.
pub(crate) fn service() -> TestService {
    RefCell::new(Service::new(DataBank::new(FixedStorage::filled(
        false, false, 7, 0,
    ))))
}

/// Timeouts in milliseconds; `None` disables one.
pub(crate) fn timeouts(idle: Option<u64>, frame: Option<u64>) -> EngineConfig {
    EngineConfig {
        idle_timeout: idle.map(Duration::from_millis),
        frame_timeout: frame.map(Duration::from_millis),
    }
}

/// FC 3, one register at 0, unit 1, transaction `tid`: 12 bytes.
pub(crate) fn request(tid: u8) -> [u8; 12] {
    [0, tid, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]
}

/// The answer to [`request`]`(tid)`: register 0 is 7.
pub(crate) fn response(tid: u8) -> Vec<u8> {
    [0, tid, 0, 0, 0, 5, 1, 3, 2, 0, 7].to_vec()
}

/// Serves `peer` with a `Engine<260, 260>` (one response per write) created
/// at the clock's start; returns how it ended and when.
fn serve(
    clock: &VirtualClock,
    peer: &mut Peer<'_>,
    config: EngineConfig,
) -> (ConnectionEnd<core::convert::Infallible>, crate::Instant) {
    let service = service();
    let mut engine = Engine::<260, 260>::new(config, None, clock.now());
    let end = run(
        clock,
        pin!(serve_connection(peer, &service, clock, &mut engine)),
    );
    (end, clock.now())
}

#[test]
fn an_incomplete_frame_ends_at_the_frame_deadline() {
    let clock = VirtualClock::starting_at(ms(0));
    let mut peer = Peer::new(&clock, Reads::Promptly).sends(ms(1_000), &request(1)[..5]);
    let (end, at) = serve(&clock, &mut peer, timeouts(Some(60_000), Some(5_000)));
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::FrameTimeout));
    assert_eq!(at, ms(6_000), "5 s after the frame's first byte");
}

#[test]
fn a_silent_client_ends_at_the_idle_deadline_of_its_last_request() {
    let clock = VirtualClock::starting_at(ms(0));
    let mut peer = Peer::new(&clock, Reads::Promptly)
        .sends(ms(500), &request(1))
        .sends(ms(1_500), &request(2));
    let (end, at) = serve(&clock, &mut peer, timeouts(Some(2_000), Some(1_000)));
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(at, ms(3_500), "the idle deadline moved with each request");
    assert_eq!(
        peer.received,
        [(ms(500), response(1)), (ms(1_500), response(2))]
    );
    assert_eq!(clock.yields(), 0, "it waited for each request: no yield");
}

/// The idle deadline moves later after every request; the timer armed at
/// the first one fires early once and is armed again, never per request.
#[test]
fn the_timer_is_not_rearmed_while_the_deadline_only_moves_later() {
    let clock = VirtualClock::starting_at(ms(0));
    let mut peer = Peer::new(&clock, Reads::Promptly);
    for tid in 1..=10 {
        peer = peer.sends(ms(100 * u64::from(tid)), &request(tid));
    }
    let (end, at) = serve(&clock, &mut peer, timeouts(Some(2_000), None));
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(at, ms(3_000));
    assert_eq!(peer.received.len(), 10);
    // Armed at 2 s (the first idle deadline), fired early, armed at 3 s.
    assert_eq!(clock.sleeps_started(), 2);
}

#[test]
fn a_client_that_never_reads_ends_at_the_write_stall_deadline() {
    let clock = VirtualClock::starting_at(ms(0));
    let mut peer = Peer::new(&clock, Reads::Never).sends(ms(1_000), &request(1));
    let (end, at) = serve(&clock, &mut peer, timeouts(Some(2_000), Some(500)));
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::WriteTimeout));
    assert_eq!(at, ms(3_000), "the idle timeout after the write started");
}

/// Three pipelined requests, one response per write, each write taking
/// 1.5 s of a 2 s idle timeout: every write makes progress in time, so all
/// are answered in order, although together they take longer than the idle
/// timeout. The idle deadline (2 s after the requests arrived) then has
/// passed: the connection ends as soon as the last write is done.
#[test]
fn each_write_stalls_from_when_the_previous_one_was_written() {
    let clock = VirtualClock::starting_at(ms(0));
    let pipelined: Vec<u8> = (1..=3).flat_map(request).collect();
    let mut peer =
        Peer::new(&clock, Reads::Slowly(Duration::from_millis(1_500))).sends(ms(0), &pipelined);
    let (end, at) = serve(&clock, &mut peer, timeouts(Some(2_000), Some(1_000)));
    assert_eq!(
        peer.received,
        [
            (ms(1_500), response(1)),
            (ms(3_000), response(2)),
            (ms(4_500), response(3)),
        ]
    );
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::IdleTimeout));
    assert_eq!(at, ms(4_500));
}

/// A write slower than the idle timeout is a stall even though bytes
/// arrived and were answered before it.
#[test]
fn a_write_slower_than_the_idle_timeout_ends_at_the_stall_deadline() {
    let clock = VirtualClock::starting_at(ms(0));
    let mut peer =
        Peer::new(&clock, Reads::Slowly(Duration::from_millis(2_500))).sends(ms(200), &request(1));
    let (end, at) = serve(&clock, &mut peer, timeouts(Some(2_000), None));
    assert_eq!(end, ConnectionEnd::Closed(CloseReason::WriteTimeout));
    assert_eq!(at, ms(2_200));
    assert!(peer.received.is_empty());
}

#[test]
fn without_timeouts_a_silent_client_is_served_until_it_closes() {
    let clock = VirtualClock::starting_at(ms(0));
    let service = service();
    let mut engine = Engine::<260, 260>::new(timeouts(None, None), None, clock.now());
    let mut peer = Peer::new(&clock, Reads::Promptly).sends(ms(10), &request(1));
    let mut served = pin!(serve_connection(&mut peer, &service, &clock, &mut engine));
    // Nothing to wait for after the answer: no timer, no end.
    let far = ms(1_000_000_000);
    assert!(super::virtual_time::run_until(&clock, served.as_mut(), far).is_none());
    assert_eq!(clock.sleeps_started(), 0);
}

/// A client that pipelines without pause: each read finds requests (a
/// stream of [`request`]`(1)`, cut wherever the buffer ends) until `limit`
/// reads, then nothing more; each write completes at once. Counts reads,
/// writes and the bytes of both, and checks every answer.
struct Endless<'a> {
    /// Bytes of the request stream sent so far.
    sent: usize,
    limit: usize,
    reads: &'a Cell<usize>,
    writes: &'a Cell<usize>,
    moved: &'a Cell<usize>,
}

impl ErrorType for Endless<'_> {
    type Error = Infallible;
}

impl Read for Endless<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if self.reads.get() == self.limit {
            return poll_fn(|_| Poll::Pending).await;
        }
        let request = request(1);
        for byte in buf.iter_mut() {
            *byte = request[self.sent % request.len()];
            self.sent += 1;
        }
        self.reads.set(self.reads.get() + 1);
        self.moved.set(self.moved.get() + buf.len());
        Ok(buf.len())
    }
}

impl Write for Endless<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let answer = response(1);
        assert_eq!(buf.len() % answer.len(), 0, "whole answers");
        assert!(buf.chunks(answer.len()).all(|chunk| chunk == answer));
        self.writes.set(self.writes.get() + 1);
        self.moved.set(self.moved.get() + buf.len());
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// A stream that always has input and always takes output never makes the
/// driver wait; on one executor thread it would shut every other
/// connection out. The driver returns `Pending` once it has moved
/// `FAIRNESS_BUDGET` bytes, having woken its own task.
/// (Before the budget, the first poll did all 10,000 reads.)
#[test]
fn a_client_that_is_always_ready_yields_within_the_budget() {
    let clock = VirtualClock::starting_at(ms(0));
    let service = service();
    let mut engine = Engine::<260, 260>::new(timeouts(None, None), None, clock.now());
    let (reads, writes, moved) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let mut client = Endless {
        sent: 0,
        limit: 10_000,
        reads: &reads,
        writes: &writes,
        moved: &moved,
    };
    let mut served = pin!(serve_connection(&mut client, &service, &clock, &mut engine));
    let (wakes, waker) = WakeCount::waker();
    let mut cx = Context::from_waker(&waker);
    // The read or write that crosses the budget still completes: at most
    // one buffer (260 bytes) beyond it.
    let most = FAIRNESS_BUDGET + 260;
    let mut polls = 0;
    while reads.get() < 10_000 {
        let done = moved.get();
        let woken = wakes.get();
        assert!(served.as_mut().poll(&mut cx).is_pending());
        polls += 1;
        let work = moved.get() - done;
        if reads.get() == 10_000 {
            break; // the last poll ends waiting for more, not yielding
        }
        assert!(
            (FAIRNESS_BUDGET / 2..=most).contains(&work),
            "{work} bytes read and written in poll {polls}"
        );
        assert_eq!(wakes.get(), woken + 1, "it woke itself to go on");
    }
    // 21 requests per read, one answer per write (a 260-byte output
    // buffer): every request of the first 10,000 reads was answered.
    assert!(writes.get() >= 21 * 9_999, "{} answers", writes.get());
    assert!(polls >= moved.get() / most);
}
