//! pyModbusTCP's `ModbusServer` on tokio (feature `tokio`): tokio's own
//! reactor, `TcpListener` and `TcpStream`, on the multi-thread or the
//! current-thread runtime.
//!
//! Where connections run:
//!
//! - [`run`](super::ModbusServer::run)`().await` (the entry for async
//!   applications) serves in the caller's task and spawns connections on
//!   the runtime that polls it.
//! - `start()` with `no_block` from inside a tokio runtime spawns the
//!   server on that runtime ([`Handle::try_current`]): on a current-thread
//!   runtime it serves only while that runtime runs.
//! - `start()` outside any runtime (a plain `main`, the pyModbusTCP shape)
//!   uses a multi-thread runtime of this module, started at the first such
//!   `start()` with [`recommended_threads`](super::recommended_threads)
//!   worker threads (one per core but one: the rest of the machine runs the
//!   application), as the smol adapter does, or `TOKIO_WORKER_THREADS` if
//!   that is set to a positive number (tokio's own convention for the
//!   runtimes it builds). It lives as long as the process. If it cannot be started, `start()` fails with
//!   [`ServerError::Runtime`].
//! - A blocking `start()` (`no_block` false) from inside a tokio runtime
//!   would stall it (tokio panics on a nested `block_on`): it is refused
//!   with [`ServerError::BlockingInRuntime`]; use `run().await` there.
//!
//! An application's own runtime must have I/O and time enabled
//! (`enable_all()`, as `#[tokio::main]` does).
//!
//! ```no_run
//! use modbus_device::runtimes::tokio::ModbusServer;
//! use modbus_device::runtimes::ServerConfig;
//! use modbus_device::{DataBank, Service};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = ServerConfig { host: "127.0.0.1".into(), port: 1502, ..Default::default() };
//!     let server = ModbusServer::new(config, Service::new(DataBank::default()));
//!     server.with_data_bank(|bank| bank.set_input_registers(0, &[215, 42, 1013]))?;
//!     // Serves until Ctrl-C, then closes every connection.
//!     server.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//!     Ok(())
//! }
//! ```

use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use futures::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;

use super::server::backoff::{transient, Backoff, PauseTimer};
use super::server::{gone_after_peek, Runtime, ServerListener, ServerStream};
use super::ServerError;

/// The tokio [`Runtime`]: the caller's tokio runtime, or one of this
/// module's outside any (see the module notes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// pyModbusTCP's `ModbusServer` on tokio: the path to name it by.
pub type ModbusServer<B = crate::DataBank<crate::HeapStorage>, H = crate::DefaultHandler> =
    super::server::ModbusServer<Tokio, B, H>;

/// The runtime `start()` uses outside any tokio runtime: started at the
/// first need, kept for the life of the process.
static OWN: Mutex<Option<&'static tokio::runtime::Runtime>> = Mutex::new(None);

/// This module's runtime, started if it is not yet.
fn own() -> Result<&'static tokio::runtime::Runtime, ServerError> {
    let mut own = OWN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = *own {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .thread_name("modbus-tokio")
        .enable_all()
        .build()
        .map_err(|source| ServerError::Runtime {
            what: "cannot start the tokio runtime",
            source,
        })?;
    let runtime: &'static tokio::runtime::Runtime =
        std::boxed::Box::leak(std::boxed::Box::new(runtime));
    *own = Some(runtime);
    Ok(runtime)
}

/// Worker threads of this module's runtime: `TOKIO_WORKER_THREADS` if it is
/// a positive number, else [`recommended_threads`](super::recommended_threads).
fn worker_threads() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(super::recommended_threads)
}

/// The runtime to spawn on and register sockets with: the current one, or
/// this module's.
fn handle() -> Result<Handle, ServerError> {
    match Handle::try_current() {
        Ok(handle) => Ok(handle),
        Err(_) => Ok(own()?.handle().clone()),
    }
}

impl Runtime for Tokio {
    type Listener = TokioListener;

    /// Outside any tokio runtime, starts this module's (once).
    fn prepare() -> Result<(), ServerError> {
        handle().map(drop)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        // From a blocking `start()`'s accept loop: onto the worker threads.
        let handle = if BLOCKING_ACCEPT.get() {
            own().map(|runtime| runtime.handle().clone())
        } else {
            handle()
        };
        match handle {
            Ok(handle) => drop(handle.spawn(future)),
            // Not reached: `start()` prepared the runtime first.
            Err(e) => warn!("modbus server: cannot spawn a task: {}", e),
        }
    }

    // An `async fn`: the sleep is created when first polled, inside the
    // runtime's task, where tokio's timer is reachable.
    async fn sleep_until(deadline: std::time::Instant) {
        tokio::time::sleep_until(deadline.into()).await;
    }

