//! Many idle connections: what each costs the server in memory, how long
//! the server takes to accept them all, and whether every one is still
//! served afterwards.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::child::ServerProcess;
use crate::client;
use crate::proto::{self, Request};

/// Connects in flight at once: a client burst, not a SYN flood.
const CONNECT_PARALLELISM: usize = 64;
/// How long the server may take to accept every connection.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Lets the server finish allocating for the last accepts before measuring.
const SETTLE: Duration = Duration::from_millis(300);

pub struct IdleOutcome {
    pub server: std::net::SocketAddr,
    pub connections: usize,
    /// Until every client connect() returned (the kernel queued them all).
    pub connect_time: Duration,
    /// Until the server held every socket (its fd count), from the first connect.
    pub accept_time: Option<Duration>,
    pub rss_before_kib: u64,
    pub rss_idle_kib: u64,
    pub rss_after_request_kib: u64,
    /// Connections that answered one FC 3 correctly after all were open.
    pub answered: usize,
    pub answer_time: Duration,
    pub first_error: Option<String>,
}

impl IdleOutcome {
    /// Server memory per idle connection, bytes.
    pub fn bytes_per_connection(&self) -> f64 {
        per_connection(self.rss_before_kib, self.rss_idle_kib, self.connections)
    }

    /// Server memory per connection once each has served a request, bytes.
    pub fn bytes_per_used_connection(&self) -> f64 {
        per_connection(
            self.rss_before_kib,
            self.rss_after_request_kib,
            self.connections,
        )
    }
}

fn per_connection(before_kib: u64, after_kib: u64, n: usize) -> f64 {
    (after_kib as f64 - before_kib as f64) * 1024.0 / n.max(1) as f64
}

pub async fn run(server: &ServerProcess, connections: usize) -> Result<IdleOutcome, String> {
    let fds_before = server.open_fds()?;
    let rss_before_kib = server.memory_kib()?.current_kib;
    let addr = server.addr;

    let start = Instant::now();
    let mut streams = Vec::with_capacity(connections);
    let mut set = JoinSet::new();
    let mut first_error = None;
    for _ in 0..connections {
        if set.len() >= CONNECT_PARALLELISM {
            collect(set.join_next().await, &mut streams, &mut first_error);
        }
        set.spawn(client::connect(addr));
    }
    while let Some(joined) = set.join_next().await {
        collect(Some(joined), &mut streams, &mut first_error);
    }

    let connect_time = start.elapsed();
    // connect() returns once the kernel queued the connection; the server
    // has accepted it when the socket shows up among its descriptors.
    let mut accept_time = None;
    while start.elapsed() < ACCEPT_TIMEOUT {
        if server.open_fds()? >= fds_before + streams.len() {
            accept_time = Some(start.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let rss_idle_kib = server.memory_kib()?.current_kib;

    let answer_start = Instant::now();
    let mut set = JoinSet::new();
    for (i, stream) in streams.into_iter().enumerate() {
        set.spawn(one_request(
            stream,
            (i % usize::from(proto::READ_REGION)) as u16,
        ));
    }
    let mut answered = 0;
    let mut kept = Vec::with_capacity(connections);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(stream)) => {
                answered += 1;
                kept.push(stream);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("task: {e}"));
            }
        }
    }
    let answer_time = answer_start.elapsed();
    tokio::time::sleep(SETTLE).await;
    let rss_after_request_kib = server.memory_kib()?.current_kib;
    drop(kept);
    Ok(IdleOutcome {
        server: addr,
        connections,
        connect_time,
        accept_time,
        rss_before_kib,
        rss_idle_kib,
        rss_after_request_kib,
        answered,
        answer_time,
        first_error,
    })
}

fn collect(
    joined: Option<Result<Result<TcpStream, String>, tokio::task::JoinError>>,
    streams: &mut Vec<TcpStream>,
    first_error: &mut Option<String>,
) {
    match joined {
        Some(Ok(Ok(stream))) => streams.push(stream),
        Some(Ok(Err(e))) => {
            first_error.get_or_insert(e);
        }
        Some(Err(e)) => {
            first_error.get_or_insert(format!("task: {e}"));
        }
        None => {}
    }
}

/// Sends one FC 3 and checks the answer; gives the stream back to keep it open.
async fn one_request(mut stream: TcpStream, addr: u16) -> Result<TcpStream, String> {
    let request = Request::ReadSeeded { addr };
    let mut out = Vec::new();
    request.encode(1, &mut out);
    stream
        .write_all(&out)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; proto::MAX_ADU];
    let mut filled = 0;
    let deadline = Instant::now() + client::RESPONSE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buf[filled..]))
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before answering".into());
        }
        filled += n;
        if let Some(len) = proto::frame_len(&buf[..filled])? {
            if proto::transaction_id(&buf) != 1 {
                return Err("wrong transaction id".into());
            }
            proto::check_response(&buf[..len], &request.expected())?;
            return Ok(stream);
        }
    }
}
