//! The one connection driver: an [`Engine`] over any
//! `embedded_io_async::{Read, Write}` stream and a [`Clock`].
//!
//! Each read goes straight into the engine's free input space; each batch of
//! responses is one `write_all`; the shared service is locked only inside
//! [`Engine::poll_output`], never across an `.await`.
//!
//! The driver keeps no deadline of its own: it arms one timer at the
//! engine's [`poll_timeout`](Engine::poll_timeout) (the idle, frame,
//! write-stall and parking deadlines) and hands the firing to the engine.
//!
//! A connection whose stream is always ready (a client that pipelines as
//! fast as it is answered) would never return to the executor, and on a
//! single executor thread every other connection would wait for it. So the
//! driver yields after a few KiB read and written without waiting
//! (`FAIRNESS_BUDGET` says how many, and why bytes): it wakes its own task
//! and returns `Pending` once, letting every other ready task run first.

use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::task::{Context, Poll};

use embedded_io_async::{Read, Write};

use crate::engine::{CloseReason, Engine, Parked};
use crate::service::Respond;
use crate::session::ClientIdentity;
use crate::shared::Shared;
use crate::time::Instant;

/// Bytes a connection may read and write in a row without waiting before
/// it yields to the executor (wakes its task and returns `Pending` once),
/// so that a client that keeps the connection busy delays the others by at
/// most this much work.
///
/// Bytes, not reads and writes, because the work follows the bytes: 8 KiB
/// is a few rounds of a pipelining client on a desktop (a read of up to
/// 1 KiB of requests and up to 1 KiB of answers each), in the order of
/// 100 µs, a few batches of delay for a neighbour, as the issue "Fair and
/// available under hostile load" asks. A client at depth 1 whose next
/// request is already there when the driver reads (a fast client on the
/// same machine: the driver then never waits either) moves about 40 bytes
/// per request, so it yields once every ~200 requests. Counting reads and
/// writes instead (eight of them) made such a client yield every four
/// requests; on tokio's multi-thread runtime each yield wakes another
/// worker (an eventfd write and an epoll round), which cost about 15 % more
/// server CPU per request at depth 1 than the echo limit of
/// `benches/load`. Waiting resets the budget: a connection that goes back
/// to the executor on its own never yields for fairness.
pub(crate) const FAIRNESS_BUDGET: usize = 8 * 1024;

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
/// `engine` is created with the client's address and `clock.now()`. It is
/// borrowed, so firmware can keep it in a static and reuse it for the next
/// connection (after [`Engine::restart`]).
///
/// (Not an `async fn`: the future is the driver's own, with no second copy
/// of the arguments around it.)
pub fn serve_connection<'a, IO, X, C, const IN: usize, const OUT: usize>(
    io: &'a mut IO,
    shared: &'a X,
    clock: &'a C,
    engine: &'a mut Engine<IN, OUT>,
) -> impl Future<Output = ConnectionEnd<IO::Error>> + 'a
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
{
    drive(io, shared, clock, engine)
}

/// Where the driver finds a connection's [`Engine`].
///
/// An engine is mostly buffers (2 KiB on desktops). The desktop pool's
/// slot *parks* an idle connection, giving its engine back to the pool, so
/// that thousands of idle connections do not each hold buffers; the driver
/// then reads the next bytes into a small stash and the slot takes an
/// engine again. A plain `Engine` never parks: firmware keeps its engines.
pub(crate) trait EngineSlot<const IN: usize, const OUT: usize> {
    /// The engine, or the parked connection's deadline and stash.
    fn state(&mut self) -> Slot<'_, IN, OUT>;

    /// Gives the engine up: [`Engine::handle_timer`] said the connection
    /// is idle long enough, and `parked` is what it keeps meanwhile.
    fn park(&mut self, parked: Parked);

    /// `len` bytes were read into the stash at `now`: take an engine
    /// (restarted at `now`) and hand it those bytes.
    fn wake(&mut self, len: usize, now: Instant);
}

