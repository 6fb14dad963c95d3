//! Function 0x08 (diagnostics) and 0x0B (get comm event counter): the
//! communication counters a [`Service`](crate::Service) keeps, and the
//! standard answers to their sub-functions (Modbus Application Protocol
//! Specification V1.1b3, sections 6.8 and 6.9).
//!
//! The specification writes these functions for serial lines. Over TCP:
//!
//! - The counters are the server's (one [`Service`](crate::Service), every
//!   connection and every unit id together), as a serial device has one
//!   port.
//! - The service counts what reaches it. A frame the engine refuses before
//!   that (an MBAP header that can never be valid, which closes the
//!   connection, or a frame cut by the frame timeout) is not a message the
//!   service saw and is not counted anywhere.
//! - There is no CRC and no character overrun on TCP (TCP checksums and
//!   flow control lie below the engine), so the bus communication error
//!   count (0x0C) and the bus character overrun count (0x12) are always 0.
//!   RTU frames (feature `rtu`, on a serial line or a TCP stream) carry a
//!   CRC: the RTU engine counts each frame it discards for one in 0x0C.
//! - Listen only mode (0x04) isolates a device from a multi-drop line so
//!   that the others can talk. A TCP server has no line to share; the mode
//!   would only let any one client silence the server for every client until
//!   a restart (0x01). It is answered with exception 1 (not supported), as
//!   are the serial-only 0x02 (diagnostic register), 0x03 (ASCII input
//!   delimiter) and 0x14 (clear overrun counter and flag).
//! - Restart communications (0x01) clears the counters; the connections
//!   stay open (closing them would lose the response the specification asks
//!   for).

use crate::wire::ExceptionCode;

/// The sub-function codes of function 0x08 (section 6.8.1).
pub mod sub_function {
    /// 0x00: the request's data is returned as it came.
    pub const RETURN_QUERY_DATA: u16 = 0x00;
    /// 0x01: restart the port and clear the counters (data 0x0000 or 0xFF00).
    pub const RESTART_COMMUNICATIONS_OPTION: u16 = 0x01;
    /// 0x02: the diagnostic register (serial line; not served).
    pub const RETURN_DIAGNOSTIC_REGISTER: u16 = 0x02;
    /// 0x03: the ASCII end-of-message character (serial ASCII; not served).
    pub const CHANGE_ASCII_INPUT_DELIMITER: u16 = 0x03;
    /// 0x04: stop answering until a restart (serial line; not served, see
    /// the [module documentation](crate::diagnostics)).
    pub const FORCE_LISTEN_ONLY_MODE: u16 = 0x04;
    /// 0x0A: clear every counter.
    pub const CLEAR_COUNTERS_AND_DIAGNOSTIC_REGISTER: u16 = 0x0A;
    /// 0x0B: requests seen.
    pub const RETURN_BUS_MESSAGE_COUNT: u16 = 0x0B;
    /// 0x0C: CRC errors (always 0 on TCP).
    pub const RETURN_BUS_COMMUNICATION_ERROR_COUNT: u16 = 0x0C;
    /// 0x0D: exception responses sent.
    pub const RETURN_BUS_EXCEPTION_ERROR_COUNT: u16 = 0x0D;
    /// 0x0E: requests addressed to this server and processed.
    pub const RETURN_SERVER_MESSAGE_COUNT: u16 = 0x0E;
    /// 0x0F: requests addressed to this server left without a response.
    pub const RETURN_SERVER_NO_RESPONSE_COUNT: u16 = 0x0F;
    /// 0x10: exception 7 (negative acknowledge) responses sent.
    pub const RETURN_SERVER_NAK_COUNT: u16 = 0x10;
    /// 0x11: exception 6 (server device busy) responses sent.
    pub const RETURN_SERVER_BUSY_COUNT: u16 = 0x11;
    /// 0x12: character overruns (always 0 on TCP).
    pub const RETURN_BUS_CHARACTER_OVERRUN_COUNT: u16 = 0x12;
    /// 0x14: clear the overrun counter and flag (serial line; not served).
    pub const CLEAR_OVERRUN_COUNTER_AND_FLAG: u16 = 0x14;
}

use sub_function::*;

/// The request data of the counter sub-functions and of restart without
/// clearing the event log (section 6.8.1: "00 00").
const ZERO_DATA: [u8; 2] = [0x00, 0x00];
/// Restart's other allowed data: also clear the communications event log.
const CLEAR_LOG_DATA: [u8; 2] = [0xFF, 0x00];

/// Exception 6, counted by sub-function 0x11.
const BUSY: u8 = 0x06;
/// Exception 7 (negative acknowledge), counted by sub-function 0x10.
const NAK: u8 = 0x07;

