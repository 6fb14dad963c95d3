//! The spec's `ModbusServer` on async-std (feature `async-std`).
//!
//! async-std is discontinued upstream in favour of smol; this adapter stays
//! because users asked for it. New projects: prefer `runtimes::smol`.
//!
//! ```no_run
//! use modbus_server::runtimes::async_std::ModbusServer;
//! use modbus_server::runtimes::ServerConfig;
//! use modbus_server::{DataBank, Service};
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

/// The spec's `ModbusServer` on async-std.
pub type ModbusServer<S = crate::HeapStorage, H = crate::DefaultHandler, C = crate::NoCallbacks> =
    super::server::ModbusServer<AsyncStd, S, H, C>;

impl Runtime for AsyncStd {
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
