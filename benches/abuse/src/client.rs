//! The Modbus TCP client side: request frames, the response checker, socket
//! helpers, the healthy client that measures what the server leaves for
//! everyone else, and a pipelining client the attacks share.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use socket2::{Domain, Socket, Type};

/// The unit id every request uses (the simulator answers any).
pub const UNIT: u8 = 1;
/// The healthy client reads holding registers 0..10; every server the suite
/// starts has these values there (attacks::config), so a wrong byte shows.
pub const HEALTHY_ADDRESS: u16 = 0;
pub const HEALTHY_VALUES: [u16; 10] = [
    0x1234, 0x5678, 0x9ABC, 0xDEF0, 0x0F1E, 0x2D3C, 0x4B5A, 0x6978, 0x8796, 0xA5B4,
];
/// How long the healthy client (and most other checks) waits for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// The healthy client's poll period.
pub const PERIOD: Duration = Duration::from_millis(10);
/// Upper bound of a healthy run, whatever the caller does (every loop is bounded).
const HEALTHY_MAX_RUN: Duration = Duration::from_secs(15 * 60);

/// FC3 (read holding registers) request.
pub fn read_request(tid: u16, address: u16, count: u16) -> [u8; 12] {
    let [t0, t1] = tid.to_be_bytes();
    let [a0, a1] = address.to_be_bytes();
    let [c0, c1] = count.to_be_bytes();
    [t0, t1, 0, 0, 0, 6, UNIT, 3, a0, a1, c0, c1]
}

/// FC16 (write multiple registers) request.
pub fn write_request(tid: u16, address: u16, values: &[u16]) -> Vec<u8> {
    let n = values.len();
    assert!((1..=123).contains(&n), "FC16 writes 1..=123 registers");
    let mut f = Vec::with_capacity(13 + 2 * n);
    f.extend_from_slice(&tid.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&(7 + 2 * n as u16).to_be_bytes());
    f.extend_from_slice(&[UNIT, 16]);
    f.extend_from_slice(&address.to_be_bytes());
    f.extend_from_slice(&(n as u16).to_be_bytes());
    f.push(2 * n as u8);
    for v in values {
        f.extend_from_slice(&v.to_be_bytes());
    }
    f
}

/// What is wrong with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// A well-formed exception response (function | 0x80, code): an answer
    /// the server may give, not a corrupted one.
    Exception(u8),
    /// Anything else that is not the expected answer byte for byte.
    Wrong(String),
}

/// The whole frame length (MBAP header included) once `buf` holds at least
/// the 7-byte header; `Err` for a length no Modbus TCP frame has.
pub fn frame_len(buf: &[u8]) -> Option<Result<usize, Mismatch>> {
    if buf.len() < 7 {
        return None;
    }
    let len = u16::from_be_bytes([buf[4], buf[5]]) as usize;
    if !(2..=254).contains(&len) {
        return Some(Err(Mismatch::Wrong(format!("MBAP length {len}"))));
    }
    Some(Ok(6 + len))
}

/// Header checks common to every response: transaction id, protocol id,
/// length consistent with the frame, unit; then the exception case.
fn check_header(frame: &[u8], tid: u16, function: u8) -> Result<(), Mismatch> {
    if frame.len() < 9 {
        return Err(Mismatch::Wrong(format!("{}-byte frame", frame.len())));
    }
    let got_tid = u16::from_be_bytes([frame[0], frame[1]]);
    if got_tid != tid {
        return Err(Mismatch::Wrong(format!(
            "transaction id {got_tid}, expected {tid}"
        )));
    }
    if frame[2] != 0 || frame[3] != 0 {
        return Err(Mismatch::Wrong("protocol id not 0".into()));
    }
    if u16::from_be_bytes([frame[4], frame[5]]) as usize != frame.len() - 6 {
        return Err(Mismatch::Wrong(
            "MBAP length does not match the frame".into(),
        ));
    }
    if frame[6] != UNIT {
        return Err(Mismatch::Wrong(format!(
            "unit {}, expected {UNIT}",
            frame[6]
        )));
    }
    if frame[7] == function | 0x80 {
        return if frame.len() == 9 {
            Err(Mismatch::Exception(frame[8]))
        } else {
            Err(Mismatch::Wrong("exception response of wrong length".into()))
        };
    }
    if frame[7] != function {
        return Err(Mismatch::Wrong(format!(
            "function {}, expected {function}",
            frame[7]
        )));
    }
    Ok(())
}

