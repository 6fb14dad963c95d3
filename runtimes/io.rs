//! The one connection driver: an [`Engine`] over any
//! `embedded_io_async::{Read, Write}` stream and a [`Clock`].
//!
//! Each read goes straight into the engine's free input space; each batch of
//! responses is one `write_all`; the shared service is locked only inside
//! [`Engine::poll_output`], never across an `.await`.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

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

/// Serves one connection until it ends, and says why.
///
/// `engine` holds the connection's buffers (create it with the client's
/// address and `clock.now()`); it is borrowed, so firmware can keep it in a
/// static and reuse it for the next connection (after a fresh
/// [`Engine::new`]).
pub async fn serve_connection<IO, X, C, const IN: usize, const OUT: usize>(
    io: &mut IO,
    shared: &X,
    clock: &C,
    engine: &mut Engine<IN, OUT>,
) -> ConnectionEnd<IO::Error>
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
{
    // The timer is armed once and kept while deadlines only move later (the
    // idle deadline moves after every request). Re-arming it for every read
    // would cost, on desktops, a timer registration with the reactor thread
    // (a syscall and a wake-up) per request. A timer that fires early is
    // harmless: the engine checks the real deadline and it is re-armed.
    let mut timer = pin!(None);
    let mut armed: Option<Instant> = None;
    loop {
        // Drain: every complete request is answered before reading more.
        loop {
            let output = match engine.poll_output(shared) {
                Ok(output) => output,
                Err(reason) => return ConnectionEnd::Closed(reason),
            };
            if output.is_empty() {
                break;
            }
            if let Err(e) = io.write_all(output).await {
                return ConnectionEnd::Io(e);
            }
        }
        if let Err(e) = io.flush().await {
            return ConnectionEnd::Io(e);
        }

        match engine.poll_timeout() {
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
        let read = {
            let read = pin!(io.read(engine.input_buffer()));
            let fired = pin!(poll_fn(|cx| match timer.as_mut().as_pin_mut() {
                Some(sleep) => sleep.poll(cx),
                None => Poll::Pending,
            }));
            match select(read, fired).await {
                Either::Left((result, _)) => Some(result),
                Either::Right(((), _)) => None,
            }
        };
        match read {
            Some(Ok(0)) => return ConnectionEnd::PeerClosed,
            Some(Ok(n)) => engine.handle_input(n, clock.now()),
            Some(Err(e)) => return ConnectionEnd::Io(e),
            None => {
                timer.set(None);
                armed = None;
                if let Err(reason) = engine.handle_timeout(clock.now()) {
                    return ConnectionEnd::Closed(reason);
                }
            }
        }
    }
}
