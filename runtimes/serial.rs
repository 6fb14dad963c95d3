//! A serial port for RTU on Unix desktops (feature `serial`): a tty in
//! raw mode at a chosen rate, parity and stop bits, read and written
//! without blocking through async-io's reactor, so it serves on any of the
//! desktop runtimes (`ModbusServer::serve_rtu`).
//!
//! Why rustix's termios and not a serial crate: rustix (Bytecode Alliance,
//! the system-call layer under async-io, so already in every desktop
//! build) sets the line up with `tcsetattr`, and async-io, the reactor of
//! the async-std and smol adapters, waits on the port's file descriptor
//! like on a socket. `serialport` blocks (one thread per port, and libudev
//! for port listing on Linux by default); `tokio-serial` (over mio-serial)
//! serves tokio only. Neither is needed to open one known device.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::fs::File;
use std::io;
use std::path::Path;

use async_io::Async;
use futures::io::{AsyncRead, AsyncWrite};
use rustix::fs::{Mode, OFlags};
use rustix::termios::{
    tcflush, tcgetattr, tcsetattr, ControlModes, InputModes, OptionalActions, QueueSelector,
    SpecialCodeIndex,
};

/// The parity bit of each character. Modbus's default is even
/// ("Modbus over Serial Line V1.02", section 2.5.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Parity {
    /// No parity bit (use two stop bits, as the specification asks).
    None,
    /// Even parity (the Modbus default).
    #[default]
    Even,
    /// Odd parity.
    Odd,
}

/// Stop bits per character.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StopBits {
    /// One stop bit (with a parity bit).
    #[default]
    One,
    /// Two stop bits (without a parity bit).
    Two,
}

/// How the line is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineConfig {
    /// Bits per second. Default 19,200 (the Modbus default).
    pub baud: u32,
    /// Default even.
    pub parity: Parity,
    /// Default one.
    pub stop_bits: StopBits,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig {
            baud: 19_200,
            parity: Parity::Even,
            stop_bits: StopBits::One,
        }
    }
}

/// An open serial port in raw mode, 8 data bits, as [`LineConfig`] says.
#[derive(Debug)]
pub struct SerialPort {
    file: Async<File>,
    line: LineConfig,
}

impl SerialPort {
    /// Opens the tty at `path` (`/dev/ttyUSB0`, a PTY) and sets it up:
    /// raw mode, 8 data bits, `line`'s rate, parity and stop bits, the
    /// receiver on and modem lines ignored; what was buffered is dropped.
    ///
    /// # Errors
    ///
    /// The device cannot be opened, is not a tty, or refuses the settings
    /// (a rate it does not support).
    pub fn open(path: impl AsRef<Path>, line: LineConfig) -> io::Result<Self> {
        let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path.as_ref(), flags, Mode::empty())?;
        let mut termios = tcgetattr(&fd)?;
        termios.make_raw();
        let mut control = termios.control_modes;
        control.remove(
            ControlModes::CSIZE
                | ControlModes::PARENB
                | ControlModes::PARODD
                | ControlModes::CSTOPB,
        );
        control |= ControlModes::CS8 | ControlModes::CREAD | ControlModes::CLOCAL;
        match line.parity {
            Parity::None => {}
            Parity::Even => control |= ControlModes::PARENB,
            Parity::Odd => control |= ControlModes::PARENB | ControlModes::PARODD,
        }
        if line.stop_bits == StopBits::Two {
            control |= ControlModes::CSTOPB;
        }
        termios.control_modes = control;
        if line.parity != Parity::None {
            // Characters with a parity error are dropped by the driver: the
            // frame's CRC then fails, and the engine counts it.
            termios.input_modes |= InputModes::INPCK | InputModes::IGNPAR;
        }
        termios.special_codes[SpecialCodeIndex::VMIN] = 1;
        termios.special_codes[SpecialCodeIndex::VTIME] = 0;
        termios.set_speed(line.baud)?;
        tcsetattr(&fd, OptionalActions::Now, &termios)?;
        tcflush(&fd, QueueSelector::IOFlush)?;
        Ok(SerialPort {
            file: Async::new(File::from(fd))?,
            line,
        })
    }

    /// The line's settings.
    #[must_use]
    pub fn line(&self) -> LineConfig {
        self.line
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.file).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.file).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_close(cx)
    }
}
