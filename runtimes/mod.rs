//! Thin adapters that drive [`Engine`](crate::Engine)s over sockets, chosen
//! by feature flag. No protocol logic lives here: the engine decides, the
//! adapters move bytes and keep time.
//!
//! - [`io`]: the one connection driver, over `embedded_io_async::{Read, Write}`.
//! - [`embedded_io`] (feature `embedded-io`): serve one socket of an embedded
//!   TCP/IP stack (embassy-net's `TcpSocket`, ...), no_std, no heap.
//! - [`embassy`] (feature `embassy`): embassy-time clock, embassy-sync
//!   sharing and `serve` for embassy firmware.
//! - `tokio` / `smol` / `async_std` (features `tokio` / `smol` /
//!   `async-std`): pyModbusTCP's `ModbusServer` on a desktop runtime, named
//!   `tokio::ModbusServer`, `smol::ModbusServer` / `async_std::ModbusServer`,
//!   with the configuration, errors and events here.

pub mod io;

// Modbus RTU: the port driver over embedded-io-async.
#[cfg(feature = "rtu")]
pub mod rtu;
// A Unix serial port for RTU on desktops.
#[cfg(all(feature = "serial", unix))]
pub mod serial;

#[cfg(feature = "embedded-io")]
pub mod embedded_io;

#[cfg(feature = "embassy")]
pub mod embassy;

#[cfg(feature = "_desktop")]
mod server;
#[cfg(feature = "_desktop")]
pub use server::{
    recommended_threads, ConnectionEvent, DisconnectReason, LimitPolicy, ModbusServer, Runtime,
    ServerConfig, ServerError, ServerListener, ServerStream, TcpFraming,
};

/// Modbus/TCP Security (feature `tls`): TLS with mutual authentication
/// on the desktop server.
#[cfg(feature = "tls")]
pub use server::tls;

#[cfg(feature = "async-std")]
pub mod async_std;
#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "tokio")]
pub mod tokio;
