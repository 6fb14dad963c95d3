//! One connection's side of the benchmark, without I/O: the request stream,
//! the window of requests in flight, the bytes still to write, the bytes
//! received and not yet framed, and the checks of every response.
//!
//! Both drivers (`wait` on tokio, `spin` on non-blocking std sockets) move
//! bytes between a socket and this state, so they send the same requests
//! and check the responses the same way.

use std::collections::VecDeque;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::{new_histogram, Load, Op};
use crate::proto::{self, Expected, Request, READ_REGION, REGS_PER_REQUEST, WRITE_BASE};

/// One request on the wire.
struct Pending {
    tid: u16,
    expected: Expected,
    sent: Instant,
}

/// One connection's request stream, window, buffers, counters and latency
/// record.
pub struct Connection {
    index: usize,
    load: Load,
    seq: u32,
    tid: u16,
    /// Mixed op: the values of the last write sent, to check the read-back.
    last_write: Option<[u16; REGS_PER_REQUEST as usize]>,
    in_flight: VecDeque<Pending>,
    /// Encoded requests; `out[written..]` is not yet on the socket.
    out: Vec<u8>,
    written: usize,
    /// Received bytes; `buf[..filled]` is not yet framed.
    buf: Vec<u8>,
    filled: usize,
    pub completed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub latency: Histogram<u64>,
}

impl Connection {
    pub fn new(index: usize, load: Load) -> Self {
        let depth = load.depth.max(1);
        Connection {
            index,
            load,
            seq: 0,
            tid: 0,
            last_write: None,
            in_flight: VecDeque::with_capacity(depth),
            out: Vec::with_capacity(depth * 40),
            written: 0,
            buf: vec![0u8; 64 * 1024],
            filled: 0,
            completed: 0,
            errors: 0,
            first_error: None,
            latency: new_histogram(),
        }
    }

    /// Tops the window up to the depth once the previous batch is fully
    /// written: all new requests go out in one write, as a client that
    /// pipelines would send them.
    pub fn refill(&mut self, now: Instant) {
        if self.written < self.out.len() {
            return;
        }
        self.out.clear();
        self.written = 0;
        while self.in_flight.len() < self.load.depth.max(1) {
            let request = self.next_request();
            self.tid = self.tid.wrapping_add(1);
            request.encode(self.tid, &mut self.out);
            self.in_flight.push_back(Pending {
                tid: self.tid,
                expected: request.expected(),
                sent: now,
            });
        }
    }

    /// The encoded requests not yet written.
    pub fn unwritten(&self) -> &[u8] {
        &self.out[self.written..]
    }

    /// `n` bytes of `unwritten()` went out.
    pub fn wrote(&mut self, n: usize) {
        self.written = (self.written + n).min(self.out.len());
    }

    /// Whether every request sent has been answered.
    pub fn drained(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// When the oldest unanswered request was sent.
    pub fn oldest_sent(&self) -> Option<Instant> {
        self.in_flight.front().map(|p| p.sent)
    }

    /// Where the next read goes.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into `read_buffer()`: checks every complete
    /// response. `Err` means the stream itself is broken (bad framing).
    pub fn received(&mut self, n: usize, now: Instant) -> Result<(), String> {
        self.filled += n;
        let mut at = 0;
        while let Some(len) = proto::frame_len(&self.buf[at..self.filled])? {
            let end = at + len;
            let frame = &self.buf[at..end];
            let (tid, check) = (
                proto::transaction_id(frame),
                match_response(&mut self.in_flight, frame),
            );
            at = end;
            match check {
                Ok(sent) => {
                    self.completed += 1;
                    let nanos = now.duration_since(sent).as_nanos() as u64;
                    self.latency.saturating_record(nanos);
                }
                Err(e) => self.fail(format!("tid {tid}: {e}")),
            }
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
        Ok(())
    }

    pub fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
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
}

/// Matches one response to its request and checks it; `Ok` is when the
/// request was sent.
fn match_response(in_flight: &mut VecDeque<Pending>, frame: &[u8]) -> Result<Instant, String> {
    let tid = proto::transaction_id(frame);
    // Servers answer in order, so the front is the fast path; any other
    // position is still matched (Modbus TCP allows reordering).
    let position = in_flight
        .iter()
        .position(|p| p.tid == tid)
        .ok_or_else(|| "unexpected transaction id".to_string())?;
    let pending = in_flight
        .remove(position)
        .ok_or_else(|| "lost request".to_string())?;
    proto::check_response(frame, &pending.expected)?;
    Ok(pending.sent)
}
