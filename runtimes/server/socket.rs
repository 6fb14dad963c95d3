//! The desktop sockets, shared by both runtimes: async-std and smol both
//! run on async-io's reactor, so one listener and one stream type serve
//! both, and the stream can wait for readiness in the cheapest order.
//!
//! Why not the runtimes' own `TcpStream`: they read first and wait second.
//! After every request that is one `recv` that finds nothing, and async-io
//! then reports the readiness that woke the task once more, so a second
//! empty `recv` follows before the task registers and sleeps: three `recv`
//! calls per request where one carries data (measured with `strace -c` at
//! 256 connections, depth 1). But those two extra reads are also what finds
//! a pipelining client's next batch without a trip through the reactor.
//!
//! So [`Socket`] learns per connection: after a short read (the receive
//! queue was empty) it reads again at once only while such eager reads
//! find bytes often enough to pay (a pipelining client); otherwise it
//! registers for readiness first and reads when woken: one `recv` per
//! request, as tokio's streams do. An empty read costs about a syscall, a
//! trip through the reactor several, so eager reads are kept while more
//! than about one in five finds bytes (a score that a hit raises by 4 and
//! a miss lowers by 1). With the score at zero every eighth short read
//! tries again, so a client that starts pipelining is noticed. A wrong
//! guess costs time, never a lost wake-up.
//!
//! A socket the reactor reports ready can still refuse: Linux reports a TCP
//! socket writable while its own send buffer has room, but under global TCP
//! memory pressure (`net.ipv4.tcp_mem`: a few hundred clients that never
//! read, each with a send buffer autotuned to megabytes) `send` fails with
//! EAGAIN anyway, and registering again reports it writable at once: a spin
//! through the reactor, thousands of failed sends a second per socket. So
//! after the reactor's readiness was followed by a refusal (or by ENOBUFS /
//! ENOMEM), the socket pauses on a timer before it registers again
//! (`Backoff`, in `backoff.rs`); the engine's write-stall deadline still
//! bounds the wait.

use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use core::time::Duration;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use async_io::{Async, Timer};
use futures::io::{AsyncRead, AsyncWrite};

use super::backoff::{transient, Backoff, PauseTimer};
use super::net::{gone_after_peek, ServerListener, ServerStream};

/// A listening socket on async-io's reactor.
pub(crate) type Listener = Async<TcpListener>;

/// Registers a bound, listening std listener with the reactor.
pub(crate) fn listener(listener: TcpListener) -> io::Result<Listener> {
    Async::new(listener)
}

/// Accepts one connection.
pub(crate) async fn accept(listener: &Listener) -> io::Result<(Socket, SocketAddr)> {
    let (stream, client) = listener.accept().await?;
    Ok((Socket::new(Arc::new(stream)), client))
}

/// Reads tried back to back after a short read before registering: two,
/// as async-io's own streams do (see the module notes).
const EAGER_READS: u8 = 2;
/// After eager reads stopped paying, every this many short reads try them
/// again.
const RETRY_EVERY: u8 = 8;
/// What an eager read that finds bytes adds to the score (a miss takes 1).
const HIT_SCORE: u8 = 4;
/// The score's ceiling: how many misses in a row a pipelining client's
/// connection tolerates before registering first.
const MAX_SCORE: u8 = 16;

/// async-io's timer, for the pauses of [`Backoff`].
impl PauseTimer for Timer {
    fn after(delay: Duration) -> Self {
        Timer::after(delay)
    }

    fn set_after(&mut self, delay: Duration) {
        Timer::set_after(self, delay);
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(self).poll(cx).map(|_| ())
    }
}

/// Where a [`Socket`]'s next write stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteState {
    /// Try the write.
    Write,
    /// The last write would have blocked: wait for the reactor (after any
    /// pause) before trying again.
    Blocked,
    /// The reactor reported the socket writable: a write that is refused
    /// now was refused by a ready socket.
    Woken,
}

/// Where a [`Socket`]'s next read stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    /// Bytes may be waiting: read first.
    Read,
    /// Right after a short read, reading again on the chance that the
    /// client's next bytes are already here; `n` tries left before
    /// registering. Whether one finds bytes moves the score.
    Eager(u8),
    /// The last read came back short, so the receive queue was empty:
    /// register for readiness before reading again.
    Drained,
    /// Registered with the reactor: the next readiness it reports is new.
    Waiting,
    /// The reactor reported the socket readable: a read that finds nothing
    /// now found nothing in a ready socket.
    Woken,
}

