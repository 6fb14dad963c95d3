//! pyModbusTCP's `ModbusServer` on a desktop runtime: listening, spawning,
//! stopping and limits. The two runtimes differ only in the [`Runtime`]
//! they plug in; the protocol is the engine's.

pub(crate) mod backoff;
mod config;
mod connection;
mod deadlines;
mod net;
mod pool;
#[cfg(all(feature = "serial", unix))]
mod rtu_serial;
mod socket;
#[cfg(feature = "tls")]
pub mod tls;

use core::future::Future;
use core::panic::AssertUnwindSafe;
use core::pin::Pin;
use core::task::{Context, Poll};

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::vec::Vec;

pub use config::{
    ConnectionEvent, DisconnectReason, LimitPolicy, ServerConfig, ServerError, TcpFraming,
};
use connection::{lock, now_micros, source_ip, Entry, Registry};
use futures::future::{select, AbortHandle, Abortable, Either};
use futures::FutureExt;
#[cfg(feature = "tokio")]
pub(crate) use net::gone_after_peek;
pub use net::{ServerListener, ServerStream};

use crate::{Banks, DataHandler, DeviceIdentification, Service};

/// What a desktop runtime provides: sockets on its reactor, spawning,
/// timers and blocking on a future. Implemented by
/// `runtimes::async_std::AsyncStd`, `runtimes::smol::Smol` and
/// `runtimes::tokio::Tokio`. async-std and smol both run on async-io's
/// reactor and share one socket type, which waits for readiness in the
/// cheapest order (`runtimes/server/socket.rs` says why); tokio brings its
/// own.
pub trait Runtime: Send + Sync + 'static {
    /// The listening socket, and through it the type of accepted streams.
    type Listener: ServerListener;

    /// Gets the runtime ready to run what [`spawn`](Self::spawn) is given
    /// (starts executor threads, ...). [`ModbusServer::start`] calls it
    /// before binding, so a server never accepts connections that nothing
    /// would serve. Called at every `start()`: once ready, it should return
    /// `Ok` at once. The default has nothing to prepare.
    ///
    /// # Errors
    ///
    /// [`ServerError::Runtime`] when the runtime cannot run tasks.
    fn prepare() -> Result<(), ServerError> {
        Ok(())
    }
    /// Runs `future` in the background.
    fn spawn(future: impl Future<Output = ()> + Send + 'static);
    /// Completes at `deadline`.
    fn sleep_until(deadline: std::time::Instant) -> impl Future<Output = ()> + Send;
    /// Runs `future` to completion on the current thread.
    fn block_on<T>(future: impl Future<Output = T>) -> T;
    /// Whether this thread may block: run [`block_on`](Self::block_on)
    /// (a blocking `start()`), or wait in `stop()` for the listener to be
    /// released. False on a thread that runs the runtime's own tasks, which
    /// blocking would stall (tokio panics on a nested `block_on`). The
    /// default: always.
    #[must_use]
    fn may_block() -> bool {
        true
    }
}

/// The stream type of runtime `R`'s accepted connections.
type Stream<R> = <<R as Runtime>::Listener as ServerListener>::Stream;

/// Executor threads for a Modbus server: one per core but one (at least
/// one). The remaining core runs the I/O reactor thread and the rest of the
/// application; on small machines a thread per core makes them fight
/// (README figures). The smol adapter uses it; for async-std, whose global
/// pool belongs to the application, set `ASYNC_STD_THREAD_COUNT` to it at
/// the start of `main` (as the `server` example does).
#[must_use]
pub fn recommended_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

type EventHook = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;

struct Running {
    local_addr: SocketAddr,
    accept: AbortHandle,
    /// Receives when the accept loop has dropped the listener (`None`
    /// under `run()`, which drops it itself).
    released: Option<mpsc::Receiver<()>>,
}

struct Inner<R: Runtime, T> {
    config: Mutex<ServerConfig>,
    service: Arc<Mutex<T>>,
    running: Mutex<Option<Running>>,
    connections: Mutex<Registry<Handle<Stream<R>>>>,
    on_event: Mutex<Option<EventHook>>,
    /// Connection tasks spawned and not yet ended.
    live: std::sync::atomic::AtomicUsize,
    /// Engines parked by connections served through `serve_connection`.
    served_pool: std::sync::OnceLock<Arc<pool::EnginePool>>,
    runtime: core::marker::PhantomData<R>,
}