    /// A blocking `start()`: the accept loop and the sockets' reactor run
    /// on this thread (a current-thread runtime), the connections on the
    /// worker threads, so that a handler that blocks a worker (or every
    /// one) stalls neither accepting nor the other connections' I/O: the
    /// shape async-io gives the other two adapters.
    fn block_on<T>(future: impl Future<Output = T>) -> T {
        let local = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match local {
            Ok(local) => {
                BLOCKING_ACCEPT.set(true);
                let _reset = ResetOnDrop;
                local.block_on(future)
            }
            Err(e) => {
                warn!("modbus server: no current-thread runtime ({}): serving on the workers' reactor", e);
                match own() {
                    Ok(runtime) => runtime.block_on(future),
                    Err(e) => panic!("modbus server: no tokio runtime to block on: {e}"),
                }
            }
        }
    }

    fn may_block() -> bool {
        Handle::try_current().is_err()
    }
}

std::thread_local! {
    /// Set on the thread of a blocking `start()` while it serves.
    static BLOCKING_ACCEPT: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Clears [`BLOCKING_ACCEPT`] when the blocking `start()` returns or unwinds.
struct ResetOnDrop;

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        BLOCKING_ACCEPT.set(false);
    }
}

/// A listening socket on tokio's reactor. It is registered with the
/// reactor of the runtime that first accepts on it (the caller's under
/// `run().await`, the blocking `start()`'s own thread), and so are the
/// connections it accepts.
#[derive(Debug)]
pub struct TokioListener {
    /// Until the first accept.
    std: Mutex<Option<std::net::TcpListener>>,
    registered: tokio::sync::OnceCell<tokio::net::TcpListener>,
}

impl ServerListener for TokioListener {
    type Stream = TokioSocket;

    /// Keeps the listener until the first accept registers it.
    fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        Ok(TokioListener {
            std: Mutex::new(Some(listener)),
            registered: tokio::sync::OnceCell::new(),
        })
    }

    async fn accept(&self) -> io::Result<(TokioSocket, SocketAddr)> {
        let listener = self
            .registered
            .get_or_try_init(|| async {
                let std = self
                    .std
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                match std {
                    Some(std) => tokio::net::TcpListener::from_std(std),
                    None => Err(io::Error::other("the listener could not be registered")),
                }
            })
            .await?;
        let (stream, client) = listener.accept().await?;
        Ok((TokioSocket::from(stream), client))
    }
}

/// An accepted connection on tokio's reactor. Clones are handles on the
/// same socket (the server keeps one to shut it down from `stop()`); only
/// the connection's task reads and writes.
///
/// A read or write that the kernel refuses for a shortage of memory or
/// buffers (ENOBUFS, ENOMEM) pauses on tokio's timer and tries again, as
/// the async-io socket does, instead of ending the connection.
#[derive(Debug)]
pub struct TokioSocket {
    inner: Arc<tokio::net::TcpStream>,
    read_backoff: Backoff<TokioPause>,
    write_backoff: Backoff<TokioPause>,
}

impl Clone for TokioSocket {
    /// Another handle on the same socket, with no pause of its own.
    fn clone(&self) -> Self {
        TokioSocket::new(Arc::clone(&self.inner))
    }
}

impl TokioSocket {
    fn new(inner: Arc<tokio::net::TcpStream>) -> Self {
        TokioSocket {
            inner,
            read_backoff: Backoff::default(),
            write_backoff: Backoff::default(),
        }
    }
}

impl From<tokio::net::TcpStream> for TokioSocket {
    fn from(stream: tokio::net::TcpStream) -> Self {
        TokioSocket::new(Arc::new(stream))
    }
}

/// tokio's timer, for the pauses of a refused socket.
#[derive(Debug)]
struct TokioPause(Pin<std::boxed::Box<tokio::time::Sleep>>);

impl PauseTimer for TokioPause {
    fn after(delay: core::time::Duration) -> Self {
        TokioPause(std::boxed::Box::pin(tokio::time::sleep(delay)))
    }

