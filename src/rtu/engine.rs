//! `RtuEngine`: one RTU port (a serial line, or one RTU-over-TCP
//! connection) without I/O. Bytes and time in, response frames out; the
//! requests go to the same [`Respond`] (a [`Service`](crate::Service)) as
//! the TCP engine's, through the same dispatch.

use core::net::SocketAddr;
use core::time::Duration;

use super::crc::{crc16, crc_matches, first_crc_match};
use super::length::{request_len, RequestLen};
use super::timing::RtuTiming;
use crate::engine::{respond_pdu, CloseReason};
use crate::service::Respond;
use crate::session::SessionInfo;
use crate::shared::Shared;
use crate::time::Instant;
use crate::wire::{FunctionCode, MAX_PDU_LEN};

/// The largest RTU frame: address, a PDU of at most 253 bytes, CRC
/// ("Modbus over Serial Line V1.02", section 2.5.1.1).
pub const MAX_RTU_ADU: usize = 256;

/// The smallest RTU frame: address, function code, CRC.
const MIN_RTU_ADU: usize = 4;

/// Room for a frame ended by silence and the first bytes of the next one.
const BUF: usize = 2 * MAX_RTU_ADU;

/// How the engine finds where a frame ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RtuFraming {
    /// A serial line: a frame ends after a silence of t3.5, or at an
    /// idle-line event ([`RtuEngine::handle_idle_line`]); a silence of more
    /// than t1.5 inside a frame discards it.
    Serial(RtuTiming),
    /// A byte stream (RTU over TCP, as gateways use it): there is no
    /// silence to go by, so a frame's length follows from its function code
    /// and byte count, or for a user function code from the first CRC that
    /// matches. Frames may follow each other in one read.
    Stream,
}

/// The configuration of one RTU port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RtuConfig {
    /// The server address (1..=247) this port answers, besides broadcasts
    /// (address 0, executed without a response). `None` answers every
    /// address, leaving the choice to the service's
    /// [`UnitFilter`](crate::UnitFilter) (a gateway, a
    /// [`UnitRouter`](crate::UnitRouter)).
    pub address: Option<u8>,
    /// Where frames end.
    pub framing: RtuFraming,
    /// Close the connection after this long without a request, or with a
    /// response unwritten (a stream's client that stopped reading). `None`
    /// (serial lines) never.
    pub idle_timeout: Option<Duration>,
}

impl RtuConfig {
    /// A serial line at `baud` answering `address`.
    #[must_use]
    pub const fn serial(address: u8, baud: u32) -> Self {
        RtuConfig {
            address: Some(address),
            framing: RtuFraming::Serial(RtuTiming::for_baud(baud)),
            idle_timeout: None,
        }
    }

    /// RTU over TCP answering every address, closed after `idle_timeout`
    /// without a request.
    #[must_use]
    pub const fn stream(idle_timeout: Option<Duration>) -> Self {
        RtuConfig {
            address: None,
            framing: RtuFraming::Stream,
            idle_timeout,
        }
    }
}

/// A frame found in the input, to answer or drop.
enum Next {
    /// `buf[..len]` is a whole frame, its CRC still to check.
    Frame(usize),
    /// Drop `buf[..len]`: a frame that broke the timing or size rules.
    Broken(usize),
}

