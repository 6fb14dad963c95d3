//! The spinning driver: non-blocking std sockets polled in a loop, so the
//! client never sleeps and a response is seen as soon as it lands.
//!
//! Why: on this kind of machine (a 2-core VM) waking a thread that sleeps
//! in `epoll_wait` costs tens of microseconds, about half of a loopback
//! round trip. A waiting client pays it once per round trip, which caps one
//! connection at depth 16 near 16 requests per wake-up for every server
//! alike (measured: an echo server at 0.23 M req/s with the waiting client,
//! 0.6 M with this one). Spinning takes the client's wake-up out, so the
//! figures are the server's: a load generator should not be the slowest
//! part of the measurement. It costs the client thread a whole core.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Barrier;
use std::time::Instant;

use super::connection::Connection;
use super::{Load, Outcome, Tally, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// Runs one point on `threads` spinning threads (connections dealt round
/// robin): connects everything first, starts together, stops sending after
/// `load.duration` and drains.
pub fn run(addr: SocketAddr, load: Load, threads: usize) -> Outcome {
    let mut tally = Tally::default();
    let threads = threads.clamp(1, load.connections.max(1));
    let mut groups: Vec<Vec<(Connection, TcpStream)>> = (0..threads).map(|_| Vec::new()).collect();
    for index in 0..load.connections {
        match connect(addr) {
            Ok(stream) => groups[index % threads].push((Connection::new(index, load), stream)),
            Err(e) => tally.error(e),
        }
    }
    let barrier = Barrier::new(threads + 1);
    let (elapsed, finished) = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    drive(group, Instant::now() + load.duration)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let finished: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (start.elapsed(), finished)
    });
    for group in finished {
        match group {
            Ok(conns) => conns.into_iter().for_each(|(c, r)| tally.add(c, r)),
            Err(_) => tally.error("client thread panicked".into()),
        }
    }
    tally.finish(elapsed)
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream =
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    stream
        .set_nonblocking(true)
        .map_err(|e| format!("non-blocking: {e}"))?;
    Ok(stream)
}

/// Polls every connection of the group in turn until all have drained
/// after `deadline`, or broken. Bounded: a connection with a request
/// unanswered for `RESPONSE_TIMEOUT`, or still busy `RESPONSE_TIMEOUT`
/// after the deadline, is failed and dropped.
fn drive(
    group: Vec<(Connection, TcpStream)>,
    deadline: Instant,
) -> Vec<(Connection, Result<(), String>)> {
    let mut active: Vec<(Connection, TcpStream)> = group;
    let mut done = Vec::with_capacity(active.len());
    while !active.is_empty() {
        let now = Instant::now();
        let mut i = 0;
        while i < active.len() {
            let (conn, stream) = &mut active[i];
            match step(conn, stream, now, deadline) {
                Ok(false) => i += 1,
                Ok(true) => done.push((active.swap_remove(i).0, Ok(()))),
                Err(e) => done.push((active.swap_remove(i).0, Err(e))),
            }
        }
    }
    done
}

/// One pass over one connection: write what the window allows, read what
/// has arrived. `Ok(true)` once it has drained after the deadline.
fn step(
    conn: &mut Connection,
    stream: &mut TcpStream,
    now: Instant,
    deadline: Instant,
) -> Result<bool, String> {
    if now < deadline {
        conn.refill(now);
    }
    while !conn.unwritten().is_empty() {
        match stream.write(conn.unwritten()) {
            Ok(0) => return Err("write: connection closed".into()),
            Ok(n) => conn.wrote(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    if conn.drained() && conn.unwritten().is_empty() {
        return Ok(now >= deadline);
    }
    // A server that keeps sending unsolicited frames must not keep the
    // connection here forever.
    if now > deadline + RESPONSE_TIMEOUT {
        return Err("responses did not drain in time".into());
    }
    match stream.read(conn.read_buffer()) {
        Ok(0) => Err("server closed the connection".into()),
        Ok(n) => conn.received(n, Instant::now()).map(|()| false),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            match conn.oldest_sent() {
                Some(sent) if now.duration_since(sent) > RESPONSE_TIMEOUT => {
                    Err(format!("no response within {RESPONSE_TIMEOUT:?}"))
                }
                _ => Ok(false),
            }
        }
        Err(e) => Err(format!("read: {e}")),
    }
}
