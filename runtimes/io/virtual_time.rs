//! Virtual time for the driver's tests: the clock stands still while the
//! connection has something to do, and jumps to the earliest instant
//! something waits for (a timer, the client's next bytes, the end of a slow
//! write) once everything waits. No test waits on the wall clock.

use core::cell::Cell;
use core::convert::Infallible;
use core::future::{pending, poll_fn, Future};
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Wake;
use std::vec::Vec;

use embedded_io_async::{ErrorType, Read, Write};

use super::Clock;
use crate::time::Instant;

/// `ms` milliseconds after the virtual clock's origin.
pub(crate) fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Timers firing at one instant beyond this mean the driver spins (a
/// deadline it re-arms without acting on it): fail instead of hanging.
const MAX_FIRINGS_PER_INSTANT: u32 = 100;

/// A clock that moves only when [`run_until`] moves it.
pub(crate) struct VirtualClock {
    now: Cell<Instant>,
    /// The earliest instant a pending future waits for, this poll.
    next: Cell<Option<Instant>>,
    sleeps_started: Cell<usize>,
    firings_now: Cell<u32>,
    yields: Cell<usize>,
}

impl VirtualClock {
    pub(crate) fn starting_at(now: Instant) -> Self {
        VirtualClock {
            now: Cell::new(now),
            next: Cell::new(None),
            sleeps_started: Cell::new(0),
            firings_now: Cell::new(0),
            yields: Cell::new(0),
        }
    }

    /// How many timers the driver armed (each `sleep_until` call).
    pub(crate) fn sleeps_started(&self) -> usize {
        self.sleeps_started.get()
    }

    /// How many times the driver yielded: returned `Pending` having woken
    /// itself, with nothing to wait for (polled again at the same instant).
    pub(crate) fn yields(&self) -> usize {
        self.yields.get()
    }

    /// Something pending becomes ready at `at`.
    fn wake_at(&self, at: Instant) {
        let next = self.next.get().map_or(at, |next| next.min(at));
        self.next.set(Some(next));
    }

    /// Ready at `at`, else pending (and time may jump there).
    fn poll_until(&self, at: Instant) -> Poll<()> {
        if self.now.get() >= at {
            Poll::Ready(())
        } else {
            self.wake_at(at);
            Poll::Pending
        }
    }

    fn advance_to(&self, at: Instant) {
        if at > self.now.get() {
            self.now.set(at);
            self.firings_now.set(0);
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.now.get()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> {
        self.sleeps_started.set(self.sleeps_started.get() + 1);
        poll_fn(move |_| {
            let fired = self.poll_until(deadline);
            if fired.is_ready() {
                self.firings_now.set(self.firings_now.get() + 1);
                assert!(
                    self.firings_now.get() <= MAX_FIRINGS_PER_INSTANT,
                    "the driver spins on a timer at {:?}",
                    self.now.get()
                );
            }
            fired
        })
    }
}

/// Polls `future` in virtual time until it ends, and returns its output.
/// Panics if it waits for nothing (it would hang).
pub(crate) fn run<T>(clock: &VirtualClock, mut future: Pin<&mut impl Future<Output = T>>) -> T {
    match run_until(clock, future.as_mut(), Instant::from_micros(u64::MAX)) {
        Some(output) => output,
        None => panic!("the connection hangs at {:?}", clock.now()),
    }
}

/// Polls `future` in virtual time up to `until`: `Some` once it ends,
/// `None` while it waits for something later (the clock then reads
/// `until`) or for nothing at all.
pub(crate) fn run_until<T>(
    clock: &VirtualClock,
    mut future: Pin<&mut impl Future<Output = T>>,
    until: Instant,
) -> Option<T> {
    let (wakes, waker) = WakeCount::waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        clock.next.set(None);
        let woken = wakes.get();
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        if wakes.get() != woken {
            // It yielded: the executor would poll it again at once.
            clock.yields.set(clock.yields.get() + 1);
            continue;
        }
        match clock.next.get() {
            Some(at) if at <= until => clock.advance_to(at),
            _ => {
                clock.advance_to(until);
                return None;
            }
        }
    }
}

/// A waker that counts how often it is woken (and wakes nothing).
#[derive(Default)]
pub(crate) struct WakeCount(AtomicUsize);

impl WakeCount {
    /// A counter and a waker that counts into it.
    pub(crate) fn waker() -> (Arc<WakeCount>, Waker) {
        let count = Arc::new(WakeCount::default());
        (count.clone(), Waker::from(count))
    }

    /// Wake-ups so far.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the scripted client reads the server's responses.
#[derive(Clone, Copy)]
pub(crate) enum Reads {
    /// Every write completes at once.
    Promptly,
    /// Each write completes this long after it starts (a slow reader).
    Slowly(Duration),
    /// No write ever completes (the socket buffers are full).
    Never,
}

/// A scripted client: sends bytes at given instants, reads as [`Reads`]
/// says, and records what the server wrote and when each write completed.
pub(crate) struct Peer<'c> {
    clock: &'c VirtualClock,
    sends: VecDeque<(Instant, Vec<u8>)>,
    reads: Reads,
    pub(crate) received: Vec<(Instant, Vec<u8>)>,
}

impl<'c> Peer<'c> {
    pub(crate) fn new(clock: &'c VirtualClock, reads: Reads) -> Self {
        Peer {
            clock,
            sends: VecDeque::new(),
            reads,
            received: Vec::new(),
        }
    }

    /// The client sends `bytes` at `at` (in script order).
    pub(crate) fn sends(mut self, at: Instant, bytes: &[u8]) -> Self {
        self.sends.push_back((at, bytes.to_vec()));
        self
    }

    fn poll_read(&mut self, buf: &mut [u8]) -> Poll<usize> {
        let Some((at, bytes)) = self.sends.front_mut() else {
            return Poll::Pending; // silent from now on, never closes
        };
        if self.clock.poll_until(*at).is_pending() {
            return Poll::Pending;
        }
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        bytes.drain(..n);
        if bytes.is_empty() {
            self.sends.pop_front();
        }
        Poll::Ready(n)
    }
}

impl ErrorType for Peer<'_> {
    type Error = Infallible;
}

impl Read for Peer<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        Ok(poll_fn(|_| self.poll_read(buf)).await)
    }
}

impl Write for Peer<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        match self.reads {
            Reads::Promptly => {}
            Reads::Slowly(takes) => {
                let done = self.clock.now() + takes;
                poll_fn(|_| self.clock.poll_until(done)).await;
            }
            Reads::Never => pending().await,
        }
        self.received.push((self.clock.now(), buf.to_vec()));
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
