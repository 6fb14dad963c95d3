//! The spec's `ModbusServer` on a desktop runtime: listening, spawning,
//! stopping and limits. The two runtimes differ only in the [`Runtime`]
//! they plug in; the protocol is the engine's.

mod config;
mod connection;
mod pool;
mod socket;

use core::future::Future;
use core::panic::AssertUnwindSafe;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::vec::Vec;

pub use config::{ConnectionEvent, DisconnectReason, LimitPolicy, ServerConfig, ServerError};
use connection::{lock, now_micros, Entry, Registry};
use futures::future::{AbortHandle, Abortable};
use futures::FutureExt;
use socket::{Listener, Socket};

use crate::{ChangeCallbacks, DataHandler, DeviceIdentification, Service, Storage};

/// What a desktop runtime provides: spawning, timers and blocking on a
/// future. Implemented by `runtimes::async_std::AsyncStd` and
/// `runtimes::smol::Smol`. Sockets are not part of it: both runtimes run on
/// async-io's reactor, and the server uses async-io's sockets directly
/// (the `socket` module says why).
pub trait Runtime: Send + Sync + 'static {
    /// Runs `future` in the background.
    fn spawn(future: impl Future<Output = ()> + Send + 'static);
    /// Completes at `deadline`.
    fn sleep_until(deadline: std::time::Instant) -> impl Future<Output = ()> + Send;
    /// Runs `future` to completion on the current thread.
    fn block_on<T>(future: impl Future<Output = T>) -> T;
}

/// Executor threads for a Modbus server: one per core but one (at least
/// one). The remaining core runs the I/O reactor thread and the rest of the
/// application; on small machines a thread per core makes them fight
/// (README figures). The smol adapter uses it; for async-std, whose global
/// pool belongs to the application, set `ASYNC_STD_THREAD_COUNT` to it at
/// the start of `main` (as the `server` example does).
pub fn recommended_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

type EventHook = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;

struct Running {
    local_addr: SocketAddr,
    accept: AbortHandle,
    /// Receives when the accept loop has dropped the listener.
    released: mpsc::Receiver<()>,
}

struct Inner<R: Runtime, T> {
    config: Mutex<ServerConfig>,
    service: Arc<Mutex<T>>,
    running: Mutex<Option<Running>>,
    connections: Mutex<Registry<Socket>>,
    on_event: Mutex<Option<EventHook>>,
    runtime: core::marker::PhantomData<R>,
}

/// A Modbus TCP server (the spec's `ModbusServer`), generic over the
/// desktop [`Runtime`]; use `runtimes::async_std::ModbusServer` or
/// `runtimes::smol::ModbusServer`.
///
/// A cheap handle: clones control the same server, so one thread can
/// `start()` (blocking) while another calls `stop()`. The shared
/// [`Service`] sits behind a mutex: [`with_data_bank`](Self::with_data_bank)
/// and [`service`](Self::service) give the application atomic access while
/// the server runs.
pub struct ModbusServer<R: Runtime, S, H = crate::DefaultHandler, C = crate::NoCallbacks> {
    inner: Arc<Inner<R, Service<S, H, C>>>,
}

impl<R: Runtime, S, H, C> Clone for ModbusServer<R, S, H, C> {
    fn clone(&self) -> Self {
        ModbusServer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R, S, H, C> ModbusServer<R, S, H, C>
where
    R: Runtime,
    S: Storage + Send + 'static,
    H: DataHandler<S, C> + Send + 'static,
    C: ChangeCallbacks + Send + 'static,
{
    /// A server for `service` as `config` says; nothing happens until [`start`](Self::start).
    pub fn new(config: ServerConfig, service: Service<S, H, C>) -> Self {
        ModbusServer {
            inner: Arc::new(Inner {
                config: Mutex::new(config),
                service: Arc::new(Mutex::new(service)),
                running: Mutex::new(None),
                connections: Mutex::new(Registry::default()),
                on_event: Mutex::new(None),
                runtime: core::marker::PhantomData,
            }),
        }
    }

    /// The shared service: lock it to read or change anything atomically
    /// with respect to requests. Do not hold the lock long.
    pub fn service(&self) -> &Arc<Mutex<Service<S, H, C>>> {
        &self.inner.service
    }

    /// Runs `f` on the data bank (the spec's `data_bank` property) under the
    /// server's lock: atomic with respect to every request.
    #[doc(alias = "data_bank")]
    pub fn with_data_bank<T>(&self, f: impl FnOnce(&mut crate::DataBank<S, C>) -> T) -> T {
        f(&mut lock(&self.inner.service).data_bank)
    }

    /// Runs `f` on the data handler (the spec's `data_hdl` property).
    #[doc(alias = "data_hdl")]
    pub fn with_data_hdl<T>(&self, f: impl FnOnce(&mut H) -> T) -> T {
        f(&mut lock(&self.inner.service).data_hdl)
    }

    /// The device identification (the spec's read-write property).
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
    pub fn host(&self) -> std::string::String {
        lock(&self.inner.config).host.clone()
    }

    /// The configured port (see [`local_addr`](Self::local_addr) for the bound one).
    pub fn port(&self) -> u16 {
        lock(&self.inner.config).port
    }

    /// Changes the configuration; takes effect at the next `start()`.
    pub fn configure(&self, f: impl FnOnce(&mut ServerConfig)) {
        f(&mut lock(&self.inner.config));
    }

    /// The address the server listens on while it runs (port 0 in the
    /// configuration picks a free port; this tells which).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner.running).as_ref().map(|r| r.local_addr)
    }

    /// True while the server runs.
    pub fn is_run(&self) -> bool {
        lock(&self.inner.running).is_some()
    }

    /// Number of open client connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.inner.connections).open.len()
    }