/// A connection as the driver finds it in its [`EngineSlot`].
pub(crate) enum Slot<'a, const IN: usize, const OUT: usize> {
    /// It holds an engine.
    Active(&'a mut Engine<IN, OUT>),
    /// Parked (only the desktop pool parks).
    #[cfg_attr(
        not(feature = "_desktop"),
        allow(dead_code, reason = "only the desktop pool parks")
    )]
    Parked {
        /// The deadline its engine computed before it was parked.
        parked: Parked,
        /// Where it reads its next bytes (a few dozen bytes: a longer
        /// request takes a second read, into the woken engine).
        stash: &'a mut [u8],
    },
}

impl<const IN: usize, const OUT: usize> EngineSlot<IN, OUT> for Engine<IN, OUT> {
    fn state(&mut self) -> Slot<'_, IN, OUT> {
        Slot::Active(self)
    }

    // Never called: a plain engine has no parking deadline, so
    // `handle_timer` never says to park, and it is never parked to wake.
    fn park(&mut self, _parked: Parked) {}

    fn wake(&mut self, _len: usize, _now: Instant) {}
}

/// Serves the connection in `slot` until it ends, and says why.
pub(crate) async fn drive<IO, X, C, S, const IN: usize, const OUT: usize>(
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
    drive_as(io, shared, clock, slot, None).await
}

/// [`drive`] for a connection whose client the transport authenticated
/// (TLS): `identity` reaches every request's `SessionInfo`.
pub(crate) async fn drive_as<IO, X, C, S, const IN: usize, const OUT: usize>(
    io: &mut IO,
    shared: &X,
    clock: &C,
    slot: &mut S,
    identity: Option<ClientIdentity<'_>>,
) -> ConnectionEnd<IO::Error>
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
    S: EngineSlot<IN, OUT> + ?Sized,
{
    let sleep = pin!(None);
    let mut driver = Driver {
        io,
        identity,
        clock,
        timer: Timer::new(|at| clock.sleep_until(at), sleep),
        budget: FAIRNESS_BUDGET,
        now: clock.now(),
    };
    loop {
        if let Err(end) = driver.step(shared, slot).await {
            return end;
        }
    }
}

/// The driver's one timer: a sleep armed at the connection's deadline.
///
/// It is kept while deadlines only move later (the idle deadline moves
/// after every request). Re-arming it for every read would cost a timer
/// registration per request (on desktops with the deadline thread of
/// `runtimes/server/deadlines.rs`, a lock and a heap push; on firmware with
/// the executor's timer queue). A timer that fires early is harmless: the engine
/// finds no deadline reached, and the timer is armed again at its deadline.
struct Timer<'a, F, M> {
    /// Starts a sleep until an instant (`Clock::sleep_until`).
    start: M,
    sleep: Pin<&'a mut Option<F>>,
    armed: Option<Instant>,
}

impl<'a, F, M> Timer<'a, F, M>
where
    F: Future<Output = ()>,
    M: Fn(Instant) -> F,
{
    fn new(start: M, sleep: Pin<&'a mut Option<F>>) -> Self {
        Timer {
            start,
            sleep,
            armed: None,
        }
    }

    /// Makes the timer fire at `deadline` or earlier; `None`: never.
    fn arm(&mut self, deadline: Option<Instant>) {
        match deadline {
            None => self.disarm(),
            Some(at) if self.armed.is_none_or(|armed| at < armed) => {
                self.sleep.set(Some((self.start)(at)));
                self.armed = Some(at);
            }
            Some(_) => {}
        }
    }

    fn disarm(&mut self) {
        self.sleep.set(None);
        self.armed = None;
    }

    /// Ready when the armed sleep completes (never while disarmed), and
    /// then disarms: a completed sleep is not polled again.
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let fired = match self.sleep.as_mut().as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Pending,
        };
        if fired.is_ready() {
            self.disarm();
        }
        fired
    }
}

