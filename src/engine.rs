//! The per-connection state machine: reassembly, pipelining, batching,
//! idle deadlines and the close policy. Sans-IO: bytes in, bytes out, time
//! as an input.

use core::net::SocketAddr;
use core::time::Duration;

use crate::service::Respond;
use crate::shared::Shared;
use crate::time::Instant;
use crate::wire::{Frame, FrameError, MAX_ADU_LEN};

/// Input buffer that holds one request of any size: the least an engine needs.
pub const MIN_BUFFER: usize = MAX_ADU_LEN;

/// Timeouts of one connection. `None` disables a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EngineConfig {
    /// Close a connection that has sent nothing for this long (pyModbusTCP
    /// has no limit). Default: 60 s.
    pub idle_timeout: Option<Duration>,
    /// Close a connection that started a frame and did not complete it in
    /// this long (a stalled or broken client). Default: 5 s.
    pub frame_timeout: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            idle_timeout: Some(Duration::from_secs(60)),
            frame_timeout: Some(Duration::from_secs(5)),
        }
    }
}

/// Why the engine wants its connection closed. The connection is then
/// closed without a reply, as `behaviour.md` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CloseReason {
    /// A broken MBAP header (protocol id, length).
    Frame(FrameError),
    /// Nothing received for [`EngineConfig::idle_timeout`].
    IdleTimeout,
    /// A frame started and was not completed within [`EngineConfig::frame_timeout`].
    FrameTimeout,
    /// The client did not read its responses for [`EngineConfig::idle_timeout`]
    /// (reported by adapters, whose writes stalled).
    WriteTimeout,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CloseReason::Frame(e) => write!(f, "{e}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::FrameTimeout => f.write_str("incomplete frame timed out"),
            CloseReason::WriteTimeout => f.write_str("client stopped reading responses"),
        }
    }
}

impl core::error::Error for CloseReason {}

impl From<FrameError> for CloseReason {
    fn from(e: FrameError) -> Self {
        CloseReason::Frame(e)
    }
}

/// One Modbus TCP connection, without I/O.
///
/// `IN` and `OUT` are the sizes of the input and output buffers; both must
/// be at least [`MIN_BUFFER`] (260, one maximal ADU), checked at compile
/// time. A larger `IN` lets a client pipeline more requests per read; a
/// larger `OUT` lets more responses go out in one write (the engine stops a
/// batch when less than one maximal response fits, and continues it at the
/// next [`poll_output`](Self::poll_output)).
///
/// # Calling contract
///
/// ```text
/// loop {
///     let out = engine.poll_output(&shared)?;   // Err: close the connection
///     if !out.is_empty() { write all of `out`; continue; }
///     wait for: a read into engine.input_buffer(), or engine.poll_timeout()
///     read n > 0 bytes  -> engine.handle_input(n, now)
///     read 0 bytes      -> the peer closed: drop the engine
///     deadline passed   -> engine.handle_timeout(now)?
/// }
/// ```
///
/// Every `handle_*` must be followed by draining `poll_output` until it
/// returns an empty slice. Responses come out in request order; each call
/// takes the shared service's lock at most once, and only when a complete
/// request is waiting.
///
/// ```
/// use core::cell::RefCell;
/// use modbus_server::{DataBank, Engine, EngineConfig, FixedStorage, Instant, Service};
///
/// let service = RefCell::new(Service::new(DataBank::new(FixedStorage::<0, 0, 16, 0>::filled(false, false, 7, 0))));
/// let mut engine = Engine::<260, 260>::new(EngineConfig::default(), None, Instant::ZERO);
/// let request = [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x00, 0x00, 0x02];
/// engine.input_buffer()[..12].copy_from_slice(&request);
/// engine.handle_input(12, Instant::ZERO);
/// let response = engine.poll_output(&service).unwrap();
/// assert_eq!(response, [0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x11, 0x03, 0x04, 0x00, 0x07, 0x00, 0x07]);
/// ```
#[derive(Debug, Clone)]
pub struct Engine<const IN: usize, const OUT: usize> {
    input: [u8; IN],
    /// Unprocessed input is `input[start..end]`.
    start: usize,
    end: usize,
    output: [u8; OUT],
    config: EngineConfig,
    client: Option<SocketAddr>,
    last_input: Instant,
    /// When the incomplete frame at `input[start..end]` began arriving.
    partial_since: Option<Instant>,
    /// Set when a broken header was found after responses that are still
    /// to be sent: they go out first, then the connection closes.
    closing: Option<CloseReason>,
}

impl<const IN: usize, const OUT: usize> Engine<IN, OUT> {
    const BUFFERS_FIT: () = assert!(
        IN >= MIN_BUFFER && OUT >= MIN_BUFFER,
        "Engine buffers must hold one maximal ADU (260 bytes)"
    );

