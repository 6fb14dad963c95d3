//! Configuration, errors and events of the desktop server.

use std::io;
use std::net::SocketAddr;
use std::string::String;

use crate::engine::{CloseReason, EngineConfig};

/// What to do with a new connection when [`ServerConfig::max_connections`]
/// are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LimitPolicy {
    /// Close the new connection at once.
    #[default]
    Refuse,
    /// Close the open connection that has been idle longest, and accept the new one.
    EvictOldestIdle,
}

/// Everything the spec's `ModbusServer(host, port, no_block, ipv6, ...)`
/// constructor takes, plus the production limits pyModbusTCP lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Name or address to listen on. Default `"localhost"`. `"::"` listens
    /// on every IPv6 and (dual-stack) IPv4 address; `"0.0.0.0"` on every IPv4 one.
    pub host: String,
    /// TCP port. Default 502 (needs privileges on most systems; use a port above 1023 for tests).
    pub port: u16,
    /// `start()` returns at once and serves in the background; otherwise it
    /// serves until `stop()`. Default false.
    pub no_block: bool,
    /// Resolve `host` to an IPv6 address (e.g. `"localhost"` → `::1`). Default false.
    pub ipv6: bool,
    /// Most connections open at once. Default 1024.
    pub max_connections: usize,
    /// What happens beyond `max_connections`. Default [`LimitPolicy::Refuse`].
    pub on_limit: LimitPolicy,
    /// Idle and stalled-frame timeouts of each connection.
    pub engine: EngineConfig,
    /// Set TCP_NODELAY on accepted connections (responses leave at once). Default true.
    pub nodelay: bool,
    /// Set SO_REUSEADDR on the listener (restart without waiting for
    /// TIME_WAIT). Default true.
    pub reuse_address: bool,
    /// Listen backlog: connections the kernel queues before they are
    /// accepted. Default 1024 (pyModbusTCP's 5 makes bursts wait for SYN retries).
    pub backlog: i32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: String::from("localhost"),
            port: 502,
            no_block: false,
            ipv6: false,
            max_connections: 1024,
            on_limit: LimitPolicy::Refuse,
            engine: EngineConfig::default(),
            nodelay: true,
            reuse_address: true,
            backlog: 1024,
        }
    }
}

/// Why the server cannot start (the spec's `ModbusServer.Error` family).
#[doc(alias = "NetworkError")]
#[doc(alias = "DataFormatError")]
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The host name did not resolve to an address of the asked family.
    Resolve {
        /// The host given.
        host: String,
        /// Whether an IPv6 address was asked for.
        ipv6: bool,
        /// The resolver's error, if it failed (rather than finding no address).
        source: Option<io::Error>,
    },
    /// Binding or listening failed (the spec's `NetworkError`): address in
    /// use, permission denied, address not available, ...
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `start()` while the server runs.
    AlreadyRunning,
    /// An impossible configuration.
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
}

impl core::fmt::Display for ServerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServerError::Resolve { host, ipv6, source } => {
                let family = if *ipv6 { "IPv6" } else { "IPv4" };
                match source {
                    Some(e) => write!(f, "cannot resolve host {host:?}: {e}"),
                    None => write!(f, "host {host:?} has no {family} address"),
                }
            }
            ServerError::Bind { addr, source } => {
                write!(f, "cannot listen on {addr}: {source}")?;
                match source.kind() {
                    io::ErrorKind::PermissionDenied if addr.port() < 1024 => write!(
                        f,
                        " (ports below 1024 need privileges: run as root, grant CAP_NET_BIND_SERVICE, or use a port above 1023 such as 1502)"
                    ),
                    io::ErrorKind::AddrInUse => f.write_str(" (another program, or another server instance, listens there)"),
                    io::ErrorKind::AddrNotAvailable => f.write_str(" (no local interface has this address)"),
                    _ => Ok(()),
                }
            }
            ServerError::AlreadyRunning => f.write_str("the server is already running"),
            ServerError::InvalidConfig { reason } => {
                write!(f, "invalid server configuration: {reason}")
            }
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Resolve {
                source: Some(e), ..
            }
            | ServerError::Bind { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed it.
    PeerClosed,
    /// The engine closed it (broken header, idle or frame timeout).
    Closed(CloseReason),
    /// A socket error (reset by peer, ...).
    Io(io::ErrorKind),
    /// A user handler or callback panicked while serving it; the server
    /// goes on serving every other connection.
    HandlerPanicked,
    /// Evicted to make room under [`LimitPolicy::EvictOldestIdle`].
    Evicted,
    /// The server stopped.
    ServerStopped,
}

/// Connection life-cycle events, for the application (pyModbusTCP users ask
/// for them). Delivered on the runtime's threads: keep the callback short.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A client connected.
    Connected {
        /// The client's address.
        client: SocketAddr,
    },
    /// A client's connection ended.
    Disconnected {
        /// The client's address.
        client: SocketAddr,
        /// Why.
        reason: DisconnectReason,
    },
    /// A connection was refused: `max_connections` reached.
    Refused {
        /// The client's address.
        client: SocketAddr,
    },
}