/// A connected TCP stream on async-io's reactor. Clones are handles on the
/// same socket (the server keeps one to shut it down from `stop()`); only
/// the connection's task reads.
#[derive(Debug)]
pub struct Socket {
    inner: Arc<Async<TcpStream>>,
    state: ReadState,
    /// How well eager reads have been paying (0: register first).
    eager_score: u8,
    /// Short reads since eager reads were last tried.
    since_eager: u8,
    read_backoff: Backoff<Timer>,
    write: WriteState,
    write_backoff: Backoff<Timer>,
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
            eager_score: HIT_SCORE,
            since_eager: 0,
            read_backoff: Backoff::default(),
            write: WriteState::Write,
            write_backoff: Backoff::default(),
        }
    }

    /// Caps the kernel's send and receive buffers of this connection
    /// (SO_SNDBUF, SO_RCVBUF; `None` leaves one to the kernel). Setting one
    /// turns the kernel's autotuning off for it; Linux reserves twice the
    /// value, for its bookkeeping.
    pub(crate) fn set_buffer_sizes(
        &self,
        send: Option<usize>,
        recv: Option<usize>,
    ) -> io::Result<()> {
        let socket = socket2::SockRef::from(self.inner.get_ref());
        if let Some(size) = send {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = recv {
            socket.set_recv_buffer_size(size)?;
        }
        Ok(())
    }

    /// Sets TCP_NODELAY.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(on)
    }

    /// Shuts both directions down (wakes the connection's task with EOF).
    pub(crate) fn shutdown(&self) {
        let _ = self.inner.get_ref().shutdown(Shutdown::Both);
    }

    /// Whether the peer has gone, seen without taking anything from the
    /// receive queue (a non-blocking `MSG_PEEK`): `Some(Ok(()))` when it
    /// closed its side with nothing left unread, `Some(Err(kind))` when the
    /// connection failed (reset, ...), `None` while it may still talk
    /// (nothing to read yet, or bytes waiting for the connection's task).
    pub(crate) fn peer_gone(&self) -> Option<Result<(), io::ErrorKind>> {
        let mut byte = [0u8; 1];
        gone_after_peek(self.inner.get_ref().peek(&mut byte))
    }

    /// The read came back short: the receive queue was empty. Reads on
    /// eagerly, or registers first, as eager reads have been paying.
    fn after_short_read(&mut self) {
        self.since_eager = self.since_eager.wrapping_add(1);
        if self.eager_score > 0 || self.since_eager % RETRY_EVERY == 0 {
            self.since_eager = 0;
            self.state = ReadState::Eager(EAGER_READS);
        } else {
            self.state = ReadState::Drained;
        }
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
                    ready!(this.read_backoff.poll_pause(cx));
                    let was_waiting = this.state == ReadState::Waiting;
                    this.state = ReadState::Waiting;
                    match this.inner.poll_readable(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) if was_waiting => this.state = ReadState::Woken,
                        // Not registered since the last wake-up: this is the
                        // readiness that woke the task, already consumed by a
                        // read. Polling again registers.
                        Poll::Ready(Ok(())) => {}
                    }
                }
                ReadState::Read | ReadState::Eager(_) | ReadState::Woken => {
                    match { this.inner.get_ref() }.read(buf) {
                        Ok(n) => {
                            this.read_backoff.succeeded();
                            if let ReadState::Eager(_) = this.state {
                                this.eager_score = (this.eager_score + HIT_SCORE).min(MAX_SCORE);
                            }
                            this.state = ReadState::Read;
                            if n < buf.len() {
                                this.after_short_read();
                            }
                            return Poll::Ready(Ok(n));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            this.state = match this.state {
                                ReadState::Eager(tries) if tries > 1 => ReadState::Eager(tries - 1),
                                ReadState::Eager(_) => {
                                    this.eager_score = this.eager_score.saturating_sub(1);
                                    ReadState::Drained
                                }
                                ReadState::Woken => {
                                    this.read_backoff.refused();
                                    ReadState::Drained
                                }
                                _ => ReadState::Drained,
                            };
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if transient(&e) => {
                            this.read_backoff.refused();
                            this.state = ReadState::Drained;
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
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
        let this = self.get_mut();
        loop {
            if this.write == WriteState::Blocked {
                ready!(this.write_backoff.poll_pause(cx));
                ready!(this.inner.poll_writable(cx))?;
                this.write = WriteState::Woken;
            }
            match { this.inner.get_ref() }.write(buf) {
                Ok(n) => {
                    this.write = WriteState::Write;
                    this.write_backoff.succeeded();
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if this.write == WriteState::Woken {
                        this.write_backoff.refused();
                    }
                    this.write = WriteState::Blocked;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if transient(&e) => {
                    this.write_backoff.refused();
                    this.write = WriteState::Blocked;
                }
                Err(e) => return Poll::Ready(Err(e)),
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

impl ServerListener for Listener {
    type Stream = Socket;

    fn from_std(std_listener: TcpListener) -> io::Result<Self> {
        listener(std_listener)
    }

    fn accept(
        &self,
    ) -> impl core::future::Future<Output = io::Result<(Socket, SocketAddr)>> + Send {
        accept(self)
    }
}

impl ServerStream for Socket {
    fn shutdown_read(&self) {
        let _ = self.inner.get_ref().shutdown(Shutdown::Read);
    }

    fn set_buffer_sizes(&self, send: Option<usize>, recv: Option<usize>) -> io::Result<()> {
        Socket::set_buffer_sizes(self, send, recv)
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        Socket::set_nodelay(self, on)
    }

    fn shutdown(&self) {
        Socket::shutdown(self);
    }

    fn peer_gone(&self) -> Option<Result<(), io::ErrorKind>> {
        Socket::peer_gone(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::AsyncReadExt;
    use futures::FutureExt;
    use std::io::Write;
    use std::time::Duration;

    /// A connected pair on loopback: our `Socket` and the client's stream.
    fn pair() -> (Socket, Async<TcpStream>) {
        async_io::block_on(async {
            let listener = listener(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
            let addr = listener.get_ref().local_addr().unwrap();
            let (client, accepted) =
                futures::join!(Async::<TcpStream>::connect(addr), accept(&listener));
            (accepted.unwrap().0, client.unwrap())
        })
    }

    /// Reads with a bound: a lost wake-up fails the test instead of hanging.
    fn read_within(socket: &mut Socket, buf: &mut [u8]) -> usize {
        async_io::block_on(async {
            let timeout = async_io::Timer::after(Duration::from_secs(5));
            futures::select! {
                n = socket.read(buf).fuse() => n.unwrap(),
                _ = FutureExt::fuse(timeout) => panic!("read not woken within 5 s"),
            }
        })
    }

    #[test]
    fn every_path_wakes_up_and_reads_everything() {
        let (mut server, client) = pair();
        let mut client = client.into_inner().unwrap();
        client.set_nonblocking(false).unwrap();
        let (go, step) = std::sync::mpsc::channel::<(u8, usize, u64)>();
        let writer = std::thread::spawn(move || {
            // (byte, length, delay in ms before writing)
            for (byte, len, delay) in step {
                std::thread::sleep(Duration::from_millis(delay));
                client.write_all(&std::vec![byte; len]).unwrap();
            }
        });
        let mut buf = [0u8; 64];
        // A client that waits between messages: the reads that follow a
        // short read keep missing, the score falls to zero, and the socket
        // registers for readiness before reading.
        for round in 0..24u8 {
            go.send((round, 3, 2)).unwrap();
            assert_eq!(read_within(&mut server, &mut buf), 3);
            assert_eq!(buf[..3], [round; 3]);
        }
        assert_eq!(server.eager_score, 0, "misses lower the score to zero");
        // Bytes that arrive just before or after the socket registers are
        // both seen (registering reports an already readable socket).
        for round in 0..16u8 {
            go.send((round, 5, u64::from(round % 2))).unwrap();
            assert_eq!(read_within(&mut server, &mut buf), 5);
            assert_eq!(buf[..5], [round; 5]);
        }
        // A burst larger than the buffer: full reads, then the rest.
        go.send((7, 150, 0)).unwrap();
        let mut total = 0;
        while total < 150 {
            total += read_within(&mut server, &mut buf);
        }
        assert_eq!(total, 150);
        // End of stream reads as 0.
        drop(go);
        writer.join().unwrap();
        assert_eq!(read_within(&mut server, &mut buf), 0);
    }

    #[test]
    fn eager_reads_are_retried_every_eighth_short_read() {
        let (mut socket, _client) = pair();
        socket.eager_score = 0;
        let mut eager = 0;
        for _ in 0..(RETRY_EVERY as usize * 4) {
            socket.after_short_read();
            if socket.state == ReadState::Eager(EAGER_READS) {
                eager += 1;
            } else {
                assert_eq!(socket.state, ReadState::Drained);
            }
        }
        assert_eq!(eager, 4);
        // A hit raises the score past several misses.
        socket.eager_score = HIT_SCORE;
        socket.after_short_read();
        assert_eq!(socket.state, ReadState::Eager(EAGER_READS));
    }

    #[test]
    fn refused_sockets_pause_on_async_ios_timer() {
        crate::runtimes::server::backoff::tests::check_backoff_with::<Timer>(|poll| {
            async_io::block_on(core::future::poll_fn(|cx| poll(cx)));
        });
    }

    #[test]
    fn clones_share_the_socket_and_shutdown_ends_the_reader() {
        let (mut server, _client) = pair();
        let handle = server.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            handle.shutdown();
        });
        let mut buf = [0u8; 8];
        assert_eq!(read_within(&mut server, &mut buf), 0);
    }
}
