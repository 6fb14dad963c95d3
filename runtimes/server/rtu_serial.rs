//! `ModbusServer::serve_rtu`: the server's service on a serial line
//! (features `serial` and a desktop runtime), next to its TCP listener.

use std::io;

use embedded_io_adapters::futures_03::FromFutures;

use super::connection::now_micros;
use super::{ModbusServer, Runtime};
use crate::rtu::{RtuConfig, RtuEngine};
use crate::runtimes::io::{Clock, ConnectionEnd};
use crate::runtimes::rtu::{serve_rtu, NoDirection};
use crate::runtimes::serial::SerialPort;
use crate::{Banks, DataHandler};

impl<R, B, H> ModbusServer<R, B, H>
where
    R: Runtime,
    B: Banks + Send + 'static,
    H: DataHandler + Send + 'static,
{
    /// Serves Modbus RTU on `port` as server `address` (1..=247), with the
    /// same service (data bank, handler, counters) as the TCP
    /// connections, in the caller's task, whether or not the TCP server
    /// runs. Frames end after t3.5 of silence at the port's rate. Runs
    /// until the port fails (a device unplugged, the other end of a PTY
    /// closed), and returns that error; drop the future to stop earlier.
    pub async fn serve_rtu(&self, port: SerialPort, address: u8) -> io::Error {
        let config = RtuConfig::serial(address, port.line().baud);
        let clock = SerialClock;
        // Boxed: 1 KiB of buffers, kept off the caller's stack and future.
        let mut engine = std::boxed::Box::new(RtuEngine::new(config, None, clock.now()));
        let mut io = FromFutures::new(port);
        let shared = &*self.inner.service;
        match serve_rtu(&mut io, shared, &clock, &mut engine, &mut NoDirection).await {
            ConnectionEnd::Io(e) => e,
            ConnectionEnd::PeerClosed => io::Error::from(io::ErrorKind::UnexpectedEof),
            ConnectionEnd::Closed(reason) => io::Error::other(reason),
        }
    }
}

/// The serial line's clock: async-io's timers, whatever the runtime.
///
/// The end of a frame is a deadline 0.75 to 20 ms away that decides the
/// turnaround; tokio's timer wheel rounds it up to the next millisecond
/// (about 1.3 ms late at 115,200 baud, `benches/rtu_turnaround.rs`), while
/// async-io's timers (a timerfd) fire within tens of microseconds. The
/// port itself waits in async-io's reactor already, on every runtime.
struct SerialClock;

impl Clock for SerialClock {
    fn now(&self) -> crate::Instant {
        crate::Instant::from_micros(now_micros())
    }

    async fn sleep_until(&self, deadline: crate::Instant) {
        let wait = deadline.as_micros().saturating_sub(now_micros());
        async_io::Timer::after(std::time::Duration::from_micros(wait)).await;
    }
}