/// One RTU port, without I/O.
///
/// The calling contract is the TCP [`Engine`](crate::Engine)'s, with one
/// more event: read into [`input_buffer`](Self::input_buffer), report it
/// with [`handle_input`](Self::handle_input) at the time the read
/// returned; arm a timer at [`poll_timeout`](Self::poll_timeout) and call
/// [`handle_timeout`](Self::handle_timeout) when it fires (on a serial
/// line, that is the end of a frame); a UART that detects an idle line may
/// also call [`handle_idle_line`](Self::handle_idle_line). After each of
/// these, drain [`poll_output`](Self::poll_output) until it returns an empty
/// slice, writing each response. A frame with a CRC error is dropped and
/// counted (diagnostics sub-function 0x0C); a frame for another address is
/// ignored; a broadcast is executed and not answered.
///
/// ```
/// use core::cell::RefCell;
/// use modbus_device::rtu::{RtuConfig, RtuEngine};
/// use modbus_device::{DataBank, FixedStorage, Instant, Service};
///
/// let service = RefCell::new(Service::new(DataBank::new(FixedStorage::<0, 0, 16, 0>::filled(false, false, 7, 0))));
/// let mut engine = RtuEngine::new(RtuConfig::serial(0x11, 19_200), None, Instant::ZERO);
/// let request = [0x11, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC6, 0x9B];
/// engine.input_buffer()[..8].copy_from_slice(&request);
/// engine.handle_input(8, Instant::from_micros(4_170));
/// assert!(engine.poll_output(&service).is_empty()); // not before t3.5 of silence
/// let end = engine.poll_timeout().unwrap();
/// engine.handle_timeout(end).unwrap();
/// assert_eq!(engine.poll_output(&service), [0x11, 0x03, 0x04, 0x00, 0x07, 0x00, 0x07, 0x1B, 0xF1]);
/// ```
#[derive(Debug, Clone)]
pub struct RtuEngine {
    buf: [u8; BUF],
    /// Bytes received: `buf[..len]`.
    len: usize,
    /// Serial: `buf[..ready]` is a frame ended by silence, to answer
    /// before the bytes after it; 0 while there is none.
    ready: usize,
    /// Whether the ready frame kept the timing and size rules.
    ready_ok: bool,
    /// Whether the frame in progress (`buf[ready..len]`) keeps them.
    frame_ok: bool,
    /// Serial: when the last byte of the frame in progress arrived; `None`
    /// while no frame is in progress.
    last_byte: Option<Instant>,
    /// When a request last arrived or a response was last written.
    last_progress: Instant,
    output: [u8; MAX_RTU_ADU],
    /// `output[..out_len]` is in flight until reported written.
    out_len: usize,
    config: RtuConfig,
    client: Option<SocketAddr>,
}

impl RtuEngine {
    /// A port for `client` (an RTU-over-TCP peer; `None` on a serial
    /// line), opened at `now`.
    #[must_use]
    pub const fn new(config: RtuConfig, client: Option<SocketAddr>, now: Instant) -> Self {
        RtuEngine {
            buf: [0; BUF],
            len: 0,
            ready: 0,
            ready_ok: true,
            frame_ok: true,
            last_byte: None,
            last_progress: now,
            output: [0; MAX_RTU_ADU],
            out_len: 0,
            config,
            client,
        }
    }

    /// The configuration this port applies.
    #[must_use]
    pub fn config(&self) -> &RtuConfig {
        &self.config
    }

