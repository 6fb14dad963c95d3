//! Pauses for a socket that the reactor reports ready but that refuses the
//! operation, shared by every desktop socket type (async-io's in
//! `socket.rs`, tokio's in `runtimes/tokio.rs`), each with its own
//! runtime's timer.
//!
//! Linux reports a TCP socket writable while its own send buffer has room,
//! but under global TCP memory pressure `send` can still fail (EAGAIN,
//! ENOBUFS, ENOMEM). Retrying at once is a spin through the reactor;
//! ending the connection drops a client for a moment's shortage. So a
//! refused socket waits on a timer, and the engine's write-stall deadline
//! still bounds how long.

use core::task::{Context, Poll};
use core::time::Duration;
use std::boxed::Box;
use std::io;

/// A runtime's one-shot timer, as [`Backoff`] uses it.
pub(crate) trait PauseTimer: Send + Sync + 'static {
    /// A timer that fires after `delay`.
    fn after(delay: Duration) -> Self;
    /// Re-arms the timer to fire after `delay` from now.
    fn set_after(&mut self, delay: Duration);
    /// Ready once the timer fired.
    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// The longest pause after a refused operation: [`Backoff`] doubles from
/// 1 ms up to this. Long enough that a socket refused for seconds costs a
/// few dozen attempts a second; short next to the write-stall deadline
/// (the idle timeout, 60 s by default) that ends such a connection.
const MAX_BACKOFF: Duration = Duration::from_millis(64);

/// Pauses between attempts on a socket that the reactor reports ready but
/// that refuses the operation, so that they go through a timer rather than
/// straight back to the reactor.
///
/// The first refusal in a row costs no pause: a readiness that was already
/// used up (the task was woken by something else and wrote meanwhile) looks
/// the same once. Then 1 ms, doubling up to [`MAX_BACKOFF`]. Any success
/// starts over.
#[derive(Debug)]
pub(crate) struct Backoff<T> {
    /// Refusals in a row.
    refused: u8,
    /// The pause in progress. Boxed: only refused sockets need one, and
    /// every connection carries two of these.
    pause: Option<Box<T>>,
}

impl<T> Default for Backoff<T> {
    fn default() -> Self {
        Backoff {
            refused: 0,
            pause: None,
        }
    }
}

impl<T: PauseTimer> Backoff<T> {
    /// The operation was refused although the socket looked ready.
    pub(crate) fn refused(&mut self) {
        if let Some(delay) = pause_after(self.refused) {
            match &mut self.pause {
                Some(timer) => timer.set_after(delay),
                None => self.pause = Some(Box::new(T::after(delay))),
            }
        }
        self.refused = self.refused.saturating_add(1);
    }

    /// The operation went through.
    #[inline]
    pub(crate) fn succeeded(&mut self) {
        // A test, not two stores and the drop of an `Option<Box>`: this
        // runs after every read and write (callgrind on `benches/load`'s
        // server: 26 instructions per request).
        if self.refused != 0 {
            self.refused = 0;
            self.pause = None;
        }
    }

    /// Ready once no pause is in progress.
    #[inline]
    pub(crate) fn poll_pause(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(timer) = &mut self.pause {
            core::task::ready!(timer.poll_elapsed(cx));
            self.pause = None;
        }
        Poll::Ready(())
    }
}

/// The pause after a refusal that follows `refused` others in a row: none
/// after the first, then 1 ms, doubling up to [`MAX_BACKOFF`].
fn pause_after(refused: u8) -> Option<Duration> {
    let doublings = u32::from(refused.checked_sub(1)?).min(6);
    Some(Duration::from_millis(1 << doublings).min(MAX_BACKOFF))
}

/// Whether a failed read or write may succeed later without anything
/// changing on the connection: the kernel was short of memory or buffers.
pub(crate) fn transient(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::OutOfMemory || e.raw_os_error() == Some(ENOBUFS)
}

/// The OS's "no buffer space available" error number.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ENOBUFS: i32 = 105;
#[cfg(windows)]
const ENOBUFS: i32 = 10055; // WSAENOBUFS
#[cfg(not(any(target_os = "linux", target_os = "android", windows)))]
const ENOBUFS: i32 = 55; // the BSDs and macOS

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn refusals_pause_for_a_time_that_grows_to_the_cap() {
        let delays: std::vec::Vec<_> = (0..10).map(pause_after).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(
            delays,
            [
                None,
                ms(1),
                ms(2),
                ms(4),
                ms(8),
                ms(16),
                ms(32),
                ms(64),
                ms(64),
                ms(64)
            ]
        );
        assert_eq!(pause_after(u8::MAX), Some(MAX_BACKOFF));
    }

    #[test]
    fn the_kernels_shortages_are_transient_and_nothing_else_is() {
        assert!(transient(&io::Error::from_raw_os_error(ENOBUFS)));
        assert!(transient(&io::Error::from(io::ErrorKind::OutOfMemory)));
        assert!(!transient(&io::Error::from(io::ErrorKind::ConnectionReset)));
        assert!(!transient(&io::Error::from(io::ErrorKind::BrokenPipe)));
    }

    /// Checks a runtime's timer through [`Backoff`]: the first refusal is
    /// free, the second waits (`block_on` runs a future on that runtime),
    /// a pause ends, and a success starts over.
    pub(crate) fn check_backoff_with<T: PauseTimer>(
        block_on: impl FnOnce(&mut dyn FnMut(&mut Context<'_>) -> Poll<()>),
    ) {
        let mut backoff = Backoff::<T>::default();
        let mut cx = Context::from_waker(core::task::Waker::noop());
        backoff.refused();
        assert!(backoff.poll_pause(&mut cx).is_ready(), "the first is free");
        backoff.refused();
        assert!(backoff.poll_pause(&mut cx).is_pending(), "the second waits");
        let started = std::time::Instant::now();
        block_on(&mut |cx| backoff.poll_pause(cx));
        assert!(started.elapsed() >= Duration::from_millis(1) / 2);
        assert!(backoff.poll_pause(&mut cx).is_ready(), "a pause ends");
        backoff.succeeded();
        backoff.refused();
        assert!(
            backoff.poll_pause(&mut cx).is_ready(),
            "success starts over"
        );
    }
}