/// What the data field of a normal diagnostics (0x08) response holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DiagnosticsData {
    /// The request's data, echoed (return query data, restart, clear).
    Echo,
    /// One word, big-endian (a counter).
    Word(u16),
}

/// The answer to function 0x0B, get comm event counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommEventCounter {
    /// 0xFFFF while a previously issued program command is still being
    /// processed (a busy condition), else 0x0000.
    pub status: u16,
    /// Successful message completions counted.
    pub event_count: u16,
}

/// The communication counters of one server (functions 0x08 and 0x0B).
///
/// Every counter is 16 bits, as on the wire, and wraps from 0xFFFF to 0.
/// The [`Service`](crate::Service) counts each request it sees:
///
/// - on arrival, before any handler runs (so a counter read counts
///   itself): the bus message count; the server message count if the
///   unit filter serves the request's unit id;
/// - on its reply: the bus exception error count for an exception response
///   (also the busy count for exception 6, the NAK count for exception 7);
///   the server no response count for a served request answered with
///   nothing; the comm event count for a normal response, except to
///   function 0x0B itself (section 6.9).
///
/// [`clear`](Self::clear) (sub-functions 0x01 and 0x0A) takes effect as
/// the response is sent: the clearing request is not counted, so every
/// counter reads 0 after it.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommCounters {
    // A normal response, the common case, costs one increment: the counts
    // that follow every request (server messages, comm events) are derived
    // from `requests` less the requests that were not served or answered
    // normally. All wrap together, so the differences hold modulo 2^16.
    /// Requests seen (the bus message count).
    requests: u16,
    /// Requests for unit ids the unit filter refuses.
    refused: u16,
    /// Refused requests answered with nothing (not a server no response).
    refused_silently: u16,
    /// Exception responses sent.
    exceptions: u16,
    /// Served requests answered with nothing.
    no_response: u16,
    /// Exception 7 responses.
    nak: u16,
    /// Exception 6 responses.
    busy: u16,
    /// Normal responses to function 0x0B (not comm events).
    event_counter_reads: u16,
    /// Set by `clear` while a request is served: its reply is not counted.
    cleared: bool,
    /// Frames discarded for a CRC error (RTU).
    crc_errors: u16,
}

/// Equal when every counter is.
impl PartialEq for CommCounters {
    fn eq(&self, other: &Self) -> bool {
        let counts = |c: &Self| {
            [
                c.bus_message_count(),
                c.bus_communication_error_count(),
                c.bus_exception_error_count(),
                c.server_message_count(),
                c.server_no_response_count(),
                c.server_nak_count(),
                c.server_busy_count(),
                c.comm_event_count(),
            ]
        };
        counts(self) == counts(other)
    }
}

impl Eq for CommCounters {}

impl CommCounters {
    /// Every counter at 0.
    #[must_use]
    pub const fn new() -> Self {
        CommCounters {
            requests: 0,
            refused: 0,
            refused_silently: 0,
            exceptions: 0,
            no_response: 0,
            nak: 0,
            busy: 0,
            event_counter_reads: 0,
            cleared: false,
            crc_errors: 0,
        }
    }

    /// Sets every counter to 0. Called while a request is served, that
    /// request's reply is not counted either.
    pub fn clear(&mut self) {
        *self = CommCounters {
            cleared: true,
            ..CommCounters::new()
        };
    }

    /// Sub-function 0x0B: every request the server saw, served or not.
    #[must_use]
    pub fn bus_message_count(&self) -> u16 {
        self.requests
    }

    /// Sub-function 0x0C: frames discarded for a CRC error. Always 0 on
    /// TCP, which has no CRC; counted by the RTU engine
    /// (`rtu::RtuEngine`, feature `rtu`).
    #[must_use]
    pub fn bus_communication_error_count(&self) -> u16 {
        self.crc_errors
    }

    /// Sub-function 0x0D: exception responses sent.
    #[must_use]
    pub fn bus_exception_error_count(&self) -> u16 {
        self.exceptions
    }

    /// Sub-function 0x0E: requests for a unit id the server serves (see
    /// [`UnitFilter`](crate::UnitFilter)).
    #[must_use]
    pub fn server_message_count(&self) -> u16 {
        self.requests.wrapping_sub(self.refused)
    }

    /// Sub-function 0x0F: served requests answered with nothing (a handler
    /// or `ext_engine` chose [`Reply::NoResponse`](crate::Reply)).
    #[must_use]
    pub fn server_no_response_count(&self) -> u16 {
        self.no_response
    }

    /// Sub-function 0x10: exception 7 (negative acknowledge) responses sent.
    #[must_use]
    pub fn server_nak_count(&self) -> u16 {
        self.nak
    }

    /// Sub-function 0x11: exception 6 (server device busy) responses sent.
    #[must_use]
    pub fn server_busy_count(&self) -> u16 {
        self.busy
    }

