//! pyModbusTCP's `ModbusServer` on async-std (feature `async-std`).
//!
//! async-std is discontinued upstream in favour of smol; this adapter stays
//! because users asked for it. New projects: prefer `runtimes::smol`.
//!
//! ```no_run
//! use modbus_device::runtimes::async_std::ModbusServer;
//! use modbus_device::runtimes::ServerConfig;
//! use modbus_device::{DataBank, Service};
//!
//! let config = ServerConfig { host: "127.0.0.1".into(), port: 1502, no_block: true, ..Default::default() };
//! let server = ModbusServer::new(config, Service::new(DataBank::default()));
//! server.start()?;
//! server.with_data_bank(|bank| bank.set_input_registers(0, &[215, 42, 1013]))?;
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::future::Future;

use super::server::Runtime;

/// The async-std [`Runtime`]: its global executor and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

/// pyModbusTCP's `ModbusServer` on async-std: the path to name it by.
pub type ModbusServer<B = crate::DataBank<crate::HeapStorage>, H = crate::DefaultHandler> =
    super::server::ModbusServer<AsyncStd, B, H>;

impl Runtime for AsyncStd {
    /// async-io's listener, shared with the other async-io runtime.
    type Listener = async_io::Async<std::net::TcpListener>;

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        async_std::task::spawn(future);
    }

    fn sleep_until(deadline: std::time::Instant) -> impl Future<Output = ()> + Send {
        async_std::task::sleep(deadline.saturating_duration_since(std::time::Instant::now()))
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        async_std::task::block_on(future)
    }
}

impl<B, H> super::server::ModbusServer<AsyncStd, B, H>
where
    B: crate::Banks + Send + 'static,
    H: crate::DataHandler + Send + 'static,
{
    /// Serves one connection that the application accepted itself (behind
    /// its own listener, proxy or TLS acceptor), in the caller's task,
    /// until it ends; returns why. `stream` is any `futures::io`
    /// `AsyncRead + AsyncWrite` stream; `client` is the address it counts
    /// under for the per-address limit and in events. It shares the
    /// service, limits, events and `stop()` with the connections the
    /// server accepts; see the tokio adapter's `serve_connection` for the
    /// details, which are the same.
    pub async fn serve_connection<S>(
        &self,
        stream: S,
        client: std::net::SocketAddr,
    ) -> super::DisconnectReason
    where
        S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin,
    {
        self.serve_io(stream, client).await
    }
}
