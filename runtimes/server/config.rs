//! Configuration, errors and events of the desktop server.

use std::io;
use std::net::SocketAddr;
use std::string::String;

use crate::engine::{CloseReason, EngineConfig};

/// Default of [`ServerConfig::max_connections_per_ip`]. A Modbus master
/// holds one connection, a SCADA host or gateway a few per device it polls; 64 leaves such hosts plenty of room, while one hostile
/// address holds at most 1/16 of the default 1,024 slots, so that at least
/// 16 addresses always fit. A fixed number rather than a fraction of
/// `max_connections`: lowering `max_connections` on a small server should
/// not also throttle its one legitimate master.
const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;

/// Default of `ServerConfig::send_buffer` and `recv_buffer`: 64 KiB (Linux reserves 128 KiB).
///
/// A Modbus answer is at most 260 bytes, and a client keeps a few dozen
/// requests in flight at most, so a few kilobytes carry any real
/// connection at full speed; 64 KiB is still 250 maximal answers, several
/// times what one batch or one pipelining client needs, so loopback and
/// LAN throughput stay as they are. What it bounds is a client that never
/// reads: the kernel's autotuning grows a send buffer to 4 MiB (Linux
/// `tcp_wmem`), and a few hundred such clients then hold gigabytes and push
/// the whole machine into TCP memory pressure. The receive side is pinned
/// at Linux's own starting size (`tcp_rmem`: 128 KiB reserved), which the
/// autotuning would otherwise grow while the client keeps sending.
const DEFAULT_SOCKET_BUFFER: usize = 64 * 1024;

/// What to do with a new connection when [`ServerConfig::max_connections`]
/// are open, or [`ServerConfig::max_connections_per_ip`] from its address.
///
/// Either way, connections whose client has already closed them are
/// released first: a limit is only enforced against live connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LimitPolicy {
    /// Close the new connection at once
    /// ([`ConnectionEvent::Refused`]).
    #[default]
    Refuse,
    /// Close the open connection doing the least useful work, and accept
    /// the new one: the connection whose last two responses reach back
    /// furthest (two, so that the ranking measures a rate and does not
    /// depend on who happened to be answered a moment ago), a connection
    /// with fewer counting from when it was accepted. A client polling
    /// every second outlives one that trickles a request over several
    /// seconds, or never completes one, or does not read its responses. When the
    /// new connection's address is at its
    /// [`max_connections_per_ip`](ServerConfig::max_connections_per_ip),
    /// the connection closed is one of that address's; otherwise it is
    /// any address's. The evicted connection is reported as
    /// [`DisconnectReason::Evicted`].
    EvictLeastActive,
}

/// Everything pyModbusTCP's `ModbusServer(host, port, no_block, ipv6, ...)`
/// constructor takes, plus the production limits pyModbusTCP lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "ServerInfo")]
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
    /// Most connections open at once from one client address, so that one
    /// host cannot hold every slot. Default 64: a Modbus master holds one
    /// connection, a SCADA host or gateway a few, while one hostile address
    /// holds at most 1/16 of the default 1,024 slots. Must not be 0.
    ///
    /// An IPv4 client reaching a dual-stack (`"::"`) listener, seen as an
    /// IPv4-mapped IPv6 address, counts as its IPv4 address. Set it to
    /// `max_connections` (or more) to have no per-address limit, e.g.
    /// behind a proxy or NAT that presents every client with one address.
    pub max_connections_per_ip: usize,
    /// What happens beyond `max_connections` or `max_connections_per_ip`.
    /// Default [`LimitPolicy::Refuse`].
    pub on_limit: LimitPolicy,
    /// Idle and stalled-frame timeouts of each connection.
    pub engine: EngineConfig,
    /// Set TCP_NODELAY on accepted connections (responses leave at once). Default true.
    pub nodelay: bool,
    /// Kernel send buffer of each accepted connection (SO_SNDBUF), in
    /// bytes; `None` leaves it to the kernel's autotuning. Default
    /// `Some(65536)` (64 KiB: 250 maximal answers), which carries any real
    /// Modbus client at full speed.
    ///
    /// This bounds the memory of a client that sends requests and never
    /// reads the answers: once its answers fill this buffer the
    /// connection stops reading its requests, and it is closed when
    /// its write has stalled for the idle timeout
    /// ([`CloseReason::WriteTimeout`]). Without a cap, Linux lets each such
    /// socket grow to 4 MiB. Setting it turns the autotuning off for the
    /// socket; Linux reserves twice the value, and raises values below its
    /// minimum (about 4.5 KiB).
    pub send_buffer: Option<usize>,
    /// Kernel receive buffer of each accepted connection (SO_RCVBUF), in
    /// bytes; `None` leaves it to the kernel's autotuning. Default
    /// `Some(65536)` (64 KiB): room for thousands of small
    /// pipelined requests, and a bound on what a client can queue while its
    /// connection does not read. As for `send_buffer`, Linux reserves twice
    /// the value.
    pub recv_buffer: Option<usize>,
    /// Set SO_REUSEADDR on the listener (restart without waiting for
    /// TIME_WAIT). Default true.
    pub reuse_address: bool,
    /// Listen backlog: connections the kernel queues before they are
    /// accepted. Default 1024 (pyModbusTCP's 5 makes bursts wait for SYN retries).
    pub backlog: i32,
    /// Modbus/TCP Security (feature `tls`): serve every connection through
    /// TLS with a client certificate required. `None` (the default) serves
    /// plain Modbus TCP. Give it [`TLS_PORT`](super::tls::TLS_PORT) (802)
    /// as the port.
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::TlsConfig>,
    /// How requests are framed on the connections. Default
    /// [`TcpFraming::Mbap`] (Modbus TCP).
    pub framing: TcpFraming,
}

