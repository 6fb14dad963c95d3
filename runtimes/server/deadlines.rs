//! The connections' deadlines on desktops (idle, incomplete frame, write
//! stall, parking): one thread per process sleeps until the earliest and
//! wakes the task whose deadline came.
//!
//! Why not the runtime's timer: a connection always has a deadline armed
//! (parking, 100 ms after its last request), so with runtime timers the
//! reactor always has one pending. Then every wait for I/O is an
//! `epoll_wait` with a finite timeout, for which the kernel arms a timer,
//! and the runtime's park computes the next expiration; an echo server
//! with no timer waits with none. At depth 1 that was about 0.5 µs of
//! server CPU per request on `benches/load` (tokio, three interleaved
//! rounds: 6.9-7.7 µs, against 6.2-7.0 with the timer taken out), and
//! tokio-modbus, which keeps no timer per connection, waits with none
//! too. Here the reactor's waits
//! carry no timeout; this thread wakes about once per connection and
//! parking period, not once per request, because the driver keeps a sleep
//! while its deadline only moves later (`runtimes/io.rs`).
//!
//! A sleep registers once, at its first poll; later polls only update its
//! waker. A sleep dropped before its deadline leaves a dead entry, dropped
//! when its time comes or when dead entries outnumber live ones.

use core::cmp::Ordering as CmpOrdering;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::Instant;
use std::vec::Vec;

use futures::task::AtomicWaker;

use super::connection::lock;

/// A sleep until `at` on the deadline thread, or `None` if that thread
/// could not be started (the caller then uses the runtime's timer).
pub(crate) fn sleep_until(at: Instant) -> Option<Sleep> {
    deadlines().map(|deadlines| Sleep {
        at,
        deadlines,
        entry: None,
    })
}

/// A future that completes at its deadline (or soon after: the thread's
/// wake-up latency, microseconds).
pub(crate) struct Sleep {
    at: Instant,
    deadlines: &'static Deadlines,
    /// Set at the first poll, when it is registered with the thread.
    entry: Option<Arc<Entry>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(entry) = &this.entry {
            // The waker first: a deadline that passes between the two is
            // seen by the check that follows.
            entry.waker.register(cx.waker());
            return if entry.fired.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        if Instant::now() >= this.at {
            return Poll::Ready(());
        }
        let entry = Arc::new(Entry {
            fired: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        entry.waker.register(cx.waker());
        this.deadlines.add(this.at, Arc::downgrade(&entry));
        this.entry = Some(entry);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.entry.is_some() {
            self.deadlines.live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a registered sleep shares with the thread.
struct Entry {
    fired: AtomicBool,
    waker: AtomicWaker,
}

/// A registered deadline; the heap's order puts the earliest on top.
struct Due {
    at: Instant,
    entry: Weak<Entry>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed: `BinaryHeap` is a max-heap.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at.cmp(&self.at)
    }
}

/// The deadline thread's state.
struct Deadlines {
    due: Mutex<BinaryHeap<Due>>,
    /// Signalled when a deadline earlier than every other is added.
    earlier: Condvar,
    /// Sleeps registered and not dropped.
    live: AtomicUsize,
}

/// Dead entries are dropped once the heap holds more than this many and
/// more than twice the live ones.
const PURGE_ABOVE: usize = 1024;

impl Deadlines {
    fn add(&self, at: Instant, entry: Weak<Entry>) {
        let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        let mut due = lock(&self.due);
        if due.len() > PURGE_ABOVE && due.len() > 2 * live {
            due.retain(|d| d.entry.strong_count() > 0);
        }
        let earliest = due.peek().is_none_or(|first| at < first.at);
        due.push(Due { at, entry });
        drop(due);
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// The thread: wakes the sleeps whose deadlines came, then waits for
    /// the next deadline or an earlier one.
    fn run(&self) {
        let mut fired = Vec::new();
        let mut due = lock(&self.due);
        loop {
            let now = Instant::now();
            while due.peek().is_some_and(|first| first.at <= now) {
                if let Some(entry) = due.pop().and_then(|d| d.entry.upgrade()) {
                    fired.push(entry);
                }
            }
            if !fired.is_empty() {
                // Woken outside the lock: a waker may run a task inline.
                drop(due);
                for entry in fired.drain(..) {
                    entry.fired.store(true, Ordering::Release);
                    entry.waker.wake();
                }
                due = lock(&self.due);
                continue;
            }
            due = match due
                .peek()
                .map(|first| first.at.saturating_duration_since(now))
            {
                None => self
                    .earlier
                    .wait(due)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(wait) => {
                    self.earlier
                        .wait_timeout(due, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// The process's deadline thread, started at the first need; `None` if it
/// could not be started.
fn deadlines() -> Option<&'static Deadlines> {
    static DEADLINES: OnceLock<Option<&'static Deadlines>> = OnceLock::new();
    *DEADLINES.get_or_init(|| {
        let deadlines: &'static Deadlines =
            std::boxed::Box::leak(std::boxed::Box::new(Deadlines {
                due: Mutex::new(BinaryHeap::new()),
                earlier: Condvar::new(),
                live: AtomicUsize::new(0),
            }));
        match std::thread::Builder::new()
            .name("modbus-deadlines".into())
            .spawn(move || deadlines.run())
        {
            Ok(_) => Some(deadlines),
            Err(e) => {
                warn!(
                    "modbus server: no deadline thread ({}): connections use the runtime's timer",
                    e
                );
                None
            }
        }
    })
}

#[cfg(test)]
mod tests;
