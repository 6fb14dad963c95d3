//! The spec's `ModbusServer` on smol (feature `smol`).
//!
//! Connections run on smol's global executor (`SMOL_THREADS` sets its
//! thread count).
//!
//! ```no_run
//! use modbus_server::runtimes::smol::ModbusServer;
//! use modbus_server::runtimes::ServerConfig;
//! use modbus_server::{DataBank, Service};
//!
//! let config = ServerConfig { host: "::1".into(), port: 1502, no_block: true, ..Default::default() };
//! let server = ModbusServer::new(config, Service::new(DataBank::default()));
//! server.start()?;
//! println!("listening on {:?}", server.local_addr());
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};

use super::server::Runtime;

/// The smol [`Runtime`]: its global executor, listener and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The spec's `ModbusServer` on smol.
pub type ModbusServer<S = crate::HeapStorage, H = crate::DefaultHandler, C = crate::NoCallbacks> =
    super::server::ModbusServer<Smol, S, H, C>;

impl Runtime for Smol {
    type Listener = smol::net::TcpListener;
    type Stream = smol::net::TcpStream;

    fn listener(listener: std::net::TcpListener) -> io::Result<Self::Listener> {
        smol::net::TcpListener::try_from(listener)
    }

    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        listener.accept()
    }

    fn set_nodelay(stream: &Self::Stream, on: bool) -> io::Result<()> {
        stream.set_nodelay(on)
    }

    fn shutdown(stream: &Self::Stream) {
        let _ = stream.shutdown(Shutdown::Both);
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(future).detach();
    }

    async fn sleep_until(deadline: std::time::Instant) {
        smol::Timer::at(deadline).await;
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        smol::block_on(future)
    }
}
