//! The RTU port driver (features `rtu` and an I/O runtime): a
//! [`RtuEngine`] over any `embedded_io_async::{Read, Write}` byte stream, a
//! UART or a TCP connection, and a [`Clock`]. no_std, no heap.
//!
//! As [`io`](super::io) does for TCP, the driver keeps no deadline of its
//! own: it waits for bytes or the engine's [`poll_timeout`]
//! (on a serial line, the t3.5 end of a frame), stamps each read with the
//! clock, and writes each response with one `write_all`. On an RS-485
//! line a [`Direction`] (the transceiver's driver-enable pin, [`Rs485`]) is
//! raised before the first byte of a response and released once the UART
//! has flushed its last one.
//!
//! [`poll_timeout`]: RtuEngine::poll_timeout

use core::pin::pin;

use embedded_io_async::{Read, Write};
use futures::future::{select, Either};

use super::io::{yield_now, Clock, ConnectionEnd, FAIRNESS_BUDGET};
use crate::rtu::RtuEngine;
use crate::service::Respond;
use crate::shared::Shared;

/// Switches a half-duplex transceiver between receiving and transmitting.
pub trait Direction {
    /// Whether the line is driven around each response: the driver then
    /// flushes the port after each response (waits until its last byte
    /// left) before [`receive`](Self::receive).
    const DRIVES_LINE: bool;

    /// Before the first byte of a response.
    fn transmit(&mut self);

    /// After the last byte of a response has left the port.
    fn receive(&mut self);
}

/// No direction control (RS-232, a transceiver with automatic direction,
/// a TCP stream).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirection;

impl Direction for NoDirection {
    const DRIVES_LINE: bool = false;

    fn transmit(&mut self) {}

    fn receive(&mut self) {}
}

/// An RS-485 transceiver's driver-enable pin (DE, with /RE tied to it):
/// high while transmitting (feature `embedded-hal`).
///
/// A pin that fails to switch is a hardware fault that no retry mends;
/// its error is ignored (most HALs' GPIO errors are `Infallible`).
#[cfg(feature = "embedded-hal")]
#[derive(Debug)]
pub struct Rs485<P>(pub P);

#[cfg(feature = "embedded-hal")]
impl<P: embedded_hal::digital::OutputPin> Direction for Rs485<P> {
    const DRIVES_LINE: bool = true;

    fn transmit(&mut self) {
        let _ = self.0.set_high();
    }

    fn receive(&mut self) {
        let _ = self.0.set_low();
    }
}

/// Serves one RTU port until it ends, and says why: a serial line runs
/// until its port fails; an RTU-over-TCP connection until its client
/// closes it or it idles out ([`RtuConfig::idle_timeout`]).
///
/// `engine` is borrowed, so firmware can keep it in a static.
///
/// [`RtuConfig::idle_timeout`]: crate::rtu::RtuConfig::idle_timeout
pub async fn serve_rtu<IO, X, C, D>(
    io: &mut IO,
    shared: &X,
    clock: &C,
    engine: &mut RtuEngine,
    direction: &mut D,
) -> ConnectionEnd<IO::Error>
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
    D: Direction,
{
    // An RTU-over-TCP client that pipelines frames as fast as they are
    // answered must not keep its executor thread's other connections
    // waiting: the TCP driver's budget (`runtimes/io.rs`). A serial line at
    // 115,200 baud reads it in 0.7 s.
    let mut budget = FAIRNESS_BUDGET;
    loop {
        // Each turn answers one frame: bounded by the input.
        while !engine.poll_output(shared).is_empty() {
            let deadline = engine.poll_timeout();
            direction.transmit();
            let written = send(io, engine.pending_output(), D::DRIVES_LINE);
            let outcome = match deadline {
                Some(at) => match select(pin!(written), pin!(clock.sleep_until(at))).await {
                    Either::Left((result, _)) => Some(result),
                    Either::Right(((), _)) => None,
                },
                None => Some(written.await),
            };
            direction.receive();
            match outcome {
                Some(Ok(())) => engine.handle_output_written(clock.now()),
                Some(Err(e)) => return ConnectionEnd::Io(e),
                // The stream stopped taking the response: its write stalled.
                None => {
                    if let Err(reason) = engine.handle_timeout(clock.now()) {
                        return ConnectionEnd::Closed(reason);
                    }
                }
            }
        }
        let deadline = engine.poll_timeout();
        let read = io.read(engine.input_buffer());
        let woke = match deadline {
            Some(at) => match select(pin!(read), pin!(clock.sleep_until(at))).await {
                Either::Left((result, _)) => Some(result),
                Either::Right(((), _)) => None,
            },
            None => Some(read.await),
        };
        match woke {
            Some(Ok(0)) => return ConnectionEnd::PeerClosed,
            Some(Ok(n)) => {
                engine.handle_input(n, clock.now());
                budget = budget.saturating_sub(n);
                if budget == 0 {
                    budget = FAIRNESS_BUDGET;
                    yield_now().await;
                }
            }
            Some(Err(e)) => {
                // A UART's character error: the frame in progress lost one.
                engine.handle_line_error(clock.now());
                return ConnectionEnd::Io(e);
            }
            None => {
                if let Err(reason) = engine.handle_timeout(clock.now()) {
                    return ConnectionEnd::Closed(reason);
                }
            }
        }
    }
}