    /// Binds and serves. With `no_block` it returns once listening;
    /// otherwise it serves on this thread until [`stop`](Self::stop) is
    /// called from elsewhere. Bind errors come back at once.
    pub fn start(&self) -> Result<(), ServerError> {
        let config = lock(&self.inner.config).clone();
        if config.max_connections == 0 {
            return Err(ServerError::InvalidConfig {
                reason: "max_connections is 0: no client could ever connect",
            });
        }
        let mut running = lock(&self.inner.running);
        if running.is_some() {
            return Err(ServerError::AlreadyRunning);
        }
        let addr = resolve(&config)?;
        let bind_error = |source| ServerError::Bind { addr, source };
        let listener = bind(addr, &config).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let listener = socket::listener(listener).map_err(bind_error)?;
        let (accept, registration) = AbortHandle::new_pair();
        let (release, released) = mpsc::channel();
        *running = Some(Running {
            local_addr,
            accept,
            released,
        });
        drop(running);
        info!("modbus server listening on {}", local_addr);

        let server = self.clone();
        let no_block = config.no_block;
        let accept_loop = Abortable::new(
            async move {
                // Dropped (listener closed) when the loop is aborted.
                let _release = ReleaseOnDrop(release);
                server.accept_loop(listener, config).await
            },
            registration,
        )
        .map(|_| ());
        if no_block {
            R::spawn(accept_loop);
        } else {
            R::block_on(accept_loop);
        }
        Ok(())
    }

    /// Stops: closes the listener and every client connection, and returns
    /// once the listener is released (at most about 1 s). Safe to call
    /// twice, or when not running. `start()` works again afterwards.
    pub fn stop(&self) {
        let Some(running) = lock(&self.inner.running).take() else {
            return;
        };
        running.accept.abort();
        let entries: Vec<_> = lock(&self.inner.connections)
            .open
            .drain()
            .map(|(_, e)| e)
            .collect();
        for entry in entries {
            entry.abort.abort();
            entry.stream.shutdown();
            self.emit(&ConnectionEvent::Disconnected {
                client: entry.client,
                reason: DisconnectReason::ServerStopped,
            });
        }
        let _ = running.released.recv_timeout(Duration::from_secs(1));
        info!("modbus server on {} stopped", running.local_addr);
    }

    fn emit(&self, event: &ConnectionEvent) {
        let hook = lock(&self.inner.on_event).clone();
        if let Some(hook) = hook {
            hook(event);
        }
    }

    async fn accept_loop(self, listener: Listener, config: ServerConfig) {
        let pool = Arc::new(pool::EnginePool::new(config.engine));
        loop {
            match socket::accept(&listener).await {
                Ok((stream, client)) => self.admit(stream, client, &config, &pool),
                Err(e) => {
                    // Out of file descriptors and the like: back off, don't spin.
                    warn!("modbus server: accept failed: {}", e);
                    R::sleep_until(std::time::Instant::now() + Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn admit(
        &self,
        stream: Socket,
        client: SocketAddr,
        config: &ServerConfig,
        pool: &Arc<pool::EnginePool>,
    ) {
        let mut connections = lock(&self.inner.connections);
        if connections.open.len() >= config.max_connections {
            let evicted = match config.on_limit {
                LimitPolicy::Refuse => None,
                LimitPolicy::EvictOldestIdle => connections
                    .oldest_idle()
                    .and_then(|id| connections.open.remove(&id)),
            };
            match evicted {
                Some(entry) => {
                    entry.abort.abort();
                    entry.stream.shutdown();
                    drop(connections);
                    self.emit(&ConnectionEvent::Disconnected {
                        client: entry.client,
                        reason: DisconnectReason::Evicted,
                    });
                    connections = lock(&self.inner.connections);
                }
                None => {
                    drop(connections);
                    stream.shutdown();
                    debug!("modbus server: refused {} (max_connections)", client);
                    self.emit(&ConnectionEvent::Refused { client });
                    return;
                }
            }
        }
        if config.nodelay {
            let _ = stream.set_nodelay(true);
        }
        let last_input = Arc::new(AtomicU64::new(now_micros()));
        let (abort, registration) = AbortHandle::new_pair();
        let id = connections.insert(Entry {
            client,
            abort,
            stream: stream.clone(),
            last_input: Arc::clone(&last_input),
        });
        drop(connections);
        debug!("modbus server: {} connected", client);
        self.emit(&ConnectionEvent::Connected { client });

        let server = self.clone();
        let service = Arc::clone(&self.inner.service);
        let pool = Arc::clone(pool);
        let task = Abortable::new(
            AssertUnwindSafe(connection::serve::<R, _>(
                stream, client, service, pool, last_input,
            ))
            .catch_unwind(),
            registration,
        );
        // `map`, not `async move { task.await }`: an async block keeps its
        // captured future and the awaited one in separate slots, doubling
        // the memory of every connection.
        R::spawn(task.map(move |result| {
            let reason = match result {
                Ok(Ok(reason)) => reason,
                Ok(Err(_panic)) => DisconnectReason::HandlerPanicked,
                // Aborted by stop() or eviction, which already reported it.
                Err(_aborted) => return,
            };
            if let Some(entry) = lock(&server.inner.connections).open.remove(&id) {
                entry.stream.shutdown();
            }
            debug!("modbus server: {} disconnected: {:?}", client, reason);
            server.emit(&ConnectionEvent::Disconnected { client, reason });
        }));
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
