//! The per-connection state machine: reassembly, pipelining, batching,
//! every deadline (idle, incomplete frame, write stall, parking) and the
//! close policy. Sans-IO: bytes in, bytes out, time as an input.

use core::net::SocketAddr;
use core::time::Duration;

use crate::service::{Reply, Respond};
use crate::session::{ClientIdentity, SessionInfo};
use crate::shared::Shared;
use crate::time::Instant;
use crate::wire::{
    emit_header, exception_pdu, ExceptionCode, Frame, FrameError, FunctionCode, ResponseWriter,
    HEADER_LEN, MAX_ADU_LEN,
};

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
    /// The client did not read its responses: output stayed unwritten for
    /// [`EngineConfig::idle_timeout`] (see [`Engine::handle_output_written`]).
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
///     if !out.is_empty() {
///         write all of `out` (also engine.pending_output()), racing engine.poll_timeout():
///           written          -> engine.handle_output_written(now); continue
///           deadline passed  -> engine.handle_timeout(now)?   // Err(WriteTimeout)
///     }
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
/// Every deadline of the connection is [`poll_timeout`](Self::poll_timeout):
/// a driver arms one timer there and calls
/// [`handle_timeout`](Self::handle_timeout) when it fires (early is
/// harmless). While output is in flight, that is the write-stall deadline: a
/// client that stops reading its responses blocks the writes once the socket
/// buffers are full, and is dropped like one that stops sending. A driver
/// that does not report writes (a test feeding bytes by hand) may skip
/// `handle_output_written`: calling `poll_output` again says the previous
/// output was written.
///
/// ```
/// use core::cell::RefCell;
/// use modbus_device::{DataBank, Engine, EngineConfig, FixedStorage, Instant, Service};
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
    /// `output[..out_len]` was returned by `poll_output` and is not yet
    /// reported written: the connection waits for its client to read.
    out_len: usize,
    /// When bytes last moved either way (input received, output written):
    /// a write stalls when nothing moved for the idle timeout.
    last_progress: Instant,
    /// Idle this long, the connection gives its engine back to a pool (the
    /// desktop server's parking). Firmware keeps its engines: no field.
    #[cfg(feature = "_desktop")]
    park_after: Option<Duration>,
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
    #[must_use]
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
            out_len: 0,
            last_progress: now,
            #[cfg(feature = "_desktop")]
            park_after: None,
            closing: None,
        }
    }

    /// The client's address given at creation.
    #[must_use]
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
        self.last_progress = now;
    }

    /// The output returned by the last [`poll_output`](Self::poll_output)
    /// was written to the client, all of it, at `now`. Clears the
    /// write-stall deadline; the next batch (pipelined requests that did not
    /// fit) stalls from `now`.
    pub fn handle_output_written(&mut self, now: Instant) {
        if self.out_len > 0 {
            self.out_len = 0;
            self.last_progress = now;
        }
    }

    /// The output in flight: what the last [`poll_output`](Self::poll_output)
    /// returned, until [`handle_output_written`](Self::handle_output_written)
    /// (empty otherwise). A shared borrow, so that a driver can write it
    /// while it asks [`poll_timeout`](Self::poll_timeout) for the deadline.
    #[must_use]
    pub fn pending_output(&self) -> &[u8] {
        &self.output[..self.out_len]
    }

    /// Answers every complete request waiting (as many as the output buffer
    /// holds) and returns the responses, to be written in one write before
    /// the next call. Empty when there is nothing to send. Non-empty output
    /// is in flight until [`handle_output_written`](Self::handle_output_written)
    /// (or the next call).
    ///
    /// # Errors
    ///
    /// The connection must be closed now, without sending anything more:
    /// [`CloseReason::Frame`] for a broken MBAP header (after the responses
    /// to the requests before it went out).
    #[must_use = "the responses must be written and an Err must close the connection"]
    pub fn poll_output<X>(&mut self, shared: &X) -> Result<&[u8], CloseReason>
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        self.poll_output_as(shared, None)
    }

    /// [`poll_output`](Self::poll_output) for a connection whose transport
    /// authenticated the client (TLS): `identity` reaches every request's
    /// [`SessionInfo::identity`].
    ///
    /// # Errors
    ///
    /// As [`poll_output`](Self::poll_output).
    #[must_use = "the responses must be written and an Err must close the connection"]
    pub fn poll_output_as<X>(
        &mut self,
        shared: &X,
        identity: Option<ClientIdentity<'_>>,
    ) -> Result<&[u8], CloseReason>
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        // Called again: the previous output was written (the contract).
        self.out_len = 0;
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
                out_len += answer(service, &frame, client, identity, &mut output[out_len..]);
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
        self.out_len = out_len;
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

    /// The connection's next deadline; `None`: none. While output is in
    /// flight, the write-stall deadline: [`EngineConfig::idle_timeout`] after
    /// bytes last moved (the driver is not reading then, so no other
    /// deadline applies). Otherwise the earliest of the idle deadline and
    /// the incomplete-frame deadline (and, for an engine of the desktop
    /// server's pool, the moment it may be parked).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.out_len > 0 {
            return self.stall_deadline();
        }
        // Pairwise, not a flattening iterator over the three: this runs
        // twice per request in the driver (callgrind on `benches/load`'s
        // server at depth 1: 119 -> 96 instructions per request).
        earliest(
            earliest(self.idle_deadline(), self.frame_deadline()),
            self.park_deadline(),
        )
    }

    /// Time passed: nothing to do unless a deadline of
    /// [`poll_timeout`](Self::poll_timeout) is reached at `now`.
    ///
    /// # Errors
    ///
    /// A deadline is reached: close the connection.
    /// [`CloseReason::WriteTimeout`] while output is in flight, else
    /// [`CloseReason::FrameTimeout`] or [`CloseReason::IdleTimeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), CloseReason> {
        match self.timed_out(now) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Which deadline is reached at `now`, if any. A shared borrow: the
    /// driver asks while the output it writes borrows the engine.
    pub(crate) fn timed_out(&self, now: Instant) -> Option<CloseReason> {
        if self.out_len > 0 {
            return reached(self.stall_deadline(), now).then_some(CloseReason::WriteTimeout);
        }
        if reached(self.frame_deadline(), now) {
            Some(CloseReason::FrameTimeout)
        } else if reached(self.idle_deadline(), now) {
            Some(CloseReason::IdleTimeout)
        } else {
            None
        }
    }

    fn idle_deadline(&self) -> Option<Instant> {
        after(self.last_input, self.config.idle_timeout)
    }

    fn frame_deadline(&self) -> Option<Instant> {
        self.partial_since
            .and_then(|since| after(since, self.config.frame_timeout))
    }

    /// A client that stops reading is dropped like one that stops sending.
    fn stall_deadline(&self) -> Option<Instant> {
        after(self.last_progress, self.config.idle_timeout)
    }

    fn park_deadline(&self) -> Option<Instant> {
        self.idle_since()
            .and_then(|since| after(since, self.park_after()))
    }

    #[cfg(feature = "_desktop")]
    fn park_after(&self) -> Option<Duration> {
        self.park_after
    }

    #[cfg(not(feature = "_desktop"))]
    fn park_after(&self) -> Option<Duration> {
        None
    }

    /// Lets this engine be parked once idle for `after` (the desktop pool):
    /// [`poll_timeout`](Self::poll_timeout) then includes that moment, and
    /// [`handle_timer`](Self::handle_timer) says to park. Kept by `restart`.
    #[cfg(feature = "_desktop")]
    pub(crate) fn set_park_after(&mut self, after: Option<Duration>) {
        self.park_after = after;
    }

    /// [`handle_timeout`](Self::handle_timeout) for a driver that parks:
    /// `Ok(Some(parked))` when the engine has been idle long enough to be
    /// given back to a pool. `parked` carries the deadline the connection
    /// keeps without an engine: this engine's idle deadline.
    #[cfg(feature = "_io")]
    pub(crate) fn handle_timer(&mut self, now: Instant) -> Result<Option<Parked>, CloseReason> {
        self.handle_timeout(now)?;
        let park = reached(self.park_deadline(), now);
        Ok(park.then(|| Parked {
            idle_deadline: self.idle_deadline(),
        }))
    }

    /// Since when the connection has had nothing to do (every request
    /// answered and its response written, no partial frame, not closing):
    /// the time of its last input. `None` while it has work.
    #[must_use]
    pub fn idle_since(&self) -> Option<Instant> {
        let idle = self.start == self.end && self.out_len == 0 && self.closing.is_none();
        idle.then_some(self.last_input)
    }

    /// Makes this engine serve `client` afresh from `now`, reusing its
    /// buffers and configuration (a pooled engine for a new or woken
    /// connection): input, output in flight, close state and deadlines are
    /// cleared.
    pub fn restart(&mut self, client: Option<SocketAddr>, now: Instant) {
        self.start = 0;
        self.end = 0;
        self.client = client;
        self.last_input = now;
        self.partial_since = None;
        self.out_len = 0;
        self.last_progress = now;
        self.closing = None;
    }

    /// The timeouts this engine applies.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Bytes received and not yet answered (an incomplete frame, or frames
    /// left for the next batch).
    #[must_use]
    pub fn pending_input(&self) -> usize {
        self.end - self.start
    }
}

