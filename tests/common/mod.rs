//! Helpers shared by the core's integration tests: hex vectors, an
//! in-memory connection on virtual time, and a change-callback recorder.
//!
//! Each test crate uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod exceptions;
pub mod requests;

use std::net::SocketAddr;

use modbus_device::{
    ChangeCallbacks, CloseReason, Engine, EngineConfig, Instant, Respond, SessionInfo, Shared,
};

/// The behaviour tests' server: default heap tables behind a mutex.
pub type Server =
    std::sync::Mutex<modbus_device::Service<modbus_device::DataBank<modbus_device::HeapStorage>>>;

/// A [`Server`] with default tables (0x10000 entries each, all 0).
pub fn server() -> Server {
    std::sync::Mutex::new(modbus_device::Service::new(
        modbus_device::DataBank::default(),
    ))
}

/// Sends one segment (spaced hex) on a fresh connection and returns what
/// came back; the connection must stay open.
#[track_caller]
pub fn ask<X>(shared: &X, request: &str) -> Vec<u8>
where
    X: Shared + ?Sized,
    X::Target: Respond,
{
    let (sent, closed) = exchange(shared, &hex(request));
    assert_eq!(closed, None, "the connection must stay open");
    sent
}

/// Bytes from hex written with spaces between fields: `"00 01  00 00 00 06 01  03 00 00 00 02"`.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len() % 2 == 0,
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?} in {text:?}"))
        })
        .collect()
}

/// The client address the test connections claim to come from.
pub fn client_addr() -> SocketAddr {
    "192.0.2.7:50123".parse().expect("valid address")
}

/// Upper bound on `poll_output` calls per drain: far more than any test needs,
/// so a drain that never ends fails instead of hanging.
const MAX_POLLS: usize = 10_000;

/// One in-memory connection: an engine plus the bytes it has sent so far.
pub struct Conn<const IN: usize, const OUT: usize> {
    pub engine: Engine<IN, OUT>,
    /// Every response byte written, in order.
    pub sent: Vec<u8>,
    /// How many non-empty writes (`poll_output` results) there were.
    pub writes: usize,
    /// Set once the engine asked to close the connection.
    pub closed: Option<CloseReason>,
}

impl<const IN: usize, const OUT: usize> Conn<IN, OUT> {
    pub fn new(config: EngineConfig) -> Self {
        Conn {
            engine: Engine::new(config, Some(client_addr()), Instant::ZERO),
            sent: Vec::new(),
            writes: 0,
            closed: None,
        }
    }

    /// Delivers `bytes` as one TCP segment at `now` (in as many reads as the
    /// input buffer needs), draining the output after every read as the
    /// engine's contract says. Stops at a close.
    pub fn feed<X>(&mut self, shared: &X, bytes: &[u8], now: Instant)
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        let mut rest = bytes;
        while !rest.is_empty() && self.closed.is_none() {
            let space = self.engine.input_buffer();
            assert!(
                !space.is_empty(),
                "input buffer full after a complete drain"
            );
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            self.engine.handle_input(n, now);
            rest = &rest[n..];
            self.drain(shared);
        }
    }

    /// Calls `poll_output` until it returns nothing, collecting the output.
    pub fn drain<X>(&mut self, shared: &X)
    where
        X: Shared + ?Sized,
        X::Target: Respond,
    {
        for _ in 0..MAX_POLLS {
            if self.closed.is_some() {
                return;
            }
            match self.engine.poll_output(shared) {
                Ok([]) => return,
                Ok(out) => {
                    self.sent.extend_from_slice(out);
                    self.writes += 1;
                }
                Err(reason) => self.closed = Some(reason),
            }
        }
        panic!("poll_output did not run dry after {MAX_POLLS} calls");
    }

    /// Takes the bytes sent so far.
    pub fn take_sent(&mut self) -> Vec<u8> {
        self.writes = 0;
        std::mem::take(&mut self.sent)
    }
}

/// A default-sized connection with the default timeouts.
pub type DefaultConn = Conn<1024, 2048>;

/// Sends `request` on a fresh connection and returns everything sent back
/// (and whether the engine closed).
pub fn exchange<X>(shared: &X, request: &[u8]) -> (Vec<u8>, Option<CloseReason>)
where
    X: Shared + ?Sized,
    X::Target: Respond,
{
    let mut conn = DefaultConn::new(EngineConfig::default());
    conn.feed(shared, request, Instant::ZERO);
    (conn.sent, conn.closed)
}

/// One change callback call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Coils {
        address: u16,
        from: Vec<bool>,
        to: Vec<bool>,
        session: SessionInfo<'static>,
    },
    Registers {
        address: u16,
        from: Vec<u16>,
        to: Vec<u16>,
        session: SessionInfo<'static>,
    },
}

/// Records every change callback.
#[derive(Debug, Default)]
pub struct Recorder(pub Vec<Change>);

impl ChangeCallbacks for Recorder {
    fn on_coils_change(&mut self, address: u16, from: &[bool], to: &[bool], srv: &SessionInfo) {
        self.0.push(Change::Coils {
            address,
            from: from.to_vec(),
            to: to.to_vec(),
            session: srv.detached(),
        });
    }

    fn on_holding_registers_change(
        &mut self,
        address: u16,
        from: &[u16],
        to: &[u16],
        srv: &SessionInfo,
    ) {
        self.0.push(Change::Registers {
            address,
            from: from.to_vec(),
            to: to.to_vec(),
            session: srv.detached(),
        });
    }
}

/// Bytes as spaced hex, for failure messages.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that `actual` is the bytes written in `expected` (spaced hex).
#[track_caller]
pub fn assert_hex(actual: &[u8], expected: &str) {
    let expected = hex(expected);
    assert!(
        actual == expected.as_slice(),
        "\n  actual:   {}\n  expected: {}",
        to_hex(actual),
        to_hex(&expected)
    );
}