/// What woke the driver up while it waited for input.
enum Wake<E> {
    Read(Result<usize, E>),
    Timer,
}

/// Returns `Pending` once, having woken its own task: every other task
/// ready to run gets its turn before this one goes on.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// One connection's stream, clock and timer.
struct Driver<'a, 'i, IO, C, F, M> {
    io: &'a mut IO,
    /// The authenticated client, for every request's `SessionInfo`.
    identity: Option<ClientIdentity<'i>>,
    clock: &'a C,
    timer: Timer<'a, F, M>,
    /// Bytes left to read and write before the connection yields (see
    /// [`FAIRNESS_BUDGET`]).
    budget: usize,
    /// The clock's last reading: when the latest read (or timer) woke the
    /// driver. A write that does not wait reports it as its own time,
    /// microseconds off, instead of reading the clock again (on desktops
    /// three clock reads per request were about 2 % of the server's CPU at
    /// depth 1, `perf` on `benches/load`); deadlines are seconds.
    now: Instant,
}

impl<IO, C, F, M> Driver<'_, '_, IO, C, F, M>
where
    IO: Read + Write,
    C: Clock,
    F: Future<Output = ()>,
    M: Fn(Instant) -> F,
{
    /// Answers what is waiting, then waits for input or the deadline.
    /// `Err`: the connection ended.
    async fn step<X, S, const IN: usize, const OUT: usize>(
        &mut self,
        shared: &X,
        slot: &mut S,
    ) -> Result<(), ConnectionEnd<IO::Error>>
    where
        X: Shared + ?Sized,
        X::Target: Respond,
        S: EngineSlot<IN, OUT> + ?Sized,
    {
        let deadline = match slot.state() {
            Slot::Active(engine) => {
                self.drain(shared, engine).await?;
                engine.poll_timeout()
            }
            Slot::Parked { parked, .. } => parked.poll_timeout(),
        };
        self.timer.arm(deadline);
        let mut waited = false;
        let wake = self.read_or_timer(slot, &mut waited).await;
        match wake {
            Wake::Read(Ok(0)) => Err(ConnectionEnd::PeerClosed),
            Wake::Read(Ok(n)) => {
                self.now = self.clock.now();
                on_read(slot, n, self.now);
                if self.spend(waited, n) {
                    yield_now().await;
                }
                Ok(())
            }
            Wake::Read(Err(e)) => Err(ConnectionEnd::Io(e)),
            Wake::Timer => {
                self.now = self.clock.now();
                on_timer(slot, self.now).map_err(ConnectionEnd::Closed)
            }
        }
    }

    /// Answers every complete request, batch by batch, before reading more.
    async fn drain<X, const IN: usize, const OUT: usize>(
        &mut self,
        shared: &X,
        engine: &mut Engine<IN, OUT>,
    ) -> Result<(), ConnectionEnd<IO::Error>>
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        while !engine
            .poll_output_as(shared, self.identity)
            .map_err(ConnectionEnd::Closed)?
            .is_empty()
        {
            let mut waited = false;
            let written = engine.pending_output().len();
            self.write_output(engine, &mut waited).await?;
            if waited {
                self.now = self.clock.now();
            }
            engine.handle_output_written(self.now);
            if self.spend(waited, written) {
                yield_now().await;
            }
        }
        // No `flush`: sockets send what is written without it, and
        // embassy-net's `TcpSocket::flush` waits for the peer's ACK,
        // which would stall pipelined requests behind a delayed ACK and
        // let a silent peer hold the connection outside every timeout.
        Ok(())
    }

    /// Counts a read or a write of `bytes` that completed; true when the
    /// connection has used up its [`FAIRNESS_BUDGET`] without waiting, and
    /// must yield.
    fn spend(&mut self, waited: bool, bytes: usize) -> bool {
        if waited {
            self.budget = FAIRNESS_BUDGET;
        }
        match self.budget.checked_sub(bytes) {
            Some(left) if left > 0 => {
                self.budget = left;
                false
            }
            _ => {
                self.budget = FAIRNESS_BUDGET;
                true
            }
        }
    }

    /// Writes the engine's output in flight, unless the engine's deadline
    /// (the write stall: a client that stopped reading) passes first.
    /// `waited`: set if the task went back to the executor meanwhile.
    async fn write_output<const IN: usize, const OUT: usize>(
        &mut self,
        engine: &Engine<IN, OUT>,
        waited: &mut bool,
    ) -> Result<(), ConnectionEnd<IO::Error>> {
        self.timer.arm(engine.poll_timeout());
        let mut write = pin!(self.io.write_all(engine.pending_output()));
        loop {
            let timer = &mut self.timer;
            let written = poll_fn(|cx| first_of(write.as_mut(), timer, waited, cx)).await;
            if let Some(result) = written {
                return result.map_err(ConnectionEnd::Io);
            }
            // The timer fired (maybe early, armed at an older deadline).
            if let Some(reason) = engine.timed_out(self.clock.now()) {
                return Err(ConnectionEnd::Closed(reason));
            }
            self.timer.arm(engine.poll_timeout());
        }
    }

    /// Reads into the engine (or the parked connection's stash), unless the
    /// timer fires first. `waited`: set if the task went back to the
    /// executor meanwhile.
    async fn read_or_timer<S, const IN: usize, const OUT: usize>(
        &mut self,
        slot: &mut S,
        waited: &mut bool,
    ) -> Wake<IO::Error>
    where
        S: EngineSlot<IN, OUT> + ?Sized,
    {
        let buffer = match slot.state() {
            Slot::Active(engine) => engine.input_buffer(),
            Slot::Parked { stash, .. } => stash,
        };
        let mut read = pin!(self.io.read(buffer));
        let timer = &mut self.timer;
        match poll_fn(|cx| first_of(read.as_mut(), timer, waited, cx)).await {
            Some(result) => Wake::Read(result),
            None => Wake::Timer,
        }
    }
}

