//! Serve Modbus on one socket of an embedded TCP/IP stack: any
//! `embedded_io_async::{Read, Write}` stream, such as embassy-net's
//! `TcpSocket`. no_std, no heap.
//!
//! Several sockets (one task each) share one [`Service`](crate::Service)
//! through a [`Shared`] suited to the executor: a `RefCell` on a
//! single-threaded executor, or a critical-section mutex when interrupts or
//! other cores also touch the data (see [`CsShared`] with the
//! `critical-section` feature). The firmware updates the data bank from its
//! own tasks through the same `Shared`, so each request stays atomic.
//!
//! A socket task serves one connection at a time, then drops it and accepts
//! again. With embassy, `runtimes::embassy` (feature `embassy`) supplies
//! the clock and the sharing, and its `serve` takes embassy-net's
//! `remote_endpoint()` directly; on another stack, bring a [`Clock`]:
//!
//! ```no_run
//! use embedded_io_async::{Read, Write};
//! use modbus_device::runtimes::embedded_io::serve;
//! use modbus_device::runtimes::io::{Clock, ConnectionEnd};
//! use modbus_device::{EngineConfig, Respond, Shared};
//!
//! /// Call after the stack accepted a connection on `socket`; then abort the
//! /// socket (the connection is over) and accept again.
//! async fn serve_one<S, X, C>(socket: &mut S, service: &X, clock: &C)
//! where
//!     S: Read + Write,
//!     X: Shared,
//!     X::Target: Respond,
//!     C: Clock,
//! {
//!     match serve(socket, service, clock, EngineConfig::default(), None).await {
//!         ConnectionEnd::PeerClosed => {}    // the client closed
//!         ConnectionEnd::Closed(_reason) => {} // a timeout or a broken frame
//!         ConnectionEnd::Io(_error) => {}    // reset, ...
//!         _ => {}
//!     }
//! }
//! ```

use core::net::SocketAddr;

use embedded_io_async::{Read, Write};

use super::io::{serve_connection, Clock, ConnectionEnd};
use crate::engine::{Engine, EngineConfig, MIN_BUFFER};
use crate::service::Respond;
use crate::shared::Shared;

/// Input buffer of [`serve`]: one maximal request (pipelined requests that
/// do not fit wait in the socket's buffer).
pub const INPUT_BUFFER: usize = MIN_BUFFER;
/// Output buffer of [`serve`]: one maximal response.
pub const OUTPUT_BUFFER: usize = MIN_BUFFER;

/// Serves one accepted connection on `socket` until the client closes it,
/// an I/O error or reset happens, or a timeout of `config` expires; returns
/// why. The engine's buffers (520 bytes) live in the returned future.
///
/// After it returns, close or abort the socket and accept again.
pub async fn serve<IO, X, C>(
    socket: &mut IO,
    shared: &X,
    clock: &C,
    config: EngineConfig,
    client: Option<SocketAddr>,
) -> ConnectionEnd<IO::Error>
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    C: Clock,
{
    let mut engine = Engine::<INPUT_BUFFER, OUTPUT_BUFFER>::new(config, client, clock.now());
    let end = serve_connection(socket, shared, clock, &mut engine).await;
    match &end {
        ConnectionEnd::PeerClosed => debug!("modbus: connection closed by peer"),
        ConnectionEnd::Closed(reason) => debug!("modbus: closing connection: {}", reason),
        ConnectionEnd::Io(_) => debug!("modbus: connection I/O error"),
    }
    end
}

#[cfg(feature = "critical-section")]
pub use cs::CsShared;

#[cfg(feature = "critical-section")]
mod cs {
    use core::cell::RefCell;

    use crate::shared::Shared;

    /// A value shared through a critical section: safe in a `static`, usable
    /// from tasks on any executor and from interrupts.
    ///
    /// ```no_run
    /// use modbus_device::runtimes::embedded_io::CsShared;
    /// use modbus_device::{DataBank, FixedStorage, Service};
    ///
    /// type Tables = FixedStorage<32, 32, 128, 64>;
    /// static SERVICE: CsShared<Service<DataBank<Tables>>> =
    ///     CsShared::new(Service::new(DataBank::new(Tables::new())));
    /// ```
    pub struct CsShared<T>(critical_section::Mutex<RefCell<T>>);

    impl<T> CsShared<T> {
        /// Wraps `value`.
        pub const fn new(value: T) -> Self {
            CsShared(critical_section::Mutex::new(RefCell::new(value)))
        }
    }

    impl<T> Shared for CsShared<T> {
        type Target = T;

        fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            critical_section::with(|cs| f(&mut self.0.borrow_ref_mut(cs)))
        }
    }
}