    /// A new connection from `client` (if known), accepted at `now`.
    pub const fn new(config: EngineConfig, client: Option<SocketAddr>, now: Instant) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::BUFFERS_FIT;
        Engine {
            input: [0; IN],
            start: 0,
            end: 0,
            output: [0; OUT],
            config,
            client,
            last_input: now,
            partial_since: None,
            closing: None,
        }
    }

    /// The client's address given at creation.
    pub fn client(&self) -> Option<SocketAddr> {
        self.client
    }

    /// The free input space: read from the socket straight into it, then
    /// call [`handle_input`](Self::handle_input). Never empty after
    /// `poll_output` returned an empty slice.
    pub fn input_buffer(&mut self) -> &mut [u8] {
        &mut self.input[self.end..]
    }

    /// `len` bytes were read into [`input_buffer`](Self::input_buffer) at `now`.
    /// A `len` larger than the free space is clamped.
    pub fn handle_input(&mut self, len: usize, now: Instant) {
        if len == 0 {
            return;
        }
        if self.start == self.end {
            self.partial_since = Some(now);
        }
        self.end = self.end.saturating_add(len).min(IN);
        self.last_input = now;
    }

    /// Answers every complete request waiting (as many as the output buffer
    /// holds) and returns the responses, to be written in one write before
    /// the next call. Empty when there is nothing to send. `Err` means: close
    /// the connection now, without sending anything more.
    #[must_use = "the responses must be written and an Err must close the connection"]
    pub fn poll_output<X>(&mut self, shared: &X) -> Result<&[u8], CloseReason>
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        if let Some(reason) = self.closing {
            return Err(reason);
        }
        // Lock only when at least one complete frame is waiting. Each frame
        // is validated once: `next` carries the length of the one at `start`.
        let mut next = Frame::<&[u8]>::frame_len(&self.input[self.start..self.end])?;
        if next.is_none() {
            return Ok(&[]);
        }
        let (input, output, client) = (&self.input, &mut self.output, self.client);
        let (mut start, end) = (self.start, self.end);
        let mut out_len = 0;
        let mut closing = None;
        shared.with(|service| {
            while let Some(len) = next {
                if OUT - out_len < MAX_ADU_LEN {
                    break; // the rest waits for the next poll_output
                }
                let frame = Frame::prevalidated(&input[start..end], len);
                let free = &mut output[out_len..];
                let room = free.len();
                if let Some(n) = service.respond(frame.header(), frame.pdu(), client, free) {
                    // A `Respond` impl that claims more than it was given
                    // must not make the next slice panic.
                    out_len += n.min(room);
                }
                start += len;
                next = Frame::<&[u8]>::frame_len(&input[start..end]).unwrap_or_else(|e| {
                    closing = Some(CloseReason::Frame(e));
                    None
                });
            }
        });
        self.start = start;
        self.closing = closing;
        self.compact();
        if out_len == 0 {
            if let Some(reason) = self.closing {
                return Err(reason);
            }
        }
        Ok(&self.output[..out_len])
    }

    /// Moves an incomplete frame to the front so the free space stays
    /// contiguous, and restarts the frame timer for it.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.partial_since = None;
        } else if self.start > 0 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.partial_since = Some(self.last_input);
        }
    }

    /// When the connection must be closed if nothing arrives: the earlier of
    /// the idle deadline and the incomplete-frame deadline. `None`: never.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout.map(|t| self.last_input + t);
        let frame = self
            .partial_since
            .zip(self.config.frame_timeout)
            .map(|(since, t)| since + t);
        match (idle, frame) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: `Err` if a deadline of [`poll_timeout`](Self::poll_timeout)
    /// is reached at `now` (close the connection).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), CloseReason> {
        if let (Some(since), Some(t)) = (self.partial_since, self.config.frame_timeout) {
            if now >= since + t {
                return Err(CloseReason::FrameTimeout);
            }
        }
        if let Some(t) = self.config.idle_timeout {
            if now >= self.last_input + t {
                return Err(CloseReason::IdleTimeout);
            }
        }
        Ok(())
    }

    /// Since when the connection has had nothing to do (every request
    /// answered, no partial frame, not closing): the time of its last input.
    /// `None` while it has work. Adapters use it to park idle connections.
    pub fn idle_since(&self) -> Option<Instant> {
        (self.start == self.end && self.closing.is_none()).then_some(self.last_input)
    }

    /// Makes this engine serve `client` afresh from `now`, reusing its
    /// buffers and configuration (a pooled engine for a new or woken
    /// connection): input, close state and deadlines are cleared.
    pub fn restart(&mut self, client: Option<SocketAddr>, now: Instant) {
        self.start = 0;
        self.end = 0;
        self.client = client;
        self.last_input = now;
        self.partial_since = None;
        self.closing = None;
    }

    /// The timeouts this engine applies.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Bytes received and not yet answered (an incomplete frame, or frames
    /// left for the next batch).
    pub fn pending_input(&self) -> usize {
        self.end - self.start
    }
}