/// Checks an FC3 response to request `tid` against `expected`, byte for byte.
pub fn check_read_response(frame: &[u8], tid: u16, expected: &[u16]) -> Result<(), Mismatch> {
    check_header(frame, tid, 3)?;
    let n = expected.len();
    if frame.len() != 9 + 2 * n {
        return Err(Mismatch::Wrong(format!(
            "{}-byte read response, expected {}",
            frame.len(),
            9 + 2 * n
        )));
    }
    if frame[8] as usize != 2 * n {
        return Err(Mismatch::Wrong(format!("byte count {}", frame[8])));
    }
    for (i, want) in expected.iter().enumerate() {
        let got = u16::from_be_bytes([frame[9 + 2 * i], frame[10 + 2 * i]]);
        if got != *want {
            return Err(Mismatch::Wrong(format!(
                "register {i}: {got:#06x}, expected {want:#06x}"
            )));
        }
    }
    Ok(())
}

/// Checks an FC16 response (the echo of address and quantity).
pub fn check_write_response(
    frame: &[u8],
    tid: u16,
    address: u16,
    count: u16,
) -> Result<(), Mismatch> {
    check_header(frame, tid, 16)?;
    if frame.len() != 12 {
        return Err(Mismatch::Wrong(format!(
            "{}-byte write response, expected 12",
            frame.len()
        )));
    }
    let got_address = u16::from_be_bytes([frame[8], frame[9]]);
    let got_count = u16::from_be_bytes([frame[10], frame[11]]);
    if (got_address, got_count) != (address, count) {
        return Err(Mismatch::Wrong(format!(
            "write echo {got_address}/{got_count}, expected {address}/{count}"
        )));
    }
    Ok(())
}

/// A blocking TCP connection to `addr`, from `source` (port chosen by the
/// kernel) when given, with TCP_NODELAY.
pub fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    socket.connect_timeout(&addr.into(), timeout)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}

/// Closes with a reset instead of a FIN: the churning attackers leave no
/// TIME_WAIT behind, so a long run does not run out of ephemeral ports.
pub fn close_with_reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Why reading one response failed.
#[derive(Debug)]
pub enum ReadError {
    Timeout,
    Closed,
    Io(io::Error),
    Bad(Mismatch),
}

