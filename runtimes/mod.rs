//! Thin adapters that drive [`Engine`](crate::Engine)s over sockets, chosen
//! by feature flag. No protocol logic lives here: the engine decides, the
//! adapters move bytes and keep time.
//!
//! - [`io`]: the one connection driver, over `embedded_io_async::{Read, Write}`.
//! - [`embedded_io`] (feature `embedded-io`): serve one socket of an embedded
//!   TCP/IP stack (embassy-net's `TcpSocket`, ...), no_std, no heap.
//! - `async_std` / `smol` (features `async-std` / `smol`): the spec's
//!   `ModbusServer` on a desktop runtime.

pub mod io;

#[cfg(feature = "embedded-io")]
pub mod embedded_io;

#[cfg(feature = "_desktop")]
mod server;
#[cfg(feature = "_desktop")]
pub use server::{
    recommended_threads, ConnectionEvent, DisconnectReason, LimitPolicy, ModbusServer, Runtime,
    ServerConfig, ServerError,
};

#[cfg(feature = "async-std")]
pub mod async_std;
#[cfg(feature = "smol")]
pub mod smol;