/// How requests are framed on a server's TCP connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpFraming {
    /// Modbus TCP: an MBAP header before each PDU (the default).
    #[default]
    Mbap,
    /// RTU frames (address, PDU, CRC) on TCP, as serial gateways forward
    /// them (feature `rtu`). A frame's length follows from its function
    /// code; every address is answered (the service's
    /// [`UnitFilter`](crate::UnitFilter) decides); the engine's idle
    /// timeout applies; connections do not park.
    #[cfg(feature = "rtu")]
    Rtu,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: String::from("localhost"),
            port: 502,
            no_block: false,
            ipv6: false,
            max_connections: 1024,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            on_limit: LimitPolicy::Refuse,
            engine: EngineConfig::default(),
            nodelay: true,
            send_buffer: Some(DEFAULT_SOCKET_BUFFER),
            recv_buffer: Some(DEFAULT_SOCKET_BUFFER),
            reuse_address: true,
            backlog: 1024,
            #[cfg(feature = "tls")]
            tls: None,
            framing: TcpFraming::Mbap,
        }
    }
}

/// Why the server cannot start (pyModbusTCP's `ModbusServer.Error` family).
#[doc(alias = "Error")]
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
    /// Binding or listening failed (pyModbusTCP's `NetworkError`): address in
    /// use, permission denied, address not available, ...
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `start()` while the server runs.
    AlreadyRunning,
    /// A blocking `start()` (`no_block` false) on a thread that runs the
    /// async runtime's tasks (inside a tokio runtime), where blocking would
    /// stall them: use `server.run().await` there, or set `no_block`.
    BlockingInRuntime,
    /// An impossible configuration.
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// The runtime cannot run the server's tasks (from
    /// [`Runtime::prepare`](super::Runtime::prepare)): the smol adapter
    /// could not start a single executor thread, say. Nothing listens.
    Runtime {
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: io::Error,
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
            ServerError::BlockingInRuntime => f.write_str(
                "a blocking start() would stall the async runtime it is called from: use `server.run().await` there, or set no_block",
            ),
            ServerError::InvalidConfig { reason } => {
                write!(f, "invalid server configuration: {reason}")
            }
            ServerError::Runtime { what, source } => {
                write!(f, "the runtime cannot serve: {what}: {source}")
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
            | ServerError::Bind { source: e, .. }
            | ServerError::Runtime { source: e, .. } => Some(e),
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
    /// Evicted to make room under [`LimitPolicy::EvictLeastActive`].
    Evicted,
    /// The server stopped.
    ServerStopped,
    /// The TLS handshake failed or timed out, or the client certificate
    /// cannot be used (feature `tls`): what went wrong.
    #[cfg(feature = "tls")]
    Tls(String),
    /// Refused at admission, beyond a limit under [`LimitPolicy::Refuse`]:
    /// only what `serve_connection` returns for a stream it did not serve
    /// (reported as [`ConnectionEvent::Refused`], never as a disconnect).
    Refused,
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
    /// A connection was refused: [`ServerConfig::max_connections`] or its
    /// address's [`ServerConfig::max_connections_per_ip`] reached, under
    /// [`LimitPolicy::Refuse`].
    Refused {
        /// The client's address.
        client: SocketAddr,
    },
}