/// Writes `bytes`, and waits for them to leave the port if `flush`.
async fn send<IO: Write>(io: &mut IO, bytes: &[u8], flush: bool) -> Result<(), IO::Error> {
    io.write_all(bytes).await?;
    if flush {
        io.flush().await?;
    }
    Ok(())
}

/// Serves a serial line on `uart` (a UART's embedded-io-async driver) as
/// `engine` says ([`RtuConfig::serial`]) until the UART reports an error,
/// and returns it. no_std, no heap: the engine is the caller's (a
/// `static`, or a local of the task). A character error (framing, parity,
/// overrun) has discarded the frame in progress: call again with the same
/// engine to go on serving the line.
///
/// `direction` is [`NoDirection`], or [`Rs485`] with the transceiver's
/// driver-enable pin (feature `embedded-hal`): raised before each response
/// and released after the UART's `flush` (which, on embassy's buffered
/// UARTs, returns once the last stop bit left), so the line is free for
/// the next request. Tie the receiver-enable (/RE) to DE, or the UART
/// hears its own responses.
///
/// ```no_run
/// # async fn firmware<U: embedded_io_async::Read + embedded_io_async::Write, C: modbus_device::runtimes::io::Clock>(mut uart: U, clock: C) {
/// use core::cell::RefCell;
/// use modbus_device::rtu::{RtuConfig, RtuEngine};
/// use modbus_device::runtimes::rtu::{serve_uart, NoDirection};
/// use modbus_device::{DataBank, FixedStorage, Service};
///
/// let service = RefCell::new(Service::new(DataBank::new(FixedStorage::<8, 8, 64, 64>::new())));
/// let mut engine = RtuEngine::new(RtuConfig::serial(1, 19_200), None, clock.now());
/// loop {
///     let _error = serve_uart(&mut uart, &service, &clock, &mut engine, &mut NoDirection).await;
/// }
/// # }
/// ```
///
/// [`RtuConfig::serial`]: crate::rtu::RtuConfig::serial
pub async fn serve_uart<U, X, C, D>(
    uart: &mut U,
    shared: &X,
    clock: &C,
    engine: &mut RtuEngine,
    direction: &mut D,
) -> U::Error
where
    U: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
    D: Direction,
{
    loop {
        match serve_rtu(uart, shared, clock, engine, direction).await {
            ConnectionEnd::Io(e) => return e,
            // A read of 0 bytes (a driver with nothing to say) or an idle
            // timeout the caller configured: the line is still there. Wait
            // a moment, so that a driver that keeps returning 0 does not
            // make this task spin.
            _ => clock.sleep_until(clock.now() + LINE_RETRY).await,
        }
    }
}

/// How long [`serve_uart`] waits after a read that returned nothing.
const LINE_RETRY: core::time::Duration = core::time::Duration::from_millis(1);

#[cfg(test)]
mod tests;