    /// The free input space: read into it, then call
    /// [`handle_input`](Self::handle_input). At least 256 bytes after
    /// `poll_output` returned an empty slice.
    pub fn input_buffer(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.len..).unwrap_or_default()
    }

    /// `len` bytes were read into [`input_buffer`](Self::input_buffer); the
    /// read returned at `now` (the end of the chunk's last byte). A `len`
    /// larger than the free space is clamped.
    ///
    /// On a serial line, the silence before the chunk is the time since the
    /// previous byte less the time the chunk's own bytes took on the line:
    /// t3.5 or more ends the previous frame (if no timer did), more than
    /// t1.5 breaks the frame in progress.
    pub fn handle_input(&mut self, len: usize, now: Instant) {
        let len = len.min(BUF - self.len);
        if len == 0 {
            return;
        }
        self.last_progress = now;
        let RtuFraming::Serial(timing) = self.config.framing else {
            self.len += len;
            return;
        };
        if let Some(last) = self.last_byte {
            let silence = now
                .saturating_duration_since(last)
                .saturating_sub(timing.chars(len));
            if silence >= timing.t3_5 && self.ready == 0 {
                self.end_frame();
            } else if silence > timing.t1_5 {
                self.frame_ok = false;
            }
        }
        self.len += len;
        self.last_byte = Some(now);
        if self.len - self.ready > MAX_RTU_ADU {
            // Too long for a frame: dropped at its end; keep no more of it.
            self.frame_ok = false;
            self.len = self.ready + MAX_RTU_ADU;
        }
    }

    /// The UART reports an idle line (serial lines only): the frame in
    /// progress ends now, without waiting for t3.5.
    pub fn handle_idle_line(&mut self, _now: Instant) {
        if matches!(self.config.framing, RtuFraming::Serial(_)) && self.last_byte.is_some() {
            self.end_frame();
        }
    }

    /// The UART reported a character error (framing, parity, overrun) at
    /// `now` (serial lines only): a character of the frame in progress was
    /// lost, so that frame is discarded at its end.
    pub fn handle_line_error(&mut self, now: Instant) {
        if matches!(self.config.framing, RtuFraming::Serial(_)) {
            self.frame_ok = false;
            self.last_byte = Some(now);
        }
    }

    /// The next deadline: on a serial line, t3.5 after the last byte of a
    /// frame in progress (its end); the idle or write-stall deadline of
    /// [`RtuConfig::idle_timeout`]. `None`: none.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout.map(|t| self.last_progress + t);
        if self.out_len > 0 {
            return idle;
        }
        let frame_end = match self.config.framing {
            RtuFraming::Serial(timing) => self.last_byte.map(|last| last + timing.t3_5),
            RtuFraming::Stream => None,
        };
        frame_end.into_iter().chain(idle).min()
    }

    /// Time passed: ends a serial frame after t3.5 of silence.
    ///
    /// # Errors
    ///
    /// The idle timeout is reached ([`CloseReason::IdleTimeout`], or
    /// [`CloseReason::WriteTimeout`] with a response in flight): close the
    /// connection.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), CloseReason> {
        if let Some(timeout) = self.config.idle_timeout {
            if now >= self.last_progress + timeout {
                return Err(if self.out_len > 0 {
                    CloseReason::WriteTimeout
                } else {
                    CloseReason::IdleTimeout
                });
            }
        }
        if let (RtuFraming::Serial(timing), Some(last)) = (self.config.framing, self.last_byte) {
            if now >= last + timing.t3_5 && self.ready == 0 {
                self.end_frame();
            }
        }
        Ok(())
    }

    /// The response returned by the last [`poll_output`](Self::poll_output)
    /// was written at `now`.
    pub fn handle_output_written(&mut self, now: Instant) {
        if self.out_len > 0 {
            self.out_len = 0;
            self.last_progress = now;
        }
    }

    /// The response in flight: what the last
    /// [`poll_output`](Self::poll_output) returned, until
    /// [`handle_output_written`](Self::handle_output_written). A shared
    /// borrow, so that a driver can write it while it asks
    /// [`poll_timeout`](Self::poll_timeout) for the deadline.
    #[must_use]
    pub fn pending_output(&self) -> &[u8] {
        self.output.get(..self.out_len).unwrap_or_default()
    }

    /// Answers the next complete frame and returns its response frame (at
    /// most [`MAX_RTU_ADU`] bytes), to be written before the next call;
    /// empty when there is nothing to send. Takes the shared service's
    /// lock once per frame that reaches it.
    pub fn poll_output<X>(&mut self, shared: &X) -> &[u8]
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        self.out_len = 0;
        // Each turn drops at least one byte: bounded by the input.
        while let Some(next) = self.next_frame() {
            let used = match next {
                Next::Broken(len) => len,
                Next::Frame(len) => {
                    let frame = self.buf.get(..len).unwrap_or_default();
                    if !crc_matches(frame) {
                        shared.with(|service| service.count_communication_error());
                        // On a stream, what follows a bad frame cannot be
                        // trusted to start a frame: drop it all.
                        match self.config.framing {
                            RtuFraming::Serial(_) => len,
                            RtuFraming::Stream => self.len,
                        }
                    } else {
                        let body = frame.get(..len - 2).unwrap_or_default();
                        if self.addressed(body) {
                            let (output, client) = (&mut self.output, self.client);
                            self.out_len =
                                shared.with(|service| answer(service, body, client, output));
                        }
                        len
                    }
                }
            };
            self.consume(used);
            if self.out_len > 0 {
                break;
            }
        }
        self.output.get(..self.out_len).unwrap_or_default()
    }

    /// Ends the serial frame in progress: it waits in `buf[..ready]`.
    /// A frame of no bytes (only a lost character) just ends.
    fn end_frame(&mut self) {
        if self.ready != 0 {
            return; // answered first; the next timer ends this one
        }
        if self.len > 0 {
            self.ready = self.len;
            self.ready_ok = self.frame_ok;
        }
        self.frame_ok = true;
        self.last_byte = None;
    }

    /// The next frame to answer or drop at the front of the input.
    fn next_frame(&self) -> Option<Next> {
        if let RtuFraming::Serial(_) = self.config.framing {
            return match self.ready {
                0 => None,
                len if self.ready_ok && len >= MIN_RTU_ADU => Some(Next::Frame(len)),
                len => Some(Next::Broken(len)),
            };
        }
        let data = self.buf.get(..self.len).unwrap_or_default();
        if data.is_empty() {
            return None;
        }
        match request_len(data) {
            RequestLen::Need(_) => None,
            RequestLen::Known(len) if len > MAX_RTU_ADU => Some(Next::Frame(data.len())),
            RequestLen::Known(len) => (len <= data.len()).then_some(Next::Frame(len)),
            RequestLen::Unknown => {
                let longest = data.len().min(MAX_RTU_ADU);
                let found = first_crc_match(data.get(..longest).unwrap_or(data), MIN_RTU_ADU);
                match found {
                    Some(len) => Some(Next::Frame(len)),
                    // No frame can start here: the CRC check counts it.
                    None if data.len() >= MAX_RTU_ADU => Some(Next::Frame(data.len())),
                    None => None,
                }
            }
        }
    }

    /// Drops `buf[..used]`, moving what follows to the front.
    fn consume(&mut self, used: usize) {
        let used = used.min(self.len);
        self.buf.copy_within(used..self.len, 0);
        self.len -= used;
        self.ready = self.ready.saturating_sub(used);
        if self.ready == 0 {
            self.ready_ok = true;
        }
    }

    /// Whether the frame `body` (address first) is for this port.
    fn addressed(&self, body: &[u8]) -> bool {
        match (body.first(), self.config.address) {
            (None, _) => false,
            (Some(&0), _) | (_, None) => true,
            (Some(&address), Some(own)) => address == own,
        }
    }
}

