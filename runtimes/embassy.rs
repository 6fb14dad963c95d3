//! Glue for embassy firmware (feature `embassy`): a [`Clock`] on
//! embassy-time, a [`Shared`] on embassy-sync's blocking mutex, and
//! [`serve`], which is [`embedded_io::serve`](super::embedded_io::serve)
//! with both and with the client's address taken straight from embassy-net.
//!
//! - [`EmbassyClock`]: the engine's clock and timer on embassy-time (the
//!   application provides embassy-time's driver, as usual).
//! - [`EmbassyShared`]: the service shared by the socket tasks and the
//!   application, behind `embassy_sync::blocking_mutex::Mutex<M, RefCell<_>>`
//!   with the raw mutex `M` of your choice (see its documentation).
//! - [`serve`]: serves one accepted socket. Its `client` is what embassy-net's
//!   `TcpSocket::remote_endpoint()` returns: an `Option<IpEndpoint>`.
//!   smoltcp implements `From<IpEndpoint> for core::net::SocketAddr` for the
//!   IP versions embassy-net is built with (IPv4, IPv6 or both), so this
//!   library does not depend on embassy-net: it could only be built by
//!   choosing an IP version and a medium for every user.
//!
//! A socket task on embassy-net (any `embedded_io_async::{Read, Write}`
//! stream is served the same way):
//!
//! ```no_run
//! use core::net::SocketAddr;
//!
//! use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
//! use embedded_io_async::{Read, Write};
//! use modbus_device::runtimes::embassy::{serve, EmbassyShared};
//! use modbus_device::{DataBank, EngineConfig, FixedStorage, Service, Shared};
//!
//! type Tables = FixedStorage<32, 32, 128, 64>;
//! type ModbusService = Service<DataBank<Tables>>;
//!
//! // On a single-core Cortex-M, `ThreadModeRawMutex` (no interrupts
//! // disabled) is the better choice; see `EmbassyShared`.
//! static SERVICE: EmbassyShared<ModbusService, CriticalSectionRawMutex> =
//!     EmbassyShared::new(Service::new(DataBank::new(Tables::new())));
//!
//! /// Serves one accepted connection. With embassy-net:
//! /// `let client = socket.remote_endpoint(); serve_one(&mut socket, client).await;`
//! /// then `socket.abort()` and accept again.
//! async fn serve_one<S: Read + Write>(socket: &mut S, client: Option<SocketAddr>) {
//!     let end = serve(socket, &SERVICE, EngineConfig::default(), client).await;
//!     // `end` says why: closed by the client, a timeout, an I/O error.
//!     let _ = end;
//! }
//!
//! /// The application writes its data through the same lock.
//! fn set_inputs(values: &[u16]) {
//!     SERVICE.with(|service| service.data_bank.set_input_registers(0, values).ok());
//! }
//! ```

use core::cell::RefCell;
use core::future::Future;
use core::net::SocketAddr;

use embassy_sync::blocking_mutex::raw::{NoopRawMutex, RawMutex};
use embassy_sync::blocking_mutex::Mutex;
use embedded_io_async::{Read, Write};

use super::io::{Clock, ConnectionEnd};
use crate::engine::EngineConfig;
use crate::service::Respond;
use crate::shared::Shared;
use crate::time::Instant;

/// embassy-time as the engine's [`Clock`]: `now` is
/// `embassy_time::Instant::now()`, timers are `embassy_time::Timer`s.
///
/// Deadlines are rounded up to the next tick, so a timer never fires before
/// its deadline (which would make the driver wake up again at once).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> {
        // `Duration::from_micros` rounds up; `Instant::from_micros` down.
        let ticks = embassy_time::Duration::from_micros(deadline.as_micros()).as_ticks();
        embassy_time::Timer::at(embassy_time::Instant::from_ticks(ticks))
    }
}

/// A value shared through embassy-sync's blocking mutex, with a `RefCell`
/// inside: what socket tasks and the application lock, for one batch of
/// requests or one update at a time (never across an `.await`).
///
/// `new` is a `const fn`. Which raw mutex `M`:
///
/// - [`NoopRawMutex`] (the default): no cost at all, but not `Sync`, so
///   it cannot be a `static`. For tasks on one executor: put it in a
///   `static_cell::StaticCell` (or `ConstStaticCell`) and give the
///   `&'static` reference to the tasks (a thread-mode `Spawner` spawns
///   tasks whose arguments are not `Send`). The compiler rejects any use
///   from another thread or an interrupt.
/// - `ThreadModeRawMutex` (single-core Cortex-M, or embassy-sync's `std`
///   feature on a host): `Sync`, so it can be a plain `static`, and it
///   disables no interrupts; it checks (one register read) that it is locked
///   from thread mode and panics if an interrupt handler locks it. The choice
///   for a single-core firmware whose tasks all run on the thread-mode
///   executor (`#[embassy_executor::main]`).
/// - `CriticalSectionRawMutex`: a `static` usable from anywhere: interrupt
///   handlers, an `InterruptExecutor`'s tasks, other cores. It disables
///   interrupts (or takes the multi-core lock) for the length of each batch
///   of requests, a few microseconds; pick it only when something outside
///   thread mode touches the data. (Same as
///   [`CsShared`](super::embedded_io::CsShared) of the `critical-section`
///   feature.)
///
/// Re-entering (a data handler or change callback that locks the service it
/// is called from) panics in the `RefCell`: a programming error, never caused
/// by network input.
///
/// ```
/// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
/// use modbus_device::runtimes::embassy::EmbassyShared;
/// use modbus_device::Shared;
///
/// let counter: EmbassyShared<u32, NoopRawMutex> = EmbassyShared::new(0);
/// counter.with(|n| *n += 1);
/// assert_eq!(counter.with(|n| *n), 1);
/// ```
pub struct EmbassyShared<T, M = NoopRawMutex> {
    inner: Mutex<M, RefCell<T>>,
}

impl<T, M: RawMutex> EmbassyShared<T, M> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        EmbassyShared {
            inner: Mutex::new(RefCell::new(value)),
        }
    }

    /// The value back, once nothing shares it any more.
    pub fn into_inner(self) -> T {
        self.inner.into_inner().into_inner()
    }
}

impl<T, M: RawMutex> Shared for EmbassyShared<T, M> {
    type Target = T;

    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.inner.lock(|cell| f(&mut cell.borrow_mut()))
    }
}

/// Serves one accepted connection on `socket` until it ends, and says why:
/// [`embedded_io::serve`](super::embedded_io::serve) with [`EmbassyClock`].
///
/// `client` is the peer's address for [`SessionInfo`](crate::SessionInfo):
/// pass embassy-net's `socket.remote_endpoint()` as it is (read it before
/// the call, which borrows the socket), or any `Option` of something that
/// converts into a `SocketAddr`.
///
/// After it returns, abort (or close) the socket and accept again.
///
/// (Not an `async fn`: the future is `embedded_io::serve`'s own, with no
/// second copy of the arguments around it in every socket task.)
pub fn serve<'a, IO, X, A>(
    socket: &'a mut IO,
    shared: &'a X,
    config: EngineConfig,
    client: Option<A>,
) -> impl Future<Output = ConnectionEnd<IO::Error>> + 'a
where
    IO: Read + Write,
    X: Shared + ?Sized,
    X::Target: Respond,
    A: Into<SocketAddr>,
{
    let client = client.map(Into::into);
    super::embedded_io::serve(socket, shared, &EmbassyClock, config, client)
}
