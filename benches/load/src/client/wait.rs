//! The waiting driver: one tokio task per connection, sleeping in the
//! reactor until the server answers. Every response costs the client a
//! wake-up, so on a machine with slow wake-ups (a VM) it measures the
//! client as much as the server at one connection; see `spin`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use super::connection::Connection;
use super::{connect, Load, Outcome, Tally, RESPONSE_TIMEOUT};

/// Runs one point: connects everything first, starts all connections
/// together, stops sending after `load.duration` and drains.
pub async fn run(addr: SocketAddr, load: Load) -> Outcome {
    let mut tally = Tally::default();
    let mut streams = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        match connect(addr).await {
            Ok(s) => streams.push(s),
            Err(e) => tally.error(e),
        }
    }
    let barrier = Arc::new(Barrier::new(streams.len() + 1));
    let mut tasks = Vec::with_capacity(streams.len());
    for (index, stream) in streams.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let deadline = Instant::now() + load.duration;
            let mut conn = Connection::new(index, load);
            let result = drive(&mut conn, stream, deadline).await;
            (conn, result)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    for task in tasks {
        match task.await {
            Ok((conn, result)) => tally.add(conn, result),
            Err(e) => tally.error(format!("task: {e}")),
        }
    }
    tally.finish(start.elapsed())
}

/// Sends and checks until `deadline`, then drains what is in flight.
/// `Err` means the connection itself broke (I/O, timeout, framing).
async fn drive(
    conn: &mut Connection,
    mut stream: TcpStream,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let now = Instant::now();
        if now < deadline {
            conn.refill(now);
            stream
                .write_all(conn.unwritten())
                .await
                .map_err(|e| format!("write: {e}"))?;
            let n = conn.unwritten().len();
            conn.wrote(n);
        }
        if conn.drained() {
            return Ok(());
        }
        // A server that keeps sending unsolicited frames must not keep
        // the connection here forever.
        if Instant::now() > deadline + RESPONSE_TIMEOUT {
            return Err("responses did not drain in time".into());
        }
        let n = read_with_timeout(&mut stream, conn.read_buffer(), RESPONSE_TIMEOUT).await?;
        conn.received(n, Instant::now())?;
    }
}

async fn read_with_timeout(
    stream: &mut TcpStream,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<usize, String> {
    let n = tokio::time::timeout(timeout, stream.read(buf))
        .await
        .map_err(|_| format!("no response within {timeout:?}"))?
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("server closed the connection".into());
    }
    Ok(n)
}
