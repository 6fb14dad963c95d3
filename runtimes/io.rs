//! The one connection driver: an [`Engine`] over any
//! `embedded_io_async::{Read, Write}` stream and a [`Clock`].
//!
//! Each read goes straight into the engine's free input space; each batch of
//! responses is one `write_all`; the shared service is locked only inside
//! [`Engine::poll_output`], never across an `.await`.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use embedded_io_async::{Read, Write};
use futures::future::{select, Either};

use crate::engine::{CloseReason, Engine};
use crate::service::Respond;
use crate::shared::Shared;
use crate::time::Instant;

/// The adapter's clock: the current time and a timer.
pub trait Clock {
    /// The current time on a monotonic clock.
    fn now(&self) -> Instant;

    /// Completes at (or after) `deadline`.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()>;
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnectionEnd<E> {
    /// The client closed the connection (a read returned 0 bytes).
    PeerClosed,
    /// The engine closed it (broken header, timeout).
    Closed(CloseReason),
    /// Reading or writing failed (reset by peer, ...).
    Io(E),
}

impl<E: core::fmt::Debug> core::fmt::Display for ConnectionEnd<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnectionEnd::PeerClosed => f.write_str("closed by the client"),
            ConnectionEnd::Closed(reason) => write!(f, "closed by the server: {reason}"),
            ConnectionEnd::Io(e) => write!(f, "I/O error: {e:?}"),
        }
    }
}

/// Where the driver finds a connection's [`Engine`].
///
/// An engine is mostly buffers (1.5 KiB on desktops). A slot may *park* an
/// idle connection, giving its engine back to a pool, so that thousands of
/// idle connections do not each hold buffers; the driver then reads the
/// next bytes into a small stash and takes an engine again. A plain
/// `Engine` is a slot that never parks (firmware keeps its engines).
pub trait EngineSlot<const IN: usize, const OUT: usize> {
    /// The engine, if the connection holds one.
    fn active(&mut self) -> Option<&mut Engine<IN, OUT>>;

    /// How long a connection stays idle before it is parked; `None`: never.
    fn park_after(&self) -> Option<Duration> {
        None
    }

    /// Gives the engine up while the connection is idle.
    fn park(&mut self) {}

    /// Where a parked connection reads its next bytes (a few dozen bytes:
    /// a longer request takes a second read, into the woken engine). Only
    /// used while parked: a slot that parks must give a non-empty stash.
    fn stash(&mut self) -> &mut [u8] {
        &mut []
    }

    /// `len` bytes were read into the stash at `now`: take an engine
    /// (restarted at `now`) and hand it those bytes.
    fn wake(&mut self, len: usize, now: Instant) {
        let _ = (len, now);
    }

    /// For a slot that starts parked (no engine yet): when the connection
    /// idles out if nothing arrives, counted from `now`.
    fn parked_deadline(&self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }
}

impl<const IN: usize, const OUT: usize> EngineSlot<IN, OUT> for Engine<IN, OUT> {
    fn active(&mut self) -> Option<&mut Engine<IN, OUT>> {
        Some(self)
    }
}

/// What woke the driver up.
enum Wake<E> {
    Read(Result<usize, E>),
    Timer,
}