/// `timeout` after `since`; `None` when the timeout is disabled.
fn after(since: Instant, timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| since + t)
}

/// The earlier of two deadlines; `None` only if neither is set.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether `deadline` has come at `now`.
fn reached(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|at| now >= at)
}

/// A connection idle long enough to give its engine back to a pool (the
/// desktop server parks them, so idle connections hold no buffers). It
/// keeps the one deadline its engine computed before parking, the idle
/// deadline: parking neither shortens nor extends a connection's life.
#[cfg(feature = "_io")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parked {
    idle_deadline: Option<Instant>,
}

#[cfg(feature = "_io")]
impl Parked {
    /// A connection accepted at `now` that has no engine yet: the deadline
    /// an engine created at `now` with `config` would have.
    #[cfg(feature = "_desktop")]
    pub(crate) fn accepted(config: &EngineConfig, now: Instant) -> Self {
        Parked {
            idle_deadline: after(now, config.idle_timeout),
        }
    }

    /// When the parked connection idles out; `None`: never.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.idle_deadline
    }

    /// `Err(IdleTimeout)` once the idle deadline is reached at `now`.
    pub(crate) fn handle_timeout(&self, now: Instant) -> Result<(), CloseReason> {
        if reached(self.idle_deadline, now) {
            Err(CloseReason::IdleTimeout)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

/// Answers one request frame into `out` (room for one maximal ADU) and
/// returns the response ADU's length, 0 when nothing is to be sent. The MBAP
/// header and exception PDUs are written here, never by a [`Respond`] impl.
#[inline]
fn answer<R: Respond + ?Sized>(
    service: &mut R,
    frame: &Frame<&[u8]>,
    client: Option<SocketAddr>,
    identity: Option<ClientIdentity<'_>>,
    out: &mut [u8],
) -> usize {
    let (header, pdu) = (frame.header(), frame.pdu());
    let function = pdu.first().copied().unwrap_or(0);
    let srv_info = SessionInfo {
        client_addr: client,
        unit_id: header.unit_id,
        transaction_id: header.transaction_id,
        function_code: FunctionCode::from(function),
        identity,
    };
    let Some((head, body)) = out
        .get_mut(..MAX_ADU_LEN)
        .and_then(|o| o.split_at_mut_checked(HEADER_LEN))
    else {
        return 0;
    };
    // `body` is exactly MAX_PDU_LEN (253) bytes: a response cannot outgrow a PDU.
    let Some(pdu_len) = respond_pdu(service, pdu, &srv_info, body) else {
        return 0;
    };
    match emit_header(head, header, pdu_len) {
        Some(()) => HEADER_LEN + pdu_len,
        None => 0,
    }
}

/// Answers one request PDU through `service` into `body` (room for one
/// maximal PDU, 253 bytes) and returns the response PDU's length; `None`
/// when nothing is to be sent. Exception PDUs are written here, for every
/// framing (MBAP here, RTU in `src/rtu/engine.rs`).
pub(crate) fn respond_pdu<R: Respond + ?Sized>(
    service: &mut R,
    pdu: &[u8],
    srv_info: &SessionInfo,
    body: &mut [u8],
) -> Option<usize> {
    let function = pdu.first().copied().unwrap_or(0);
    let mut response = ResponseWriter::new(body);
    let refused = match service.respond(pdu, srv_info, &mut response) {
        Reply::Response if !response.is_empty() => None,
        Reply::Response => Some(ExceptionCode::ServerDeviceFailure),
        Reply::Exception(code) => Some(code),
        Reply::NoResponse => return None,
    };
    match refused {
        None => Some(response.len()),
        Some(code) => {
            response.clear();
            response.extend(&exception_pdu(function, code)).ok()?;
            Some(2)
        }
    }
}