/// Reads one whole frame by `deadline` from a blocking stream.
pub fn read_frame(stream: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, ReadError> {
    let mut frame = vec![0u8; 7];
    read_exact_by(stream, &mut frame, deadline)?;
    let len = match frame_len(&frame) {
        Some(Ok(len)) => len,
        Some(Err(e)) => return Err(ReadError::Bad(e)),
        None => unreachable!("7 bytes hold the header"),
    };
    frame.resize(len, 0);
    read_exact_by(stream, &mut frame[7..], deadline)?;
    Ok(frame)
}

fn read_exact_by(
    stream: &mut TcpStream,
    mut buf: &mut [u8],
    deadline: Instant,
) -> Result<(), ReadError> {
    while !buf.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        stream.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        match stream.read(buf) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if is_timeout(&e) => return Err(ReadError::Timeout),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_closed(&e) => return Err(ReadError::Closed),
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

pub fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Outcome counts and latency of a client that asks one question at a time.
pub struct Stats {
    /// Microseconds of every attempt, failed ones at the time they took
    /// (a timeout counts as the 1 s it cost), so percentiles do not hide them.
    pub latency_us: Histogram<u64>,
    pub ok: u64,
    pub timeouts: u64,
    /// Refused or closed connections and other I/O errors.
    pub errors: u64,
    pub exceptions: u64,
    /// Corrupted answers: the correctness failures CI stops on.
    pub wrong: u64,
    /// The first few problems, for the report.
    pub examples: Vec<String>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds"),
            ok: 0,
            timeouts: 0,
            errors: 0,
            exceptions: 0,
            wrong: 0,
            examples: Vec::new(),
        }
    }

    pub fn attempts(&self) -> u64 {
        self.ok + self.failures()
    }

    pub fn failures(&self) -> u64 {
        self.timeouts + self.errors + self.exceptions + self.wrong
    }

    pub fn record(&mut self, elapsed: Duration, outcome: &Outcome) {
        let us = (elapsed.as_micros() as u64).clamp(1, 120_000_000);
        self.latency_us.saturating_record(us);
        let problem = match outcome {
            Outcome::Ok => {
                self.ok += 1;
                return;
            }
            Outcome::Timeout => {
                self.timeouts += 1;
                "timeout".to_string()
            }
            Outcome::Error(e) => {
                self.errors += 1;
                e.clone()
            }
            Outcome::Exception(code) => {
                self.exceptions += 1;
                format!("exception {code}")
            }
            Outcome::Wrong(e) => {
                self.wrong += 1;
                format!("WRONG ANSWER: {e}")
            }
        };
        if self.examples.len() < 5 && !self.examples.contains(&problem) {
            self.examples.push(problem);
        }
    }

    /// Milliseconds at quantile `q`, None without samples.
    pub fn ms_at(&self, q: f64) -> Option<f64> {
        (!self.latency_us.is_empty()).then(|| self.latency_us.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> Option<f64> {
        (!self.latency_us.is_empty()).then(|| self.latency_us.max() as f64 / 1000.0)
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// One request's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Timeout,
    Error(String),
    Exception(u8),
    Wrong(String),
}

impl From<ReadError> for Outcome {
    fn from(e: ReadError) -> Outcome {
        match e {
            ReadError::Timeout => Outcome::Timeout,
            ReadError::Closed => Outcome::Error("connection closed by the server".into()),
            ReadError::Io(e) => Outcome::Error(e.to_string()),
            ReadError::Bad(m) => m.into(),
        }
    }
}

impl From<Mismatch> for Outcome {
    fn from(m: Mismatch) -> Outcome {
        match m {
            Mismatch::Exception(c) => Outcome::Exception(c),
            Mismatch::Wrong(e) => Outcome::Wrong(e),
        }
    }
}

/// One FC3 x10 question on `conn` (connecting first if there is none, from
/// `source`), answered and checked within `TIMEOUT`. The connection is
/// dropped after any failure, so a late answer cannot be taken for the next.
pub fn ask_once(
    conn: &mut Option<TcpStream>,
    addr: SocketAddr,
    source: Option<IpAddr>,
    tid: u16,
) -> Outcome {
    let deadline = Instant::now() + TIMEOUT;
    let outcome = (|| {
        if conn.is_none() {
            *conn = Some(connect(addr, source, TIMEOUT).map_err(|e| {
                if is_timeout(&e) {
                    Outcome::Timeout
                } else {
                    Outcome::Error(format!("connect: {e}"))
                }
            })?);
        }
        let stream = conn.as_mut().expect("connected above");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .map_err(|e| Outcome::Error(e.to_string()))?;
        stream
            .write_all(&read_request(
                tid,
                HEALTHY_ADDRESS,
                HEALTHY_VALUES.len() as u16,
            ))
            .map_err(|e| {
                if is_timeout(&e) {
                    Outcome::Timeout
                } else {
                    Outcome::Error(format!("write: {e}"))
                }
            })?;
        let frame = read_frame(stream, deadline).map_err(Outcome::from)?;
        check_read_response(&frame, tid, &HEALTHY_VALUES).map_err(Outcome::from)?;
        Ok(())
    })();
    match outcome {
        Ok(()) => Outcome::Ok,
        Err(o) => {
            *conn = None;
            o
        }
    }
}

/// The healthy client: FC3 x10 every 10 ms on a connection of its own,
/// reconnecting after a failure, until `finish`.
pub struct Healthy {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Stats>,
}

impl Healthy {
    /// Connects (so it holds its connection before any attack starts) and
    /// starts polling. Fails when the first connection or answer fails.
    pub fn start(addr: SocketAddr) -> Result<Healthy, String> {
        let mut conn = None;
        match ask_once(&mut conn, addr, None, 0) {
            Outcome::Ok => {}
            other => return Err(format!("healthy client's first request: {other:?}")),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("healthy".into())
            .spawn(move || poll(conn, addr, &flag))
            .map_err(|e| format!("spawn: {e}"))?;
        Ok(Healthy { stop, thread })
    }

    pub fn finish(self) -> Stats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| {
            let mut s = Stats::new();
            s.examples.push("healthy client thread panicked".into());
            s.wrong += 1;
            s
        })
    }
}

fn poll(mut conn: Option<TcpStream>, addr: SocketAddr, stop: &AtomicBool) -> Stats {
    let mut stats = Stats::new();
    let started = Instant::now();
    let mut next = started;
    let mut tid: u16 = 1;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < HEALTHY_MAX_RUN {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        // Fixed rate, but no burst to catch up after a slow answer.
        next = (next + PERIOD).max(Instant::now());
        let t0 = Instant::now();
        let outcome = ask_once(&mut conn, addr, None, tid);
        stats.record(t0.elapsed(), &outcome);
        tid = tid.wrapping_add(1);
    }
    stats
}

/// Counts of a pipelining client.
#[derive(Debug, Default, Clone)]
pub struct PipeStats {
    pub completed: u64,
    pub wrong: u64,
    pub exceptions: u64,
    /// Reads that got nothing for `TIMEOUT`, connection failures.
    pub stalls: u64,
    pub examples: Vec<String>,
}

impl PipeStats {
    fn problem(&mut self, p: String) {
        if self.examples.len() < 5 && !self.examples.contains(&p) {
            self.examples.push(p);
        }
    }
}

/// Keeps `depth` requests in flight on one connection until `deadline`,
/// reconnecting after a stall; `request(tid)` builds each request and
/// `check(frame, tid)` checks its answer (responses come in order).
pub fn pipeline(
    addr: SocketAddr,
    depth: usize,
    deadline: Instant,
    mut request: impl FnMut(u16) -> Vec<u8>,
    mut check: impl FnMut(&[u8], u16) -> Result<(), Mismatch>,
) -> PipeStats {
    let mut stats = PipeStats::default();
    let mut tid: u16 = 0;
    while Instant::now() < deadline {
        let mut stream = match connect(addr, None, TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                stats.stalls += 1;
                stats.problem(format!("connect: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_write_timeout(Some(TIMEOUT));
        let mut inflight: VecDeque<u16> = VecDeque::with_capacity(depth);
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        'conn: while Instant::now() < deadline {
            if inflight.len() < depth {
                let mut out = Vec::new();
                while inflight.len() < depth {
                    tid = tid.wrapping_add(1);
                    out.extend_from_slice(&request(tid));
                    inflight.push_back(tid);
                }
                if let Err(e) = stream.write_all(&out) {
                    stats.stalls += 1;
                    stats.problem(format!("write: {e}"));
                    break 'conn;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = stream.set_read_timeout(Some(left.min(TIMEOUT)));
            let n = match stream.read(&mut chunk) {
                Ok(0) => {
                    stats.stalls += 1;
                    stats.problem("connection closed by the server".into());
                    break 'conn;
                }
                Ok(n) => n,
                Err(e) if is_timeout(&e) => {
                    if Instant::now() < deadline {
                        stats.stalls += 1;
                        stats.problem("no answer for 1 s".into());
                    }
                    break 'conn;
                }
                Err(e) => {
                    stats.stalls += 1;
                    stats.problem(format!("read: {e}"));
                    break 'conn;
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut at = 0;
            while let Some(len) = frame_len(&buf[at..]) {
                let len = match len {
                    Ok(len) => len,
                    Err(m) => {
                        stats.wrong += 1;
                        stats.problem(format!("WRONG ANSWER: {m:?}"));
                        break 'conn;
                    }
                };
                if buf.len() - at < len {
                    break;
                }
                let frame = &buf[at..at + len];
                at += len;
                let Some(want) = inflight.pop_front() else {
                    stats.wrong += 1;
                    stats.problem("WRONG ANSWER: a response nobody asked for".into());
                    break 'conn;
                };
                match check(frame, want) {
                    Ok(()) => stats.completed += 1,
                    Err(Mismatch::Exception(c)) => {
                        stats.exceptions += 1;
                        stats.problem(format!("exception {c}"));
                    }
                    Err(Mismatch::Wrong(e)) => {
                        stats.wrong += 1;
                        stats.problem(format!("WRONG ANSWER: {e}"));
                        break 'conn;
                    }
                }
            }
            buf.drain(..at);
        }
        close_with_reset(stream);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_answer(tid: u16, values: &[u16]) -> Vec<u8> {
        let mut f = tid.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&(3 + 2 * values.len() as u16).to_be_bytes());
        f.extend_from_slice(&[UNIT, 3, 2 * values.len() as u8]);
        for v in values {
            f.extend_from_slice(&v.to_be_bytes());
        }
        f
    }

    #[test]
    fn read_request_bytes() {
        assert_eq!(
            read_request(0x0102, 0x0304, 10),
            [1, 2, 0, 0, 0, 6, UNIT, 3, 3, 4, 0, 10]
        );
    }

    #[test]
    fn write_request_bytes() {
        let f = write_request(7, 5000, &[1, 0xABCD]);
        assert_eq!(
            f,
            [0, 7, 0, 0, 0, 11, UNIT, 16, 0x13, 0x88, 0, 2, 4, 0, 1, 0xAB, 0xCD]
        );
        assert_eq!(frame_len(&f).unwrap().unwrap(), f.len());
    }

    #[test]
    fn a_correct_read_answer_passes() {
        let f = read_answer(9, &HEALTHY_VALUES);
        assert_eq!(check_read_response(&f, 9, &HEALTHY_VALUES), Ok(()));
    }

    #[test]
    fn every_corrupted_byte_of_a_read_answer_is_caught() {
        let good = read_answer(9, &HEALTHY_VALUES);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(
                    check_read_response(&bad, 9, &HEALTHY_VALUES),
                    Err(Mismatch::Wrong(_))
                ),
                "byte {i} flipped passed"
            );
        }
        // Truncated and extended frames.
        assert!(check_read_response(&good[..good.len() - 2], 9, &HEALTHY_VALUES).is_err());
        let mut long = good.clone();
        long.extend_from_slice(&[0, 0]);
        assert!(check_read_response(&long, 9, &HEALTHY_VALUES).is_err());
    }

    #[test]
    fn exceptions_are_told_apart_from_wrong_answers() {
        let f = [0, 9, 0, 0, 0, 3, UNIT, 0x83, 6];
        assert_eq!(
            check_read_response(&f, 9, &HEALTHY_VALUES),
            Err(Mismatch::Exception(6))
        );
        let f = [0, 9, 0, 0, 0, 3, UNIT, 0x90, 4];
        assert_eq!(
            check_write_response(&f, 9, 5000, 100),
            Err(Mismatch::Exception(4))
        );
        // An exception for another function is wrong.
        let f = [0, 9, 0, 0, 0, 3, UNIT, 0x90, 4];
        assert!(matches!(
            check_read_response(&f, 9, &HEALTHY_VALUES),
            Err(Mismatch::Wrong(_))
        ));
    }

    #[test]
    fn write_echo_is_checked() {
        let good = [0, 5, 0, 0, 0, 6, UNIT, 16, 0x13, 0x88, 0, 100];
        assert_eq!(check_write_response(&good, 5, 5000, 100), Ok(()));
        for i in 0..good.len() {
            let mut bad = good;
            bad[i] ^= 0x10;
            assert!(
                check_write_response(&bad, 5, 5000, 100).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn frame_len_rejects_impossible_lengths() {
        assert!(frame_len(&[0, 1, 0, 0, 0]).is_none());
        assert!(matches!(frame_len(&[0, 1, 0, 0, 0, 0, 1]), Some(Err(_))));
        assert!(matches!(frame_len(&[0, 1, 0, 0, 1, 0, 1]), Some(Err(_))));
        assert_eq!(frame_len(&[0, 1, 0, 0, 0, 6, 1]).unwrap().unwrap(), 12);
    }

    #[test]
    fn stats_count_failures_at_their_cost() {
        let mut s = Stats::new();
        s.record(Duration::from_millis(2), &Outcome::Ok);
        s.record(Duration::from_secs(1), &Outcome::Timeout);
        s.record(Duration::from_millis(1), &Outcome::Wrong("x".into()));
        assert_eq!((s.ok, s.timeouts, s.wrong, s.failures()), (1, 1, 1, 2));
        assert!(s.max_ms().unwrap() >= 999.0);
        assert!(s.examples.iter().any(|e| e.contains("WRONG")));
    }
}