/// Serves one connection until it ends, and says why.
///
/// `slot` holds the connection's engine: an [`Engine`] created with the
/// client's address and `clock.now()`, or a pooling slot (see
/// [`EngineSlot`]). It is borrowed, so firmware can keep it in a static and
/// reuse it for the next connection (after [`Engine::restart`]).
pub async fn serve_connection<IO, X, C, S, const IN: usize, const OUT: usize>(
    io: &mut IO,
    shared: &X,
    clock: &C,
    slot: &mut S,
) -> ConnectionEnd<IO::Error>
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
    S: EngineSlot<IN, OUT> + ?Sized,
{
    // The timer is armed once and kept while deadlines only move later (the
    // idle deadline moves after every request). Re-arming it for every read
    // would cost, on desktops, a timer registration with the reactor thread
    // (a syscall and a wake-up) per request. A timer that fires early is
    // harmless: the real deadline is checked and the timer re-armed.
    let mut timer = pin!(None);
    let mut armed: Option<Instant> = None;
    let park_after = slot.park_after();
    // While parked: when the connection idles out.
    let mut parked_deadline = slot.parked_deadline(clock.now());
    loop {
        // Drain: every complete request is answered before reading more.
        let mut park_at = None;
        let deadline = if let Some(engine) = slot.active() {
            // A client that stops reading its responses blocks our writes
            // once its window and our send buffer are full: after the idle
            // timeout it is dropped, like one that stops sending.
            let stall_limit = engine.config().idle_timeout;
            loop {
                let output = match engine.poll_output(shared) {
                    Ok(output) => output,
                    Err(reason) => return ConnectionEnd::Closed(reason),
                };
                if output.is_empty() {
                    break;
                }
                let stall_deadline = stall_limit.map(|t| clock.now() + t);
                if armed.is_none() {
                    if let Some(at) = stall_deadline {
                        timer.set(Some(clock.sleep_until(at)));
                        armed = Some(at);
                    }
                }
                let mut write = pin!(io.write_all(output));
                loop {
                    let fired = pin!(poll_fn(|cx| match timer.as_mut().as_pin_mut() {
                        Some(sleep) => sleep.poll(cx),
                        None => Poll::Pending,
                    }));
                    match select(write.as_mut(), fired).await {
                        Either::Left((Ok(()), _)) => break,
                        Either::Left((Err(e), _)) => return ConnectionEnd::Io(e),
                        Either::Right(((), _)) => {
                            let now = clock.now();
                            if stall_deadline.is_some_and(|at| now >= at) {
                                return ConnectionEnd::Closed(CloseReason::WriteTimeout);
                            }
                            timer.set(stall_deadline.map(|at| clock.sleep_until(at)));
                            armed = stall_deadline;
                        }
                    }
                }
            }
            // No `flush`: sockets send what is written without it, and
            // embassy-net's `TcpSocket::flush` waits for the peer's ACK,
            // which would stall pipelined requests behind a delayed ACK and
            // let a silent peer hold the connection outside every timeout.
            park_at = engine
                .idle_since()
                .zip(park_after)
                .map(|(since, after)| since + after);
            let deadline = engine.poll_timeout();
            match (deadline, park_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            parked_deadline
        };

        match deadline {
            None => {
                timer.set(None);
                armed = None;
            }
            Some(deadline) if armed.is_none_or(|at| deadline < at) => {
                timer.set(Some(clock.sleep_until(deadline)));
                armed = Some(deadline);
            }
            Some(_) => {}
        }
        let wake = {
            let buffer = match slot.active() {
                Some(engine) => engine.input_buffer(),
                None => slot.stash(),
            };
            let read = pin!(io.read(buffer));
            let fired = pin!(poll_fn(|cx| match timer.as_mut().as_pin_mut() {
                Some(sleep) => sleep.poll(cx),
                None => Poll::Pending,
            }));
            match select(read, fired).await {
                Either::Left((result, _)) => Wake::Read(result),
                Either::Right(((), _)) => Wake::Timer,
            }
        };
        match wake {
            Wake::Read(Ok(0)) => return ConnectionEnd::PeerClosed,
            Wake::Read(Ok(n)) => {
                let now = clock.now();
                if slot.active().is_none() {
                    slot.wake(n, now);
                } else if let Some(engine) = slot.active() {
                    engine.handle_input(n, now);
                }
            }
            Wake::Read(Err(e)) => return ConnectionEnd::Io(e),
            Wake::Timer => {
                timer.set(None);
                armed = None;
                let now = clock.now();
                match slot.active() {
                    Some(engine) => {
                        if park_at.is_some_and(|at| now >= at) && engine.idle_since().is_some() {
                            parked_deadline = engine.poll_timeout();
                            slot.park();
                        } else if let Err(reason) = engine.handle_timeout(now) {
                            return ConnectionEnd::Closed(reason);
                        }
                    }
                    None => {
                        if parked_deadline.is_some_and(|at| now >= at) {
                            return ConnectionEnd::Closed(CloseReason::IdleTimeout);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use core::cell::Cell;
    use core::convert::Infallible;
    use core::future::{pending, ready, Future};
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};
    use std::cell::RefCell;
    use std::vec::Vec;

    use super::*;
    use crate::{DataBank, EngineConfig, FixedStorage, Service};

    /// Virtual time that moves 100 ms at every look; timers fire at once.
    struct JumpingClock(Cell<u64>);

    impl Clock for JumpingClock {
        fn now(&self) -> Instant {
            self.0.set(self.0.get() + 100_000);
            Instant::from_micros(self.0.get())
        }

        fn sleep_until(&self, _deadline: Instant) -> impl Future<Output = ()> {
            ready(())
        }
    }

    /// A peer that sends `input` once, then nothing, and never reads.
    struct NeverReads {
        input: Vec<u8>,
    }

    impl embedded_io_async::ErrorType for NeverReads {
        type Error = Infallible;
    }

    impl Read for NeverReads {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            if self.input.is_empty() {
                return pending().await;
            }
            let n = self.input.len().min(buf.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Ok(n)
        }
    }

    impl Write for NeverReads {
        async fn write(&mut self, _buf: &[u8]) -> Result<usize, Infallible> {
            pending().await
        }

        async fn flush(&mut self) -> Result<(), Infallible> {
            pending().await
        }
    }

    #[test]
    fn a_write_that_never_completes_ends_at_the_idle_timeout() {
        let service = RefCell::new(Service::new(DataBank::new(
            FixedStorage::<0, 0, 4, 0>::new(),
        )));
        let clock = JumpingClock(Cell::new(0));
        let config = EngineConfig {
            idle_timeout: Some(core::time::Duration::from_secs(2)),
            frame_timeout: None,
        };
        let mut engine = Engine::<260, 260>::new(config, None, clock.now());
        let mut io = NeverReads {
            input: [0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1].to_vec(),
        };
        let mut served = pin!(serve_connection(&mut io, &service, &clock, &mut engine));
        let mut cx = Context::from_waker(Waker::noop());
        // Every timer is ready at once, so the stalled write must give up
        // within one poll; a driver that waits for the write forever stays Pending.
        match served.as_mut().poll(&mut cx) {
            Poll::Ready(end) => assert_eq!(end, ConnectionEnd::Closed(CloseReason::WriteTimeout)),
            Poll::Pending => panic!("a write that never completes held the connection"),
        }
    }
}
