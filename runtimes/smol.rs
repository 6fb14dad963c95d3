//! The spec's `ModbusServer` on smol (feature `smol`).
//!
//! Connections run on an executor of this module with one thread per
//! available core but one (at least one): the remaining core drives the
//! I/O reactor (async-io's thread) and the application. Measured on 2 cores
//! with the load on the same machine, one executor thread reaches 0.9-1.1x
//! the echo limit where two threads, fighting over the cores, reached
//! 0.8-0.9x (`benches/load`). smol's own global executor is not used: its
//! thread count is fixed by `SMOL_THREADS` before its first use, which a
//! library cannot rely on. This executor follows the same convention:
//! `SMOL_THREADS`, if set when the first server starts, is its thread count.
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
use std::sync::OnceLock;

use super::server::Runtime;

/// The smol [`Runtime`]: its executor and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The spec's `ModbusServer` on smol.
pub type ModbusServer<S = crate::HeapStorage, H = crate::DefaultHandler, C = crate::NoCallbacks> =
    super::server::ModbusServer<Smol, S, H, C>;

impl Runtime for Smol {
    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        executor().spawn(future).detach();
    }

    async fn sleep_until(deadline: std::time::Instant) {
        smol::Timer::at(deadline).await;
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        smol::block_on(future)
    }
}

/// The executor connections run on, started at first use and kept for the
/// life of the process: `SMOL_THREADS` threads if that is set (smol's own
/// convention for its global executor), else [`recommended_threads`].
///
/// [`recommended_threads`]: super::recommended_threads
fn executor() -> &'static smol::Executor<'static> {
    static EXECUTOR: OnceLock<smol::Executor<'static>> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let threads = std::env::var("SMOL_THREADS")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(super::recommended_threads);
        for i in 0..threads {
            // A thread that cannot start leaves the others to do the work.
            let _ = std::thread::Builder::new()
                .name(std::format!("modbus-smol-{i}"))
                .spawn(|| smol::block_on(executor().run(core::future::pending::<()>())));
        }
        smol::Executor::new()
    })
}
