//! The load generator: N loopback connections, each keeping D requests in
//! flight, every response checked byte for byte.
//!
//! D = 1 is strict request/response; D > 1 pipelines requests with distinct
//! transaction ids (a connection's ids are a counter, and D is far below
//! 65536, so the ids in flight never collide).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::proto::{self, Expected, Request, READ_REGION, REGS_PER_REQUEST, WRITE_BASE};

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

/// One point of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub connections: usize,
    pub depth: usize,
    pub op: Op,
    pub duration: Duration,
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

/// Runs one point against `addr`: connects everything first, starts all
/// connections together, stops sending after `load.duration` and drains.
pub async fn run(addr: SocketAddr, load: Load) -> Outcome {
    if load.connections > proto::MAX_CONNECTIONS {
        return Outcome {
            completed: 0,
            errors: 1,
            elapsed: Duration::ZERO,
            latency: new_histogram(),
            first_error: Some(format!("more than {} connections", proto::MAX_CONNECTIONS)),
        };
    }
    let mut streams = Vec::with_capacity(load.connections);
    let mut errors = 0;
    let mut first_error = None;
    for _ in 0..load.connections {
        match connect(addr).await {
            Ok(s) => streams.push(s),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
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
            let result = conn.drive(stream, deadline).await;
            (conn, result)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut latency = new_histogram();
    let mut completed = 0;
    for task in tasks {
        match task.await {
            Ok((conn, result)) => {
                completed += conn.completed;
                errors += conn.errors;
                if let Err(e) = result {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
                if let Some(e) = conn.first_error {
                    first_error.get_or_insert(e);
                }
                // Same bounds on both sides: adding cannot fail.
                let _ = latency.add(&conn.latency);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("task: {e}"));
            }
        }
    }
    Outcome {
        completed,
        errors,
        elapsed: start.elapsed(),
        latency,
        first_error,
    }
}

/// Latency histogram in nanoseconds, 1 µs .. 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("constant bounds are valid")
}

/// One request on the wire.
struct Pending {
    tid: u16,
    expected: Expected,
    sent: Instant,
}

/// One connection's request stream, counters and latency record.
struct Connection {
    index: usize,
    load: Load,
    seq: u32,
    /// Mixed op: the values of the last write sent, to check the read-back.
    last_write: Option<[u16; REGS_PER_REQUEST as usize]>,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram<u64>,
}

impl Connection {
    fn new(index: usize, load: Load) -> Self {
        Connection {
            index,
            load,
            seq: 0,
            last_write: None,
            completed: 0,
            errors: 0,
            first_error: None,
            latency: new_histogram(),
        }
    }

    /// The next request of this connection's stream.
    fn next_request(&mut self) -> Request {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let read_addr = ((seq * 7) % u32::from(READ_REGION)) as u16;
        let write_addr = WRITE_BASE + self.index as u16 * REGS_PER_REQUEST;
        let values = || {
            let mut v = [0u16; REGS_PER_REQUEST as usize];
            for (i, x) in v.iter_mut().enumerate() {
                *x = (seq as u16).wrapping_mul(3).wrapping_add(i as u16) ^ (self.index as u16);
            }
            v
        };
        match self.load.op {
            Op::ReadHolding => Request::ReadSeeded { addr: read_addr },
            Op::ReadCoils => Request::ReadCoils { addr: read_addr },
            Op::WriteHolding => Request::Write {
                addr: write_addr,
                values: values(),
            },
            Op::Mixed => match self.last_write.take() {
                // Requests of one connection are answered in order, so the
                // read sees exactly the write sent just before it.
                Some(values) => Request::ReadBack {
                    addr: write_addr,
                    values,
                },
                None => {
                    let values = values();
                    self.last_write = Some(values);
                    Request::Write {
                        addr: write_addr,
                        values,
                    }
                }
            },
        }
    }

    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// Sends and checks until `deadline`, then drains what is in flight.
    /// `Err` means the connection itself broke (I/O, timeout, framing).
    async fn drive(&mut self, mut stream: TcpStream, deadline: Instant) -> Result<(), String> {
        let depth = self.load.depth.max(1);
        let mut in_flight: VecDeque<Pending> = VecDeque::with_capacity(depth);
        let mut out = Vec::with_capacity(depth * 40);
        let mut buf = vec![0u8; 64 * 1024];
        let mut filled = 0;
        let mut tid: u16 = 0;
        loop {
            let sending = Instant::now() < deadline;
            if sending && in_flight.len() < depth {
                let now = Instant::now();
                while in_flight.len() < depth {
                    let request = self.next_request();
                    tid = tid.wrapping_add(1);
                    request.encode(tid, &mut out);
                    in_flight.push_back(Pending {
                        tid,
                        expected: request.expected(),
                        sent: now,
                    });
                }
                stream
                    .write_all(&out)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                out.clear();
            }
            if in_flight.is_empty() {
                return Ok(());
            }
            // A server that keeps sending unsolicited frames must not keep
            // the connection here forever.
            if Instant::now() > deadline + RESPONSE_TIMEOUT {
                return Err("responses did not drain in time".into());
            }
            let n = tokio::time::timeout(RESPONSE_TIMEOUT, stream.read(&mut buf[filled..]))
                .await
                .map_err(|_| format!("no response within {RESPONSE_TIMEOUT:?}"))?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("server closed the connection".into());
            }
            filled += n;
            let now = Instant::now();
            let mut at = 0;
            while let Some(len) = proto::frame_len(&buf[at..filled])? {
                let frame = &buf[at..at + len];
                at += len;
                self.accept(frame, &mut in_flight, now);
            }
            buf.copy_within(at..filled, 0);
            filled -= at;
        }
    }

    /// Matches one response to its request and checks it.
    fn accept(&mut self, frame: &[u8], in_flight: &mut VecDeque<Pending>, now: Instant) {
        let tid = proto::transaction_id(frame);
        // Servers answer in order, so the front is the fast path; any other
        // position is still matched (Modbus TCP allows reordering).
        let Some(position) = in_flight.iter().position(|p| p.tid == tid) else {
            self.fail(format!("unexpected transaction id {tid}"));
            return;
        };
        let Some(pending) = in_flight.remove(position) else {
            return;
        };
        match proto::check_response(frame, &pending.expected) {
            Ok(()) => {
                self.completed += 1;
                let nanos = now.duration_since(pending.sent).as_nanos() as u64;
                self.latency.saturating_record(nanos);
            }
            Err(e) => self.fail(format!("tid {tid}: {e}")),
        }
    }
}