/// A Modbus TCP server (pyModbusTCP's `ModbusServer`), generic over the
/// desktop [`Runtime`].
///
/// Name it through a runtime's alias, `runtimes::async_std::ModbusServer`
/// or `runtimes::smol::ModbusServer`: that is the one path the
/// documentation and examples use.
/// This generic form is only for code that is itself generic over
/// [`Runtime`] (tests run once per runtime, an adapter for another runtime).
///
/// A cheap handle: clones control the same server, so one thread can
/// `start()` (blocking) while another calls `stop()`. The shared
/// [`Service`] sits behind a mutex: [`with_data_bank`](Self::with_data_bank)
/// and [`with_service`](Self::with_service) give the application atomic access while
/// the server runs.
pub struct ModbusServer<R: Runtime, B, H = crate::DefaultHandler> {
    inner: Arc<Inner<R, Service<B, H>>>,
}

impl<R: Runtime, B, H> Clone for ModbusServer<R, B, H> {
    fn clone(&self) -> Self {
        ModbusServer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R, B, H> ModbusServer<R, B, H>
where
    R: Runtime,
    B: Banks + Send + 'static,
    H: DataHandler + Send + 'static,
{
    /// A server for `service` as `config` says; nothing happens until [`start`](Self::start).
    #[must_use]
    pub fn new(config: ServerConfig, service: Service<B, H>) -> Self {
        ModbusServer {
            inner: Arc::new(Inner {
                config: Mutex::new(config),
                service: Arc::new(Mutex::new(service)),
                running: Mutex::new(None),
                connections: Mutex::new(Registry::default()),
                on_event: Mutex::new(None),
                served_pool: std::sync::OnceLock::new(),
                live: std::sync::atomic::AtomicUsize::new(0),
                runtime: core::marker::PhantomData,
            }),
        }
    }

    /// Runs `f` on the whole shared service under the server's lock, to
    /// read or change several parts (bank, handler, identification, unit
    /// filter) as one step, atomically with respect to requests. Keep `f`
    /// short: requests wait while it runs.
    pub fn with_service<T>(&self, f: impl FnOnce(&mut Service<B, H>) -> T) -> T {
        f(&mut lock(&self.inner.service))
    }

    /// Runs `f` on the data bank (pyModbusTCP's `data_bank` property) under the
    /// server's lock: atomic with respect to every request.
    #[doc(alias = "data_bank")]
    pub fn with_data_bank<T>(&self, f: impl FnOnce(&mut B) -> T) -> T {
        f(&mut lock(&self.inner.service).data_bank)
    }

    /// Runs `f` on the data handler (pyModbusTCP's `data_hdl` property).
    #[doc(alias = "data_hdl")]
    pub fn with_data_hdl<T>(&self, f: impl FnOnce(&mut H) -> T) -> T {
        f(&mut lock(&self.inner.service).data_hdl)
    }

    /// The device identification (a read-write property in pyModbusTCP).
    #[must_use]
    pub fn device_identification(&self) -> Option<DeviceIdentification> {
        lock(&self.inner.service).device_identification.clone()
    }

    /// Sets or removes the device identification, also while running.
    pub fn set_device_identification(&self, device_identification: Option<DeviceIdentification>) {
        lock(&self.inner.service).device_identification = device_identification;
    }

    /// Calls `hook` on every connect, disconnect and refusal.
    pub fn on_event(&self, hook: impl Fn(&ConnectionEvent) + Send + Sync + 'static) {
        *lock(&self.inner.on_event) = Some(Arc::new(hook));
    }

    /// The configured host.
    #[must_use]
    pub fn host(&self) -> std::string::String {
        lock(&self.inner.config).host.clone()
    }

    /// The configured port (see [`local_addr`](Self::local_addr) for the bound one).
    #[must_use]
    pub fn port(&self) -> u16 {
        lock(&self.inner.config).port
    }

    /// Changes the configuration; takes effect at the next `start()`.
    pub fn configure(&self, f: impl FnOnce(&mut ServerConfig)) {
        f(&mut lock(&self.inner.config));
    }

    /// The address the server listens on while it runs (port 0 in the
    /// configuration picks a free port; this tells which).
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner.running).as_ref().map(|r| r.local_addr)
    }

    /// True while the server runs.
    #[must_use]
    pub fn is_run(&self) -> bool {
        lock(&self.inner.running).is_some()
    }