    fn set_after(&mut self, delay: core::time::Duration) {
        let deadline = tokio::time::Instant::now() + delay;
        self.0.as_mut().reset(deadline);
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// One read of `stream` into `buf`, as tokio's own `poll_read` does it:
/// on an edge-triggered selector (epoll, kqueue), a read shorter than the
/// buffer has emptied the socket, so the readiness is cleared then and the
/// next poll waits for the reactor instead of trying a read that can only
/// say `WouldBlock`. The socket is shared (`Arc`, for `stop()`), so there is
/// no `&mut` for tokio's `AsyncRead`; `try_io` clears the readiness it read
/// before the read, so data that arrives meanwhile is not missed. Without
/// this, a client at depth 1 cost an extra failing `recvfrom` for most
/// requests (`strace -c`: 32,483 calls, 12,482 failing, for 20,000 requests;
/// tokio's `TcpStream`: 20,001).
fn read_clearing_when_drained(stream: &tokio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    if !EDGE_TRIGGERED {
        return stream.try_read(buf);
    }
    let mut drained = None;
    let result = stream.try_io(tokio::io::Interest::READABLE, || {
        let n = io::Read::read(&mut &*socket2::SockRef::from(stream), buf)?;
        if 0 < n && n < buf.len() {
            drained = Some(n);
            // Clears the readiness; `n` is returned below.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match drained {
        Some(n) => Ok(n),
        None => result,
    }
}

/// Whether tokio's selector here is edge-triggered (epoll, kqueue): the
/// platforms on which tokio's own `poll_read` clears the readiness after a
/// short read (`tokio/src/io/poll_evented.rs`).
const EDGE_TRIGGERED: bool = cfg!(any(
    target_os = "android",
    target_os = "illumos",
    target_os = "linux",
    target_os = "redox",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "ios",
    target_os = "macos",
    target_os = "netbsd",
    target_os = "openbsd",
));

impl AsyncRead for TokioSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // Read first, then wait for readiness if there was none: `try_io`
        // makes no system call while tokio knows of no readiness, and a
        // read that would block clears it. Woken for input, the read
        // succeeds without a readiness poll before it (which also costs
        // tokio's cooperative budget), as a write that has room does below
        // (callgrind on `benches/load`'s server at depth 1: 4,586 -> 4,443
        // instructions per request).
        let this = self.get_mut();
        loop {
            ready!(this.read_backoff.poll_pause(cx));
            match read_clearing_when_drained(&this.inner, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(this.inner.poll_read_ready(cx))?;
                }
                Err(e) if transient(&e) => this.read_backoff.refused(),
                result => {
                    this.read_backoff.succeeded();
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl AsyncWrite for TokioSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            ready!(this.write_backoff.poll_pause(cx));
            match this.inner.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(this.inner.poll_write_ready(cx))?;
                }
                Err(e) if transient(&e) => this.write_backoff.refused(),
                result => {
                    this.write_backoff.succeeded();
                    return Poll::Ready(result);
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP sends what is written; there is nothing to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.inner).shutdown(Shutdown::Write))
    }
}

impl ServerStream for TokioSocket {
    fn shutdown_read(&self) {
        let _ = socket2::SockRef::from(&*self.inner).shutdown(Shutdown::Read);
    }

    fn set_buffer_sizes(&self, send: Option<usize>, recv: Option<usize>) -> io::Result<()> {
        let socket = socket2::SockRef::from(&*self.inner);
        if let Some(size) = send {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = recv {
            socket.set_recv_buffer_size(size)?;
        }
        Ok(())
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    fn shutdown(&self) {
        // Through the socket, not tokio's stream (whose shutdown needs the
        // task's `&mut`): the reader wakes up to the end of the stream.
        let _ = socket2::SockRef::from(&*self.inner).shutdown(Shutdown::Both);
    }

    fn peer_gone(&self) -> Option<Result<(), io::ErrorKind>> {
        let mut byte = [MaybeUninit::uninit()];
        gone_after_peek(socket2::SockRef::from(&*self.inner).peek(&mut byte))
    }
}

impl<B, H> super::server::ModbusServer<Tokio, B, H>
where
    B: crate::Banks + Send + 'static,
    H: crate::DataHandler + Send + 'static,
{
    /// Serves one connection that the application accepted itself (behind
    /// its own listener, proxy or TLS acceptor), in the caller's task,
    /// until it ends; returns why. `stream` is any tokio
    /// `AsyncRead + AsyncWrite` stream (a `TcpStream`, a TLS stream, ...);
    /// `client` is the address it counts under for
    /// [`max_connections_per_ip`](super::ServerConfig::max_connections_per_ip)
    /// and in events.
    ///
    /// It shares everything with the connections the server accepts: the
    /// service, the limits (beyond one it is refused, returning
    /// [`DisconnectReason::Refused`](super::DisconnectReason::Refused), or
    /// evicts, as [`on_limit`](super::ServerConfig::on_limit) says), the
    /// events, engine parking, and [`stop`](super::ModbusServer::stop),
    /// which ends it ([`DisconnectReason::ServerStopped`](super::DisconnectReason::ServerStopped)).
    /// The server need not be started: an application that accepts every
    /// connection itself only calls this. Spawn one task per connection.
    ///
    /// ```no_run
    /// use modbus_device::runtimes::tokio::ModbusServer;
    /// use modbus_device::runtimes::ServerConfig;
    /// use modbus_device::{DataBank, Service};
    ///
    /// # async fn serve() -> std::io::Result<()> {
    /// let server = ModbusServer::new(ServerConfig::default(), Service::new(DataBank::default()));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:1502").await?;
    /// loop {
    ///     let (stream, client) = listener.accept().await?;
    ///     // (a TLS handshake would go here)
    ///     let server = server.clone();
    ///     tokio::spawn(async move { server.serve_connection(stream, client).await });
    /// }
    /// # }
    /// ```
    pub async fn serve_connection<S>(
        &self,
        stream: S,
        client: SocketAddr,
    ) -> super::DisconnectReason
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.serve_io(FromTokioIo(stream), client).await
    }
}

/// A tokio stream seen through `futures::io`'s traits, as the server's
/// connection task reads and writes.
struct FromTokioIo<S>(S);

impl<S: tokio::io::AsyncRead + Unpin> AsyncRead for FromTokioIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> AsyncWrite for FromTokioIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refused_sockets_pause_on_tokios_timer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        let _context = runtime.enter();
        crate::runtimes::server::backoff::tests::check_backoff_with::<super::TokioPause>(|poll| {
            runtime.block_on(core::future::poll_fn(|cx| poll(cx)));
        });
    }
}
