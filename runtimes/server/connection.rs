//! One desktop connection: activity tracking, the clock, the registry of
//! open connections (for stop and eviction) and the task that serves one.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use embedded_io_adapters::futures_03::FromFutures;
use futures::future::AbortHandle;
use futures::io::{AsyncRead, AsyncWrite};

use super::config::DisconnectReason;
use super::pool::{EnginePool, PooledSlot};
use super::socket::Socket;
use super::Runtime;
use crate::runtimes::io::{serve_connection, Clock, ConnectionEnd};
use crate::{Engine, Instant, Respond, Shared};

/// Input buffer of a desktop connection: room for dozens of pipelined requests.
pub(crate) const INPUT_BUFFER: usize = 512;
/// Output buffer: at least 3 maximal responses, or ~35 small ones, per write.
pub(crate) const OUTPUT_BUFFER: usize = 1024;

/// A desktop connection's engine.
pub(crate) type DesktopEngine = Engine<INPUT_BUFFER, OUTPUT_BUFFER>;

/// The process-wide origin of [`Instant`]s on desktops.
fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// Microseconds since [`origin`].
pub(crate) fn now_micros() -> u64 {
    u64::try_from(origin().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The engine's clock on a desktop runtime.
pub(crate) struct DesktopClock<R>(core::marker::PhantomData<R>);

impl<R: Runtime> Clock for DesktopClock<R> {
    fn now(&self) -> Instant {
        Instant::from_micros(now_micros())
    }

    fn sleep_until(&self, deadline: Instant) -> impl core::future::Future<Output = ()> {
        R::sleep_until(origin() + Duration::from_micros(deadline.as_micros()))
    }
}

/// A stream that records when it last received bytes (for eviction).
struct Tracked<T> {
    inner: T,
    last_input: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            if n > 0 {
                self.last_input.store(now_micros(), Ordering::Relaxed);
            }
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// An open connection, as the server sees it from outside its task.
pub(crate) struct Entry<S> {
    pub(crate) client: SocketAddr,
    pub(crate) abort: AbortHandle,
    /// A handle on the same socket, to shut it down from `stop()`.
    pub(crate) stream: S,
    pub(crate) last_input: Arc<AtomicU64>,
}

/// The open connections, by id.
pub(crate) struct Registry<S> {
    next_id: u64,
    pub(crate) open: HashMap<u64, Entry<S>>,
}

impl<S> Default for Registry<S> {
    fn default() -> Self {
        Registry {
            next_id: 0,
            open: HashMap::new(),
        }
    }
}

impl<S> Registry<S> {
    pub(crate) fn insert(&mut self, entry: Entry<S>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, entry);
        id
    }

    /// The id of the connection that received nothing for longest.
    pub(crate) fn oldest_idle(&self) -> Option<u64> {
        self.open
            .iter()
            .min_by_key(|(_, e)| e.last_input.load(Ordering::Relaxed))
            .map(|(&id, _)| id)
    }
}

/// Serves one accepted stream to the end and says why it ended.
pub(crate) async fn serve<R, X>(
    stream: Socket,
    client: SocketAddr,
    shared: Arc<X>,
    pool: Arc<EnginePool>,
    last_input: Arc<AtomicU64>,
) -> DisconnectReason
where
    R: Runtime,
    X: Shared + Send + Sync + ?Sized,
    X::Target: Respond,
{
    let clock = DesktopClock::<R>(core::marker::PhantomData);
    let mut io = FromFutures::new(Tracked {
        inner: stream,
        last_input,
    });
    let mut slot = PooledSlot::new(&pool, client);
    match serve_connection(&mut io, &*shared, &clock, &mut slot).await {
        ConnectionEnd::PeerClosed => DisconnectReason::PeerClosed,
        ConnectionEnd::Closed(reason) => DisconnectReason::Closed(reason),
        ConnectionEnd::Io(e) => DisconnectReason::Io(e.kind()),
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