    /// Sub-function 0x12: character overruns. Always 0: TCP's flow control
    /// keeps bytes from arriving faster than the engine stores them.
    #[must_use]
    pub fn bus_character_overrun_count(&self) -> u16 {
        0
    }

    /// Function 0x0B: normal responses sent, except to function 0x0B.
    ///
    /// A request counts as it arrives and is taken back if it is not
    /// answered normally, so a handler that reads this while serving a
    /// request other than 0x0B sees that request counted.
    #[must_use]
    pub fn comm_event_count(&self) -> u16 {
        self.requests
            .wrapping_sub(self.exceptions)
            .wrapping_sub(self.no_response)
            .wrapping_sub(self.refused_silently)
            .wrapping_sub(self.event_counter_reads)
    }

    /// The counter a sub-function (0x0B..=0x12) returns; `None` for the
    /// other sub-functions.
    #[must_use]
    pub fn counter(&self, sub_function: u16) -> Option<u16> {
        Some(match sub_function {
            RETURN_BUS_MESSAGE_COUNT => self.bus_message_count(),
            RETURN_BUS_COMMUNICATION_ERROR_COUNT => self.bus_communication_error_count(),
            RETURN_BUS_EXCEPTION_ERROR_COUNT => self.bus_exception_error_count(),
            RETURN_SERVER_MESSAGE_COUNT => self.server_message_count(),
            RETURN_SERVER_NO_RESPONSE_COUNT => self.server_no_response_count(),
            RETURN_SERVER_NAK_COUNT => self.server_nak_count(),
            RETURN_SERVER_BUSY_COUNT => self.server_busy_count(),
            RETURN_BUS_CHARACTER_OVERRUN_COUNT => self.bus_character_overrun_count(),
            _ => return None,
        })
    }

    /// The standard answer to diagnostics (function 0x08) sub-function
    /// `sub_function` with request data `data`: what
    /// [`DataHandler::diagnostics`](crate::DataHandler::diagnostics) does by
    /// default.
    ///
    /// 0x00 echoes any data; 0x01 (data 0x0000 or 0xFF00) and 0x0A (data
    /// 0x0000) clear the counters and echo; 0x0B..=0x12 (data 0x0000)
    /// return a counter.
    ///
    /// # Errors
    /// Exception 1 for any other sub-function (0x04 listen only mode
    /// included: see the [module documentation](crate::diagnostics)),
    /// exception 3 for other data.
    pub fn diagnostics(
        &mut self,
        sub_function: u16,
        data: &[u8],
    ) -> Result<DiagnosticsData, ExceptionCode> {
        let data_is = |allowed: &[[u8; 2]]| {
            if allowed.iter().any(|a| a[..] == *data) {
                Ok(())
            } else {
                Err(ExceptionCode::IllegalDataValue)
            }
        };
        match sub_function {
            RETURN_QUERY_DATA => Ok(DiagnosticsData::Echo),
            RESTART_COMMUNICATIONS_OPTION => {
                // There is no event log (function 0x0C) to keep or clear.
                data_is(&[ZERO_DATA, CLEAR_LOG_DATA])?;
                self.clear();
                Ok(DiagnosticsData::Echo)
            }
            CLEAR_COUNTERS_AND_DIAGNOSTIC_REGISTER => {
                data_is(&[ZERO_DATA])?;
                self.clear();
                Ok(DiagnosticsData::Echo)
            }
            _ => {
                let count = self
                    .counter(sub_function)
                    .ok_or(ExceptionCode::IllegalFunction)?;
                data_is(&[ZERO_DATA])?;
                Ok(DiagnosticsData::Word(count))
            }
        }
    }

    /// Counts a frame discarded for its CRC (sub-function 0x0C).
    pub(crate) fn count_communication_error(&mut self) {
        self.crc_errors = self.crc_errors.wrapping_add(1);
    }

    /// Counts a request on arrival (every request, served or not);
    /// `fetch`: it is function 0x0B, which is no comm event when answered
    /// (so the count it reads leaves it out).
    #[inline]
    pub(crate) fn count_request(&mut self, fetch: bool) {
        self.cleared = false;
        self.requests = self.requests.wrapping_add(1);
        self.event_counter_reads = self.event_counter_reads.wrapping_add(u16::from(fetch));
    }

