//! pyModbusTCP's `ModbusServer` on smol (feature `smol`).
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
//! If not one of its threads can be spawned, `start()` fails with
//! [`ServerError::Runtime`] rather than accept connections nothing serves.
//!
//! ```no_run
//! use modbus_device::runtimes::smol::ModbusServer;
//! use modbus_device::runtimes::ServerConfig;
//! use modbus_device::{DataBank, Service};
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
use std::sync::{Mutex, PoisonError};

use super::server::Runtime;
use super::ServerError;

/// The smol [`Runtime`]: its executor and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// pyModbusTCP's `ModbusServer` on smol: the path to name it by.
pub type ModbusServer<B = crate::DataBank<crate::HeapStorage>, H = crate::DefaultHandler> =
    super::server::ModbusServer<Smol, B, H>;

/// The executor connections run on. Tasks spawned before a thread runs it
/// would wait forever: `start()` calls [`Smol::prepare`] first.
static EXECUTOR: smol::Executor<'static> = smol::Executor::new();

/// Executor threads started: 0 until a `start()` has started one. Locked
/// while starting them, so concurrent starts spawn one set.
static THREADS: Mutex<usize> = Mutex::new(0);

impl Runtime for Smol {
    /// async-io's listener, shared with the other async-io runtime.
    type Listener = async_io::Async<std::net::TcpListener>;

    /// Starts the executor threads at the first `start()`, and again at a
    /// later one if none could be started: `SMOL_THREADS` threads if that
    /// is set (smol's own convention for its global executor), else
    /// [`recommended_threads`](super::recommended_threads). They live as
    /// long as the process.
    fn prepare() -> Result<(), ServerError> {
        let mut threads = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
        if *threads == 0 {
            *threads = start_threads(thread_count(), |i| {
                std::thread::Builder::new()
                    .name(std::format!("modbus-smol-{i}"))
                    .spawn(|| smol::block_on(EXECUTOR.run(core::future::pending::<()>())))
                    .map(drop)
            })?;
        }
        Ok(())
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        EXECUTOR.spawn(future).detach();
    }

    async fn sleep_until(deadline: std::time::Instant) {
        smol::Timer::at(deadline).await;
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        smol::block_on(future)
    }
}

/// `SMOL_THREADS` if set to a positive number, else the recommendation.
fn thread_count() -> usize {
    std::env::var("SMOL_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(super::recommended_threads)
}

/// Calls `spawn` for threads `0..count` (at least one) and returns how
/// many started. Threads that cannot start leave the others to do the
/// work; with none, nothing would serve connections: an error.
fn start_threads(
    count: usize,
    mut spawn: impl FnMut(usize) -> io::Result<()>,
) -> Result<usize, ServerError> {
    let mut started = 0;
    let mut first_error = None;
    for i in 0..count.max(1) {
        match spawn(i) {
            Ok(()) => started += 1,
            Err(e) => {
                warn!(
                    "modbus server: cannot spawn smol executor thread {}: {}",
                    i, e
                );
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(source) if started == 0 => Err(ServerError::Runtime {
            what: "no smol executor thread could be spawned",
            source,
        }),
        _ => Ok(started),
    }
}

impl<B, H> super::server::ModbusServer<Smol, B, H>
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> io::Error {
        io::Error::new(io::ErrorKind::WouldBlock, "thread limit reached")
    }

    #[test]
    fn no_thread_started_is_an_error_that_says_so() {
        let mut tried = 0;
        let result = start_threads(3, |_| {
            tried += 1;
            Err(refused())
        });
        assert_eq!(tried, 3, "every thread is tried");
        match result {
            Err(ServerError::Runtime { what, source }) => {
                assert!(what.contains("executor thread"), "{what}");
                assert_eq!(source.kind(), io::ErrorKind::WouldBlock);
            }
            other => panic!("expected ServerError::Runtime, got {other:?}"),
        }
    }

    #[test]
    fn some_threads_started_is_enough() {
        let result = start_threads(3, |i| if i == 1 { Ok(()) } else { Err(refused()) });
        assert_eq!(result.unwrap(), 1);
        assert_eq!(start_threads(2, |_| Ok(())).unwrap(), 2);
        // A count of 0 still starts one thread.
        assert_eq!(start_threads(0, |_| Ok(())).unwrap(), 1);
    }
}