/// Polls `io` (a read or a write), then, if it is pending, the timer:
/// `Some` with the I/O's result, `None` when the timer fired first; sets
/// `waited` when both are pending (the task goes back to the executor).
/// One poll function instead of `select` over the two futures and a
/// wrapper that notes the waits: this runs at every wait of every
/// connection.
fn first_of<T, F, M>(
    io: Pin<&mut impl Future<Output = T>>,
    timer: &mut Timer<'_, F, M>,
    waited: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<T>>
where
    F: Future<Output = ()>,
    M: Fn(Instant) -> F,
{
    if let Poll::Ready(result) = io.poll(cx) {
        return Poll::Ready(Some(result));
    }
    let fired = timer.poll_fired(cx).map(|()| None);
    if fired.is_pending() {
        *waited = true;
    }
    fired
}

/// `n` bytes were read at `now`: into the engine, or into the stash of a
/// parked connection, which takes an engine again.
fn on_read<S, const IN: usize, const OUT: usize>(slot: &mut S, n: usize, now: Instant)
where
    S: EngineSlot<IN, OUT> + ?Sized,
{
    match slot.state() {
        Slot::Active(engine) => engine.handle_input(n, now),
        Slot::Parked { .. } => slot.wake(n, now),
    }
}

/// The timer fired at `now`: the engine (or the parked connection's
/// deadline) says whether to close, park, or wait on.
fn on_timer<S, const IN: usize, const OUT: usize>(
    slot: &mut S,
    now: Instant,
) -> Result<(), CloseReason>
where
    S: EngineSlot<IN, OUT> + ?Sized,
{
    match slot.state() {
        Slot::Active(engine) => {
            if let Some(parked) = engine.handle_timer(now)? {
                slot.park(parked);
            }
            Ok(())
        }
        Slot::Parked { parked, .. } => parked.handle_timeout(now),
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
pub(crate) mod virtual_time;
