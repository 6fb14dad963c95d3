//! What a desktop [`Runtime`](super::Runtime) provides for sockets: a
//! listener registered with its reactor, and the accepted connections'
//! streams, which the server reads and writes through `futures::io`'s
//! traits and controls from outside their tasks (stop, eviction, limits).

use core::future::Future;
use std::io;
use std::net::SocketAddr;

use futures::io::{AsyncRead, AsyncWrite};

/// A listening socket on a desktop runtime's reactor.
///
/// Implemented by async-io's `Async<TcpListener>` (async-std and smol) and
/// by the tokio adapter's listener.
pub trait ServerListener: Send + Sync + Sized + 'static {
    /// An accepted connection.
    type Stream: ServerStream;

    /// Registers a bound, listening, non-blocking standard listener with
    /// the runtime's reactor.
    ///
    /// # Errors
    ///
    /// The reactor's error (no reactor to register with, out of file
    /// descriptors, ...).
    fn from_std(listener: std::net::TcpListener) -> io::Result<Self>;

    /// Accepts one connection: its stream and the client's address.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

/// An accepted TCP connection as the server drives it: read and written by
/// its task only, and controlled through clones, which are handles on the
/// same socket, from `stop()`, eviction and admission.
pub trait ServerStream: AsyncRead + AsyncWrite + Clone + Unpin + Send + Sync + 'static {
    /// Sets TCP_NODELAY.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;

    /// Caps the kernel's send and receive buffers of this connection
    /// (SO_SNDBUF, SO_RCVBUF; `None` leaves one to the kernel's
    /// autotuning): see [`ServerConfig::send_buffer`](super::ServerConfig::send_buffer).
    ///
    /// # Errors
    ///
    /// The OS error.
    fn set_buffer_sizes(&self, send: Option<usize>, recv: Option<usize>) -> io::Result<()>;

    /// Shuts the receiving side down (a graceful stop): the connection's
    /// task answers the requests it has already received, then reads the
    /// end of the stream and ends.
    fn shutdown_read(&self);

    /// Shuts both directions down: the connection's task reads the end of
    /// the stream and ends, wherever it waits.
    fn shutdown(&self);

    /// Whether the peer has gone, seen without taking anything from the
    /// receive queue (a non-blocking `MSG_PEEK`): `Some(Ok(()))` when it
    /// closed its side with nothing left unread, `Some(Err(kind))` when the
    /// connection failed (reset, ...), `None` while it may still talk.
    fn peer_gone(&self) -> Option<Result<(), io::ErrorKind>>;
}

/// [`ServerStream::peer_gone`] from the outcome of a one-byte non-blocking peek.
pub(crate) fn gone_after_peek(peeked: io::Result<usize>) -> Option<Result<(), io::ErrorKind>> {
    match peeked {
        Ok(0) => Some(Ok(())),
        Ok(_) => None,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            None
        }
        Err(e) => Some(Err(e.kind())),
    }
}
