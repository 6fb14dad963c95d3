//! The load generator: N loopback connections, each keeping D requests in
//! flight, every response checked byte for byte.
//!
//! D = 1 is strict request/response; D > 1 pipelines requests with distinct
//! transaction ids (a connection's ids are a counter, and D is far below
//! 65536, so the ids in flight never collide). Whenever the window has room
//! the connection tops it up in one write.
//!
//! `connection` is the I/O-free state (requests, window, checks); `spin`
//! and `wait` are the two ways of moving its bytes, chosen by `Client`.

mod connection;
mod spin;
mod wait;

use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::net::TcpStream;

use self::connection::Connection;
use crate::proto;

/// What the requests of one run do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// FC 3, 10 registers of the seeded read region.
    ReadHolding,
    /// FC 16, 10 registers of the connection's own write region.
    WriteHolding,
    /// FC 1, 20 coils of the seeded read region.
    ReadCoils,
    /// FC 16 then FC 3 of the same registers, checking the read-back.
    Mixed,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::ReadHolding => "FC3 x10",
            Op::WriteHolding => "FC16 x10",
            Op::ReadCoils => "FC1 x20",
            Op::Mixed => "FC16+FC3",
        }
    }
}

/// How the client waits for responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// Non-blocking sockets polled in a loop on `threads` std threads: the
    /// client never sleeps, so the figures are the server's (see `spin`).
    Spin { threads: usize },
    /// One tokio task per connection on the benchmark's tokio runtime
    /// (`--client-threads` workers), sleeping until the server answers
    /// (see `wait`).
    Wait,
}

impl Client {
    pub fn label(self) -> String {
        match self {
            Client::Spin { threads } => format!("spinning, {threads} thread(s)"),
            Client::Wait => "waiting, tokio tasks".into(),
        }
    }
}

/// One point of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub connections: usize,
    pub depth: usize,
    pub op: Op,
    pub duration: Duration,
    pub client: Client,
}

/// What one point measured.
pub struct Outcome {
    pub completed: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    /// The first error seen, for the log.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn requests_per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How long a response may take before the connection counts as failed.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens one connection with TCP_NODELAY.
pub async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    Ok(stream)
}

/// Runs one point against `addr` with the client `load.client` names.
pub async fn run(addr: SocketAddr, load: Load) -> Outcome {
    if load.connections > proto::MAX_CONNECTIONS {
        let mut tally = Tally::default();
        tally.error(format!("more than {} connections", proto::MAX_CONNECTIONS));
        return tally.finish(Duration::ZERO);
    }
    match load.client {
        Client::Wait => wait::run(addr, load).await,
        Client::Spin { threads } => {
            // The spinning threads block; keep them off the runtime's
            // workers (the benchmark's own tasks run there).
            tokio::task::spawn_blocking(move || spin::run(addr, load, threads))
                .await
                .unwrap_or_else(|e| {
                    let mut tally = Tally::default();
                    tally.error(format!("client: {e}"));
                    tally.finish(Duration::ZERO)
                })
        }
    }
}

/// Adds up the connections of one point.
#[derive(Default)]
struct Tally {
    completed: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Option<Histogram<u64>>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    /// One connection, and whether it broke.
    fn add(&mut self, conn: Connection, result: Result<(), String>) {
        self.completed += conn.completed;
        self.errors += conn.errors;
        if let Err(e) = result {
            self.error(e);
        }
        if let Some(e) = conn.first_error {
            self.first_error.get_or_insert(e);
        }
        // Same bounds on both sides: adding cannot fail.
        let _ = self
            .latency
            .get_or_insert_with(new_histogram)
            .add(&conn.latency);
    }

    fn finish(self, elapsed: Duration) -> Outcome {
        Outcome {
            completed: self.completed,
            errors: self.errors,
            elapsed,
            latency: self.latency.unwrap_or_else(new_histogram),
            first_error: self.first_error,
        }
    }
}

/// Latency histogram in nanoseconds, 1 µs .. 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("constant bounds are valid")
}
