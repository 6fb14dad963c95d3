//! The desktop sockets, shared by both runtimes: async-std and smol both
//! run on async-io's reactor, so one listener and one stream type serve
//! both, and the stream can wait for readiness in the cheapest order.
//!
//! Why not the runtimes' own `TcpStream`: they read first and wait second.
//! After every request that is one `recv` that finds nothing, and async-io
//! then reports the readiness that woke the task once more, so a second
//! empty `recv` follows before the task registers and sleeps: three `recv`
//! calls per request where one carries data (measured with `strace -c` at
//! 256 connections, depth 1). [`Socket`] reads until a read comes back
//! short, then waits for readiness first: one `recv` per request, as
//! tokio's streams do.

use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use async_io::Async;
use futures::io::{AsyncRead, AsyncWrite};

/// A listening socket on async-io's reactor.
pub type Listener = Async<TcpListener>;

/// Registers a bound, listening std listener with the reactor.
pub(crate) fn listener(listener: TcpListener) -> io::Result<Listener> {
    Async::new(listener)
}

/// Accepts one connection.
pub(crate) async fn accept(listener: &Listener) -> io::Result<(Socket, SocketAddr)> {
    let (stream, client) = listener.accept().await?;
    Ok((Socket::new(Arc::new(stream)), client))
}

/// Where a [`Socket`]'s next read stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    /// Bytes may be waiting: read first.
    Read,
    /// The last read came back short, so the receive queue was empty:
    /// register for readiness before reading again.
    Drained,
    /// Registered with the reactor: the next readiness it reports is new.
    Waiting,
}

/// A connected TCP stream on async-io's reactor. Clones are handles on the
/// same socket (the server keeps one to shut it down from `stop()`); only
/// the connection's task reads.
#[derive(Debug)]
pub struct Socket {
    inner: Arc<Async<TcpStream>>,
    state: ReadState,
}

impl Clone for Socket {
    fn clone(&self) -> Self {
        Socket::new(self.inner.clone())
    }
}

impl Socket {
    fn new(inner: Arc<Async<TcpStream>>) -> Self {
        Socket {
            inner,
            state: ReadState::Read,
        }
    }

    /// Sets TCP_NODELAY.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(on)
    }

    /// Shuts both directions down (wakes the connection's task with EOF).
    pub(crate) fn shutdown(&self) {
        let _ = self.inner.get_ref().shutdown(Shutdown::Both);
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.state {
                // Registering cannot miss bytes that arrived since the short
                // read: the reactor re-arms the socket with EPOLL_CTL_MOD,
                // which reports a socket that is already readable.
                ReadState::Drained | ReadState::Waiting => {
                    let was_waiting = this.state == ReadState::Waiting;
                    this.state = ReadState::Waiting;
                    match this.inner.poll_readable(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) if was_waiting => this.state = ReadState::Read,
                        // Not registered since the last wake-up: this is the
                        // readiness that woke the task, already consumed by a
                        // read. Polling again registers.
                        Poll::Ready(Ok(())) => {}
                    }
                }
                ReadState::Read => match (&*this.inner).get_ref().read(buf) {
                    Ok(n) => {
                        if n < buf.len() {
                            this.state = ReadState::Drained;
                        }
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        this.state = ReadState::Drained;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(e)),
                },
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match (&*self.inner).get_ref().write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.inner.poll_writable(cx))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP sends what is written; there is nothing to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.get_ref().shutdown(Shutdown::Write))
    }
}