/// Answers the request frame `body` (address and PDU, without its CRC)
/// into `out` and returns the response frame's length: 0 for a broadcast
/// (executed, not answered) or when the service sends nothing.
fn answer<R: Respond + ?Sized>(
    service: &mut R,
    body: &[u8],
    client: Option<SocketAddr>,
    out: &mut [u8; MAX_RTU_ADU],
) -> usize {
    let Some((&address, pdu)) = body.split_first() else {
        return 0;
    };
    let srv_info = SessionInfo {
        client_addr: client,
        unit_id: address,
        transaction_id: 0,
        function_code: FunctionCode::from(pdu.first().copied().unwrap_or(0)),
        // A serial line authenticates nobody.
        identity: None,
    };
    let Some(pdu_out) = out.get_mut(1..=MAX_PDU_LEN) else {
        return 0;
    };
    let pdu_len = respond_pdu(service, pdu, &srv_info, pdu_out);
    let Some(pdu_len) = pdu_len.filter(|_| address != 0) else {
        return 0;
    };
    out[0] = address;
    let len = 1 + pdu_len;
    let crc = crc16(out.get(..len).unwrap_or_default()).to_le_bytes();
    match out.get_mut(len..len + 2) {
        Some(tail) => {
            tail.copy_from_slice(&crc);
            len + 2
        }
        None => 0,
    }
}