    /// Number of open client connections.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.connections).len()
    }

    /// Binds and serves (pyModbusTCP's `start()`). With `no_block` it
    /// returns once listening and serves in the background; otherwise it
    /// serves on this thread until [`stop`](Self::stop) is called from
    /// elsewhere, and returns once the connections it lets finish have
    /// ended (within about 300 ms). Errors come back at once, before
    /// anything listens.
    ///
    /// For an application that is itself async, [`run`](Self::run)`.await`
    /// serves in the caller's task instead, and is the one to pick there: a
    /// blocking `start()` from inside a tokio runtime is refused
    /// ([`ServerError::BlockingInRuntime`]).
    ///
    /// # Errors
    ///
    /// - [`ServerError::InvalidConfig`]: `max_connections` or
    ///   `max_connections_per_ip` is 0.
    /// - [`ServerError::BlockingInRuntime`]: `no_block` is false and this
    ///   thread runs the runtime's tasks (inside a tokio runtime).
    /// - [`ServerError::Runtime`]: the runtime cannot run connections (the
    ///   smol or tokio adapter could not start its threads).
    /// - [`ServerError::AlreadyRunning`]: the server runs already.
    /// - [`ServerError::Resolve`]: the host has no address of the asked family.
    /// - [`ServerError::Bind`]: binding or listening failed (address in
    ///   use, permission denied, ...).
    pub fn start(&self) -> Result<(), ServerError> {
        let no_block = lock(&self.inner.config).no_block;
        if !no_block && !R::may_block() {
            return Err(ServerError::BlockingInRuntime);
        }
        let accept_loop = self.listen(true)?;
        if no_block {
            R::spawn(accept_loop);
        } else {
            // Until the connections that stop() lets finish have ended: on
            // tokio the sockets are registered with this thread's runtime,
            // and dropping it would cut them off mid-answer ("the runtime is
            // being shut down", reported as an I/O error instead of
            // `ServerStopped`).
            let server = self.clone();
            R::block_on(async move {
                accept_loop.await;
                server.connections_ended().await;
            });
        }
        Ok(())
    }

    /// Binds and serves in the caller's task until [`stop`](Self::stop) is
    /// called (from a clone of this server, on any thread or task): the
    /// async entry, for applications that run their own runtime. Returns
    /// `Ok(())` once stopped, with the listener closed; errors come back
    /// before anything listens. `no_block` is ignored.
    ///
    /// On tokio, connections are spawned on the runtime that polls this
    /// future (current-thread or multi-thread; it must have I/O and time
    /// enabled). On async-std, on its global executor; on smol, on the
    /// adapter's executor threads (smol has no ambient executor to spawn
    /// on).
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio")]
    /// # async fn serve() -> Result<(), modbus_device::runtimes::ServerError> {
    /// use modbus_device::runtimes::tokio::ModbusServer;
    /// use modbus_device::runtimes::ServerConfig;
    /// use modbus_device::{DataBank, Service};
    ///
    /// let config = ServerConfig { host: "127.0.0.1".into(), port: 1502, ..Default::default() };
    /// let server = ModbusServer::new(config, Service::new(DataBank::default()));
    /// // Until Ctrl-C; `server.clone().stop()` from elsewhere works too.
    /// server.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start), but for [`ServerError::BlockingInRuntime`].
    pub async fn run(&self) -> Result<(), ServerError> {
        self.run_until(core::future::pending()).await
    }

    /// [`run`](Self::run) until `shutdown` completes (a Ctrl-C signal, a
    /// cancellation token, a channel) or [`stop`](Self::stop) is called,
    /// whichever comes first; then stops as `stop()` does, gracefully: no
    /// more connections are accepted, every open connection writes the
    /// answers it owes (the batch in progress), is closed and reported
    /// ([`DisconnectReason::ServerStopped`]); the listener is closed, and
    /// the connections have ended (within 200 ms), before this returns.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let accept_loop = self.listen(false)?;
        let shut_down = {
            // Dropped (the listener closed) at the end of this block.
            let accept_loop = core::pin::pin!(accept_loop);
            let shutdown = core::pin::pin!(shutdown);
            matches!(select(accept_loop, shutdown).await, Either::Right(_))
        };
        if shut_down {
            self.stop();
        }
        // The connections that stop() lets finish end on this runtime:
        // wait for them, so that a caller who drops its runtime next does
        // not cut them off.
        self.connections_ended().await;
        Ok(())
    }

    /// Returns once no connection task this server spawned is running, or
    /// once the grace `stop()` gives them is over (they are closed then):
    /// at most `STOP_GRACE` and 100 ms.
    async fn connections_ended(&self) {
        let deadline = std::time::Instant::now() + STOP_GRACE + Duration::from_millis(100);
        while self.inner.live.load(Ordering::Acquire) > 0 && std::time::Instant::now() < deadline {
            R::sleep_until(std::time::Instant::now() + Duration::from_millis(5)).await;
        }
    }

    /// Checks the configuration, prepares the runtime, binds and registers
    /// the listener, and returns the accept loop, which `stop()` aborts.
    /// With `wait_release`, `stop()` waits (where it may block) until the
    /// loop has dropped the listener.
    fn listen(
        &self,
        wait_release: bool,
    ) -> Result<impl Future<Output = ()> + Send + 'static, ServerError> {
        let config = lock(&self.inner.config).clone();
        if config.max_connections == 0 {
            return Err(ServerError::InvalidConfig {
                reason: "max_connections is 0: no client could ever connect",
            });
        }
        if config.max_connections_per_ip == 0 {
            return Err(ServerError::InvalidConfig {
                reason: "max_connections_per_ip is 0: no client could ever connect",
            });
        }
        // A TLS client's identity reaches MBAP requests only; RTU frames
        // inside TLS would be served without it.
        #[cfg(all(feature = "tls", feature = "rtu"))]
        if config.tls.is_some() && config.framing != TcpFraming::Mbap {
            return Err(ServerError::InvalidConfig {
                reason: "tls with RTU framing: Modbus/TCP Security carries MBAP frames only",
            });
        }
        // Before binding: a listener on a runtime that cannot run tasks
        // would accept connections that are never served.
        R::prepare()?;
        let mut running = lock(&self.inner.running);
        if running.is_some() {
            return Err(ServerError::AlreadyRunning);
        }
        let addr = resolve(&config)?;
        let bind_error = |source| ServerError::Bind { addr, source };
        let listener = bind(addr, &config).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let listener = R::Listener::from_std(listener).map_err(bind_error)?;
        let (accept, registration) = AbortHandle::new_pair();
        let stopped = accept.clone();
        let (release, released) = if wait_release {
            let (release, released) = mpsc::channel();
            (Some(ReleaseOnDrop(release)), Some(released))
        } else {
            (None, None)
        };
        *running = Some(Running {
            local_addr,
            accept,
            released,
        });
        drop(running);
        info!("modbus server listening on {}", local_addr);

        let server = self.clone();
        Ok(Abortable::new(
            async move {
                // Dropped (listener closed) when the loop is aborted.
                let _release = release;
                server.accept_loop(listener, config, stopped).await;
            },
            registration,
        )
        .map(|_| ()))
    }

    /// Stops: closes the listener and every client connection. Safe to
    /// call twice, or when not running. `start()` works again afterwards.
    ///
    /// Gracefully: no connection is accepted any more; each open one stops
    /// reading requests, writes the answers it owes (the batch in
    /// progress), and closes; one still open 200 ms later (a client that
    /// does not read its answers) is closed then.
    ///
    /// After `start()`, it returns once the listener is released (at most
    /// about 1 s; at once on a thread of a tokio runtime, where the
    /// listener is released as soon as its task runs). After `run()`, the
    /// listener is released when `run()` returns.
    ///
    /// Each connection still open is reported once, as
    /// [`DisconnectReason::ServerStopped`], before `stop()` returns; that
    /// includes connections served by `serve_connection`, also when the
    /// server was never started.
    pub fn stop(&self) {
        let running = lock(&self.inner.running).take();
        // Before draining: `admit` checks it under the registry lock, so a
        // connection the accept loop is admitting right now is either
        // drained below or refused there, never left serving.
        if let Some(running) = &running {
            running.accept.abort();
        }
        let entries = lock(&self.inner.connections).drain();
        // Graceful: each connection stops taking requests, answers those it
        // has (the batch in progress is written), and ends; whatever is
        // still open after STOP_GRACE is closed.
        let mut closing = Closing(Vec::new());
        for entry in entries {
            self.emit(&ConnectionEvent::Disconnected {
                client: entry.client,
                reason: DisconnectReason::ServerStopped,
            });
            if entry.stream.0.is_some() {
                entry.stream.shutdown_read();
                closing.0.push((entry.abort, entry.stream));
            } else {
                // A stream the application accepted: no socket to shut
                // down; aborting its task drops it.
                entry.abort.abort();
            }
        }
        if !closing.0.is_empty() {
            let deadline = std::time::Instant::now() + STOP_GRACE;
            R::spawn(async move {
                R::sleep_until(deadline).await;
                drop(closing);
            });
        }
        let Some(running) = running else {
            return;
        };
        if let Some(released) = running.released {
            if R::may_block() {
                let _ = released.recv_timeout(Duration::from_secs(1));
            }
        }
        info!("modbus server on {} stopped", running.local_addr);
    }

    fn emit(&self, event: &ConnectionEvent) {
        let hook = lock(&self.inner.on_event).clone();
        if let Some(hook) = hook {
            hook(event);
        }
    }

    /// Accepts until aborted through `stopped` (by `stop()`).
    async fn accept_loop(self, listener: R::Listener, config: ServerConfig, stopped: AbortHandle) {
        let mut admission = Admission::new(&config);
        loop {
            match listener.accept().await {
                Ok((stream, client)) => {
                    self.admit(stream, client, &config, &mut admission, &stopped);
                    admission.flush_logs();
                    // Let the connection tasks run between two accepts:
                    // otherwise a backlog is admitted whole before any task
                    // sees that its client has already left, and slots
                    // those clients gave back look taken.
                    YieldNow(false).await;
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, don't
                    // spin, and don't write a line per failure.
                    if let Some(more) = admission.accept_errors.note() {
                        warn!(
                            "modbus server: accept failed: {} ({} more failures since the last report)",
                            e, more
                        );
                    }
                    R::sleep_until(std::time::Instant::now() + Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Registers and spawns an accepted connection, or refuses it, as the
    /// limits and the policy say. Events and log lines go out after the
    /// registry lock is released.
    fn admit(
        &self,
        stream: Stream<R>,
        client: SocketAddr,
        config: &ServerConfig,
        admission: &mut Admission,
        stopped: &AbortHandle,
    ) {
        let ip = source_ip(&client);
        let reached =
            |connections: &Registry<Handle<Stream<R>>>| Limit::reached(connections, ip, config);
        // Connections that ended here (released or evicted), reported
        // after unlocking.
        let mut ended = Vec::new();
        let mut connections = lock(&self.inner.connections);
        // Before enforcing a limit, release the slots of clients that have
        // already left but whose tasks have not run yet: each limit is swept
        // at most once (the per-address sweep may leave the total reached).
        let mut swept = [false; 2];
        let mut limit = reached(&connections);
        while let Some(reached_limit) = limit {
            let kind = reached_limit.index();
            if swept[kind] || !admission.may_sweep(kind) {
                break;
            }
            swept[kind] = true;
            let gone = connections.remove_gone(reached_limit.scope(), Handle::peer_gone);
            admission.swept(kind, !gone.is_empty());
            for (entry, end) in gone {
                entry.abort.abort();
                entry.stream.shutdown();
                let reason = match end {
                    Ok(()) => DisconnectReason::PeerClosed,
                    Err(kind) => DisconnectReason::Io(kind),
                };
                ended.push((entry.client, reason));
            }
            limit = reached(&connections);
        }
        if let Some(limit) = limit {
            let Some(entry) = limit.make_room(&mut connections, config.on_limit) else {
                drop(connections);
                stream.shutdown();
                self.report_ended(ended);
                if let Some(more) = admission.refusals.note() {
                    debug!(
                        "modbus server: refused {} ({} reached; {} more refused since the last report)",
                        client,
                        limit.name(),
                        more
                    );
                }
                self.emit(&ConnectionEvent::Refused { client });
                return;
            };
            entry.abort.abort();
            entry.stream.shutdown();
            ended.push((entry.client, DisconnectReason::Evicted));
        }
        if !ended.is_empty() {
            // Their ends are reported before this connection's start.
            drop(connections);
            self.report_ended(ended);
            connections = lock(&self.inner.connections);
        }
        // `stop()` may have drained the registry while this ran (the accept
        // loop is aborted only between polls, and the reports above run
        // user code); an entry inserted now would serve on after `stop()`.
        // Connections only leave the registry meanwhile: the limits hold.
        if stopped.is_aborted() {
            drop(connections);
            stream.shutdown();
            return;
        }
        if config.nodelay {
            let _ = stream.set_nodelay(true);
        }
        // Best effort, as TCP_NODELAY: a connection is better served with
        // the kernel's sizes than refused.
        let _ = stream.set_buffer_sizes(config.send_buffer, config.recv_buffer);
        let (id, registration, two_answers_since) =
            register(&mut connections, client, Handle(Some(stream.clone())));
        drop(connections);
        debug!("modbus server: {} connected", client);
        self.emit(&ConnectionEvent::Connected { client });

        let server = self.clone();
        let service = Arc::clone(&self.inner.service);
        let pool = Arc::clone(&admission.pool);
        #[cfg(not(feature = "tls"))]
        let served = connection::serve::<R, _, _>(
            stream,
            client,
            service,
            pool,
            two_answers_since,
            config.framing,
        );
        #[cfg(feature = "tls")]
        let served = tls::serve_maybe_tls::<R, _, _>(
            config.tls.as_ref(),
            stream,
            client,
            service,
            pool,
            two_answers_since,
            config.framing,
        );
        let task = Abortable::new(AssertUnwindSafe(served).catch_unwind(), registration);
        // `map`, not `async move { task.await }`: an async block keeps its
        // captured future and the awaited one in separate slots, doubling
        // the memory of every connection.
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        R::spawn(task.map(move |result| {
            server.inner.live.fetch_sub(1, Ordering::AcqRel);
            let reason = match result {
                Ok(Ok(reason)) => reason,
                Ok(Err(_panic)) => DisconnectReason::HandlerPanicked,
                // Aborted by stop(), eviction or a release of closed
                // connections, which already reported it.
                Err(_aborted) => return,
            };
            // Whoever takes the entry out of the registry reports the end,
            // once. A task that ends by itself while stop(), an eviction or
            // a release removes it (abort does not interrupt a poll in
            // progress) finds the entry gone: that end is reported already.
            let Some(entry) = lock(&server.inner.connections).remove(id) else {
                return;
            };
            entry.stream.shutdown();
            debug!("modbus server: {} disconnected: {:?}", client, reason);
            server.emit(&ConnectionEvent::Disconnected { client, reason });
        }));
    }

    /// Admits a stream for [`serve_io`](Self::serve_io) as the limits and
    /// the policy say: its registry id, abort registration and activity
    /// time, or `None` when refused (reported).
    fn admit_served(
        &self,
        client: SocketAddr,
        config: &ServerConfig,
    ) -> Option<(u64, futures::future::AbortRegistration, Arc<AtomicU64>)> {
        let mut connections = lock(&self.inner.connections);
        let mut ended = Vec::new();
        if let Some(limit) = Limit::reached(&connections, source_ip(&client), config) {
            let Some(entry) = limit.make_room(&mut connections, config.on_limit) else {
                drop(connections);
                debug!(
                    "modbus server: refused {} ({} reached)",
                    client,
                    limit.name()
                );
                self.emit(&ConnectionEvent::Refused { client });
                return None;
            };
            entry.abort.abort();
            entry.stream.shutdown();
            ended.push((entry.client, DisconnectReason::Evicted));
        }
        let registered = register(&mut connections, client, Handle(None));
        drop(connections);
        self.report_ended(ended);
        Some(registered)
    }

    /// Serves one stream the application accepted itself, in the caller's
    /// task: the per-runtime `serve_connection` methods end here. It counts
    /// against the limits (refused or evicting as the policy says), is
    /// reported as every accepted connection is, and ends with `stop()`.
    pub(crate) async fn serve_io<S>(&self, stream: S, client: SocketAddr) -> DisconnectReason
    where
        S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin,
    {
        let config = lock(&self.inner.config).clone();
        let Some((id, registration, two_answers_since)) = self.admit_served(client, &config) else {
            return DisconnectReason::Refused;
        };
        debug!("modbus server: {} connected", client);
        self.emit(&ConnectionEvent::Connected { client });
        let pool = Arc::clone(
            self.inner
                .served_pool
                .get_or_init(|| Arc::new(pool::EnginePool::new(config.engine))),
        );
        let service = Arc::clone(&self.inner.service);
        let result = Abortable::new(
            AssertUnwindSafe(connection::serve::<R, _, _>(
                stream,
                client,
                service,
                pool,
                two_answers_since,
                config.framing,
            ))
            .catch_unwind(),
            registration,
        )
        .await;
        let reason = match result {
            Ok(Ok(reason)) => reason,
            Ok(Err(_panic)) => DisconnectReason::HandlerPanicked,
            // `stop()` (which takes the server out of the running state
            // first) or an eviction removed and reported it.
            Err(_aborted) if self.is_run() => return DisconnectReason::Evicted,
            Err(_aborted) => return DisconnectReason::ServerStopped,
        };
        // Reported by whoever takes it out of the registry, once.
        let removed = lock(&self.inner.connections).remove(id).is_some();
        if removed {
            debug!("modbus server: {} disconnected: {:?}", client, reason);
            self.emit(&ConnectionEvent::Disconnected {
                client,
                reason: reason.clone(),
            });
        } else if !self.is_run() {
            return DisconnectReason::ServerStopped;
        }
        reason
    }

    /// Reports connections that `admit` took out of the registry.
    fn report_ended(&self, ended: Vec<(SocketAddr, DisconnectReason)>) {
        for (client, reason) in ended {
            debug!("modbus server: {} disconnected: {:?}", client, reason);
            self.emit(&ConnectionEvent::Disconnected { client, reason });
        }
    }
}

/// A sweep for closed peers that found none is not repeated within this
/// long. Each costs a `recv` per connection it looks at, and a flood of
/// connections beyond a limit held by live clients would otherwise pay one
/// for every refusal; a client that left meanwhile is released by its own
/// task soon after anyway.
const SWEEP_PAUSE: Duration = Duration::from_millis(20);

/// At most one log line per this long for refusals, and one for accept
/// failures: a flood of refused connections must not become a flood of
/// log lines.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Which limit a new connection hit.
#[derive(Clone, Copy)]
enum Limit {
    /// `max_connections_per_ip`, for this address.
    PerIp(IpAddr),
    /// `max_connections`.
    Total,
}

impl Limit {
    /// The limit a new connection from `ip` meets, if any.
    fn reached<S>(connections: &Registry<S>, ip: IpAddr, config: &ServerConfig) -> Option<Limit> {
        if connections.count_from(ip) >= config.max_connections_per_ip {
            Some(Limit::PerIp(ip))
        } else if connections.len() >= config.max_connections {
            Some(Limit::Total)
        } else {
            None
        }
    }

    /// Makes room under this limit as `policy` says: the entry evicted
    /// (taken out of the registry, still to be closed and reported), or
    /// `None` when the new connection is to be refused. Under evict, within
    /// the address when it is at its own limit: the new connection then
    /// takes the place of one of its own.
    fn make_room<S>(self, connections: &mut Registry<S>, policy: LimitPolicy) -> Option<Entry<S>> {
        match policy {
            LimitPolicy::Refuse => None,
            LimitPolicy::EvictLeastActive => connections
                .least_active(self.scope())
                .and_then(|id| connections.remove(id)),
        }
    }

    /// Where to look for connections to release or evict.
    fn scope(self) -> Option<IpAddr> {
        match self {
            Limit::PerIp(ip) => Some(ip),
            Limit::Total => None,
        }
    }

    /// Index into per-limit state.
    fn index(self) -> usize {
        match self {
            Limit::PerIp(_) => 0,
            Limit::Total => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Limit::PerIp(_) => "max_connections_per_ip",
            Limit::Total => "max_connections",
        }
    }
}

/// The accept loop's state for admitting connections; only that loop
/// touches it, so it needs no lock.
struct Admission {
    pool: Arc<pool::EnginePool>,
    refusals: LogThrottle,
    accept_errors: LogThrottle,
    /// When a sweep found no closed peer, per [`Limit::index`].
    fruitless_sweep: [Option<std::time::Instant>; 2],
}

impl Admission {
    fn new(config: &ServerConfig) -> Self {
        Admission {
            pool: Arc::new(pool::EnginePool::new(config.engine)),
            refusals: LogThrottle::default(),
            accept_errors: LogThrottle::default(),
            fruitless_sweep: [None; 2],
        }
    }

    /// Whether a sweep for closed peers is worth its cost now (see
    /// [`SWEEP_PAUSE`]). One pause per limit kind: the per-address one is
    /// shared by every address, which keeps the state bounded.
    fn may_sweep(&self, kind: usize) -> bool {
        self.fruitless_sweep[kind].is_none_or(|at| at.elapsed() >= SWEEP_PAUSE)
    }

    fn swept(&mut self, kind: usize, found: bool) {
        self.fruitless_sweep[kind] = (!found).then(std::time::Instant::now);
    }

    /// Reports what the throttles held back once their window has passed,
    /// so a flood that stops is still counted in the log.
    fn flush_logs(&mut self) {
        if let Some(n) = self.refusals.flush() {
            debug!("modbus server: {} more connections refused", n);
        }
        if let Some(n) = self.accept_errors.flush() {
            warn!("modbus server: {} more accept failures", n);
        }
    }
}

/// Lets one log line through per [`LOG_EVERY`] and counts the rest.
#[derive(Default)]
struct LogThrottle {
    /// When the last line was let through.
    last: Option<std::time::Instant>,
    /// Events since then that were not logged.
    held: u64,
}

impl LogThrottle {
    /// One more event: `Some(n)` to log it now, with the `n` events held
    /// back since the last line; `None` to stay quiet.
    fn note(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(core::mem::take(&mut self.held))
    }

    /// `Some(n)` when `n` events were held back and the window has passed:
    /// the line that reports them counts as this window's.
    fn flush(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        if self.held == 0
            || self
                .last
                .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(core::mem::take(&mut self.held))
    }
}

/// Pending once, after waking itself: the executor runs the other ready
/// tasks (the connections just accepted) before polling again.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How long connections may take to write the answers they owe after
/// `stop()` before they are closed.
const STOP_GRACE: Duration = Duration::from_millis(200);

/// Connections a graceful `stop()` lets finish: aborted and shut down when
/// dropped (after [`STOP_GRACE`], or at once if the task that waits is
/// dropped).
struct Closing<S: ServerStream>(Vec<(AbortHandle, Handle<S>)>);

impl<S: ServerStream> Drop for Closing<S> {
    fn drop(&mut self) {
        for (abort, stream) in self.0.drain(..) {
            abort.abort();
            stream.shutdown();
        }
    }
}

/// The registry's handle on a connection's socket, to shut it down from
/// outside its task and to see whether the peer has gone: `None` for a
/// stream the application accepted itself (`serve_connection`), which
/// aborting its task closes.
struct Handle<S>(Option<S>);

/// Enters a new connection in the registry: its id, the registration that
/// aborts its task, and its activity time. A new connection ranks as if its
/// last two answers began `NEW_CONNECTION_HANDICAP_MICROS` before it came
/// (connection.rs says why), whoever accepted it.
fn register<S>(
    connections: &mut Registry<S>,
    client: SocketAddr,
    stream: S,
) -> (u64, futures::future::AbortRegistration, Arc<AtomicU64>) {
    let admitted = now_micros().saturating_sub(connection::NEW_CONNECTION_HANDICAP_MICROS);
    let two_answers_since = Arc::new(AtomicU64::new(admitted));
    let (abort, registration) = AbortHandle::new_pair();
    let id = connections.insert(Entry {
        client,
        abort,
        stream,
        two_answers_since: Arc::clone(&two_answers_since),
    });
    (id, registration, two_answers_since)
}

impl<S: ServerStream> Handle<S> {
    fn shutdown_read(&self) {
        if let Some(stream) = &self.0 {
            stream.shutdown_read();
        }
    }

    fn shutdown(&self) {
        if let Some(stream) = &self.0 {
            stream.shutdown();
        }
    }

    fn peer_gone(&self) -> Option<Result<(), io::ErrorKind>> {
        self.0.as_ref()?.peer_gone()
    }
}

/// Sends on drop: tells `stop()` the accept loop (and its listener) is gone.
struct ReleaseOnDrop(mpsc::Sender<()>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// The socket address for `config.host` / `config.port` / `config.ipv6`.
fn resolve(config: &ServerConfig) -> Result<SocketAddr, ServerError> {
    let host = config.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, config.port));
    }
    let resolve_error = |source| ServerError::Resolve {
        host: config.host.clone(),
        ipv6: config.ipv6,
        source,
    };
    let mut addrs = (host, config.port)
        .to_socket_addrs()
        .map_err(|e| resolve_error(Some(e)))?;
    addrs
        .find(|a| a.is_ipv6() == config.ipv6)
        .ok_or_else(|| resolve_error(None))
}

/// A listening socket with the configured options. Binding `::` accepts
/// IPv4 too (dual stack), whatever the system default.
fn bind(addr: SocketAddr, config: &ServerConfig) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if config.reuse_address {
        socket.set_reuse_address(true)?;
    }
    if let IpAddr::V6(ip) = addr.ip() {
        socket.set_only_v6(!ip.is_unspecified())?;
    }
    socket.bind(&addr.into())?;
    socket.listen(config.backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_throttle_lets_one_line_a_second_through_with_the_count() {
        let mut throttle = LogThrottle::default();
        assert_eq!(throttle.note(), Some(0));
        assert_eq!(throttle.note(), None);
        assert_eq!(throttle.note(), None);
        assert_eq!(throttle.flush(), None, "within the window");
        // As if the window had passed.
        throttle.last = Some(std::time::Instant::now() - LOG_EVERY);
        assert_eq!(throttle.flush(), Some(2));
        assert_eq!(throttle.note(), None);
        throttle.last = Some(std::time::Instant::now() - LOG_EVERY);
        assert_eq!(throttle.note(), Some(1));
    }
}
