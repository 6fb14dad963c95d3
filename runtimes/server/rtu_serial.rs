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
    /// connections, whether or not the TCP server runs. Frames end after
    /// t3.5 of silence at the port's rate. Runs until the port fails (a
    /// device unplugged, the other end of a PTY closed), and returns that
    /// error; drop the future to stop earlier.
    ///
    /// The line is served on a thread of its own, on async-io's executor
    /// (whose reactor waits on the port and keeps its timers on every
    /// runtime): the end of a frame then does not wait for the caller's
    /// executor, and under a tokio runtime the port's task was seen to
    /// busy-poll (`benches/rtu_turnaround.rs`). The returned future only
    /// waits for that thread.
    pub async fn serve_rtu(&self, port: SerialPort, address: u8) -> io::Error {
        let (abort, registration) = futures::future::AbortHandle::new_pair();
        let (done, result) = futures::channel::oneshot::channel();
        let server = self.clone();
        let spawned = std::thread::Builder::new()
            .name("modbus-rtu".into())
            .spawn(move || {
                let line =
                    futures::future::Abortable::new(server.serve_line(port, address), registration);
                if let Ok(error) = async_io::block_on(line) {
                    let _ = done.send(error);
                }
            });
        if let Err(e) = spawned {
            return e;
        }
        // Dropping this future stops the line's thread.
        let _stop = AbortOnDrop(abort);
        result
            .await
            .unwrap_or_else(|_| io::Error::other("the serial line's thread ended"))
    }

    /// Serves the line in the calling task until the port fails.
    async fn serve_line(&self, port: SerialPort, address: u8) -> io::Error {
        let config = RtuConfig::serial(address, port.line().baud);
        let clock = SerialClock;
        // Boxed: 1 KiB of buffers, kept off the thread's stack.
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

/// Aborts the serial line's thread when the `serve_rtu` future is dropped.
struct AbortOnDrop(futures::future::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