    /// Counts the reply to the request last counted by `count_request`
    /// when it is anything but a normal response (those need nothing more),
    /// unless `clear` was called in between; `fetch` as for `count_request`.
    #[cold]
    pub(crate) fn count_other_reply(&mut self, outcome: Outcome, fetch: bool) {
        if core::mem::take(&mut self.cleared) {
            return;
        }
        let add = |counter: &mut u16| *counter = counter.wrapping_add(1);
        // Counted below as what it was instead.
        self.event_counter_reads = self.event_counter_reads.wrapping_sub(u16::from(fetch));
        match outcome {
            Outcome::Exception { code, served } => {
                add(&mut self.exceptions);
                match code {
                    BUSY => add(&mut self.busy),
                    NAK => add(&mut self.nak),
                    _ => {}
                }
                if !served {
                    add(&mut self.refused);
                }
            }
            Outcome::NoResponse { served: true } => add(&mut self.no_response),
            Outcome::NoResponse { served: false } => {
                add(&mut self.refused);
                add(&mut self.refused_silently);
            }
        }
    }
}

/// How a request was answered when it was not a normal response, for
/// [`CommCounters::count_other_reply`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// An exception response with this code; `served`: the unit filter
    /// serves the unit id.
    Exception { code: u8, served: bool },
    /// Nothing sent; `served` as above.
    NoResponse { served: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_wrap_and_clear() {
        let mut c = CommCounters::new();
        c.requests = u16::MAX;
        c.count_request(false);
        assert_eq!((c.bus_message_count(), c.server_message_count()), (0, 0));
        for (code, served) in [(BUSY, true), (NAK, true), (2, true), (0x0B, false)] {
            c.count_request(false);
            c.count_other_reply(Outcome::Exception { code, served }, false);
        }
        assert_eq!(
            (
                c.bus_exception_error_count(),
                c.server_busy_count(),
                c.server_nak_count(),
                c.server_message_count()
            ),
            (4, 1, 1, 3)
        );
        c.count_request(false);
        c.count_other_reply(Outcome::NoResponse { served: false }, false);
        c.count_request(false);
        c.count_other_reply(Outcome::NoResponse { served: true }, false);
        c.count_request(false); // a normal response
        c.count_request(true); // a normal response to FC 11
        assert_eq!(c.comm_event_count(), 1, "FC 11 leaves itself out");
        c.count_request(true); // FC 11 refused
        c.count_other_reply(
            Outcome::Exception {
                code: 0x0B,
                served: false,
            },
            true,
        );
        assert_eq!(
            (
                c.bus_message_count(),
                c.server_message_count(),
                c.server_no_response_count(),
                c.comm_event_count()
            ),
            (9, 6, 1, 1),
            "0xFFFF + 1 wrapped to 0, then 9 requests"
        );
        assert_eq!(c.bus_exception_error_count(), 5);
        // A clear during a request: that request's reply is not counted.
        c.count_request(false);
        c.clear();
        c.count_other_reply(
            Outcome::Exception {
                code: 2,
                served: true,
            },
            false,
        );
        assert_eq!(c, CommCounters::new());
        c.count_request(false);
        assert_eq!(c.comm_event_count(), 1);
        // Cleared by the application between requests: equal to new.
        c.clear();
        assert_eq!(c, CommCounters::new());
    }

    #[test]
    fn sub_function_rules() {
        let mut c = CommCounters::new();
        c.count_request(false);
        assert_eq!(
            c.diagnostics(RETURN_QUERY_DATA, &[1, 2, 3]),
            Ok(DiagnosticsData::Echo)
        );
        assert_eq!(
            c.diagnostics(RETURN_BUS_MESSAGE_COUNT, &[0, 0]),
            Ok(DiagnosticsData::Word(1))
        );
        for sub in [0x0C, 0x12] {
            assert_eq!(c.diagnostics(sub, &[0, 0]), Ok(DiagnosticsData::Word(0)));
        }
        for data in [&[0, 1][..], &[], &[0], &[0, 0, 0]] {
            assert_eq!(
                c.diagnostics(RETURN_BUS_MESSAGE_COUNT, data),
                Err(ExceptionCode::IllegalDataValue)
            );
            assert_eq!(
                c.diagnostics(CLEAR_COUNTERS_AND_DIAGNOSTIC_REGISTER, data),
                Err(ExceptionCode::IllegalDataValue)
            );
        }
        assert_eq!(
            c.diagnostics(RESTART_COMMUNICATIONS_OPTION, &[0xFF, 0x01]),
            Err(ExceptionCode::IllegalDataValue)
        );
        assert_eq!(c.bus_message_count(), 1, "refused requests clear nothing");
        for sub in [0x02, 0x03, 0x04, 0x05, 0x09, 0x13, 0x14, 0x15, 0xFFFF] {
            assert_eq!(
                c.diagnostics(sub, &[0, 0]),
                Err(ExceptionCode::IllegalFunction),
                "{sub:#x}"
            );
        }
        assert_eq!(
            c.diagnostics(RESTART_COMMUNICATIONS_OPTION, &CLEAR_LOG_DATA),
            Ok(DiagnosticsData::Echo)
        );
        assert_eq!(c.bus_message_count(), 0);
    }
}
