//! The simulator's command line, shared by the `server` and `smol_server`
//! examples: the runtime is a type parameter (`--runtime` picks it).

use std::fmt;
use std::net::SocketAddr;
use std::process::exit;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

// The generic server, because this code runs on either runtime; a program
// for one runtime names `runtimes::async_std::ModbusServer` or
// `runtimes::smol::ModbusServer` (see the other examples).
use modbus_device::runtimes::{ConnectionEvent, ModbusServer, Runtime, ServerConfig};
use modbus_device::{ChangeCallbacks, DataBank, DefaultHandler, HeapStorage, Service, SessionInfo};

use crate::{config, logger, rtu};

#[path = "security.rs"]
mod security;

const USAGE: &str =
    "usage: server [--host HOST] [--port PORT] [--ipv6] [--config FILE] [--runtime NAME]
  --host HOST    name or address to listen on (default localhost; ::1 for IPv6 loopback, :: for all)
  --port PORT    TCP port (default 502, 802 with TLS; ports below 1024 need privileges)
  --ipv6         resolve HOST to an IPv6 address (an IPv4 address is an error)
  --config FILE  TOML file: table sizes, initial values, device identification
                 (every key: examples/server/sample.toml)
  --runtime NAME async-std, smol or tokio: each one the program was built with
                 (cargo --features); default: async-std in `server`, smol in `smol_server`
  --tls-cert FILE --tls-key FILE --tls-client-ca FILE
                 Modbus/TCP Security (PEM files; build with --features tls): TLS 1.2/1.3,
                 client certificates required, verified against the CA(s) of --tls-client-ca
  --roles FILE   TOML role map, [roles.NAME] functions = [...] (units, ranges optional):
                 authorizes every request by the client certificate's role (needs TLS);
                 without it every authenticated client may do everything
  MODBUS_LOG=debug|info|warn|off sets the log level (default info)";

fn usage() -> String {
    format!("{USAGE}{}", rtu::USAGE)
}

struct Args {
    host: String,
    /// `None`: the default, 502, or 802 with TLS.
    port: Option<u16>,
    ipv6: bool,
    config: Option<String>,
    security: security::SecurityArgs,
    rtu: rtu::RtuArgs,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "localhost".into(),
        port: None,
        ipv6: false,
        config: None,
        security: security::SecurityArgs::default(),
        rtu: rtu::RtuArgs::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => args.host = value("--host")?,
            "--port" => {
                let v = value("--port")?;
                args.port = Some(
                    v.parse()
                        .map_err(|_| format!("--port {v:?} is not a port number 0..=65535"))?,
                );
            }
            "--ipv6" => args.ipv6 = true,
            "--config" => args.config = Some(value("--config")?),
            // Chosen by `runtime_choice` before this runs.
            "--runtime" => drop(value("--runtime")?),
            "-h" | "--help" => {
                println!("{}", usage());
                exit(0);
            }
            other if args.security.take(other, &mut value)? => {}
            other if args.rtu.parse(other, &mut value)? => {}
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    check_ipv6_host(&args.host, args.ipv6)?;
    args.security.tls_on()?;
    Ok(args)
}

/// The runtime `--runtime` names among `available` (those this program
/// was built with), or `default`; a name that is not available ends the
/// program with a usage error that says how to build it in.
pub fn runtime_choice(available: &[&'static str], default: &'static str) -> &'static str {
    let mut args = std::env::args().skip(1);
    let mut chosen = None;
    while let Some(arg) = args.next() {
        if arg == "--runtime" {
            chosen = args.next().or_else(|| {
                eprintln!("error: --runtime needs a value\n{USAGE}");
                exit(2)
            });
        }
    }
    let Some(name) = chosen else {
        return default;
    };
    if let Some(found) = available.iter().find(|a| **a == name) {
        return found;
    }
    if ["async-std", "smol", "tokio"].contains(&name.as_str()) {
        eprintln!(
            "error: --runtime {name}: this program was built without it (build with --features {name}); available: {}",
            available.join(", ")
        );
    } else {
        eprintln!("error: --runtime {name:?}: not a runtime (async-std, smol or tokio)\n{USAGE}");
    }
    exit(2)
}

/// `--ipv6` asks for an IPv6 listener; the server would bind an IPv4
/// address literal as given, an IPv4 listener, so the pair is refused.
fn check_ipv6_host(host: &str, ipv6: bool) -> Result<(), String> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if ipv6 && literal.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!(
            "--ipv6 with the IPv4 address {host}: give an IPv6 address (::1, ::) or a host name, or drop --ipv6"
        ));
    }
    Ok(())
}

/// Values a change line shows; the rest are counted ("(+92 more)").
const SHOWN: usize = 8;

/// Changes waiting for the reporter thread; beyond this they are dropped
/// (and counted with the logger's dropped lines).
const QUEUE_CHANGES: usize = 4096;

/// Per-connection lines (connected, disconnected) logged each second; the
/// rest are counted, so a client churning connections cannot flood the log.
const CONNECTION_LINES_PER_SECOND: u32 = 10;

#[derive(Clone, Copy)]
enum Table {
    Coils,
    HoldingRegisters,
}

/// One contiguous run of changed values, as the callback records it: fixed
/// size and no heap, so recording it under the service lock is cheap; the
/// reporter thread formats it.
struct Change {
    table: Table,
    address: u16,
    len: usize,
    first: [u16; SHOWN],
    client: Option<SocketAddr>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let table = match self.table {
            Table::Coils => "coils",
            Table::HoldingRegisters => "holding registers",
        };
        let end = usize::from(self.address) + self.len;
        write!(f, "{table} {}..{end} changed by ", self.address)?;
        match self.client {
            Some(client) => write!(f, "{client}: [")?,
            None => write!(f, "local: [")?,
        }
        for (i, value) in self.first.iter().take(self.len).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            match self.table {
                Table::Coils => write!(f, "{sep}{}", *value != 0)?,
                Table::HoldingRegisters => write!(f, "{sep}{value}")?,
            }
        }
        write!(f, "]")?;
        if self.len > SHOWN {
            write!(f, " (+{} more)", self.len - SHOWN)?;
        }
        Ok(())
    }
}

/// Logs every change a client makes (pyModbusTCP's "change monitoring"
/// example), one line per change. The library calls these callbacks under
/// the service lock, so they only queue a [`Change`].
struct ChangeLog(SyncSender<Change>);

impl ChangeLog {
    fn record(
        &mut self,
        table: Table,
        address: u16,
        to: impl ExactSizeIterator<Item = u16>,
        srv_info: &SessionInfo,
    ) {
        if !log::log_enabled!(log::Level::Info) {
            return;
        }
        let len = to.len();
        let mut first = [0; SHOWN];
        for (slot, value) in first.iter_mut().zip(to) {
            *slot = value;
        }
        let change = Change {
            table,
            address,
            len,
            first,
            client: srv_info.client_addr,
        };
        if self.0.try_send(change).is_err() {
            logger::count_dropped(1);
        }
    }
}

impl ChangeCallbacks for ChangeLog {
    fn on_coils_change(
        &mut self,
        address: u16,
        _from: &[bool],
        to: &[bool],
        srv_info: &SessionInfo,
    ) {
        let to = to.iter().map(|&on| u16::from(on));
        self.record(Table::Coils, address, to, srv_info);
    }

    fn on_holding_registers_change(
        &mut self,
        address: u16,
        _from: &[u16],
        to: &[u16],
        srv_info: &SessionInfo,
    ) {
        self.record(
            Table::HoldingRegisters,
            address,
            to.iter().copied(),
            srv_info,
        );
    }
}

/// Connection events, counted where an attacker can trigger them in bulk.
///
/// Refusals are only counted, and reported once a second: each one is the
/// same line. Connected and disconnected lines stay at info, one by one,
/// because a simulator user wants to see their client come and go (and
/// why it went); past a few a second they are counted instead.
#[derive(Default)]
struct ConnectionLog {
    refused: AtomicU64,
    shown: AtomicU32,
    hidden: AtomicU64,
}

impl ConnectionLog {
    fn on_event(&self, event: &ConnectionEvent) {
        match event {
            ConnectionEvent::Refused { .. } => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            ConnectionEvent::Connected { client } if self.may_show() => {
                log::info!("{client} connected")
            }
            ConnectionEvent::Disconnected { client, reason } if self.may_show() => {
                log::info!("{client} disconnected: {reason:?}")
            }
            _ => {}
        }
    }

    /// Whether this second's budget of connection lines has room.
    fn may_show(&self) -> bool {
        if !log::log_enabled!(log::Level::Info) {
            return false;
        }
        let room = self.shown.fetch_add(1, Ordering::Relaxed) < CONNECTION_LINES_PER_SECOND;
        if !room {
            self.hidden.fetch_add(1, Ordering::Relaxed);
        }
        room
    }

    /// Once a second: what was counted, and a new budget.
    fn report(&self) {
        self.shown.store(0, Ordering::Relaxed);
        let refused = self.refused.swap(0, Ordering::Relaxed);
        if refused > 0 {
            log::warn!("refused {refused} connections in the last second: too many connections");
        }
        let hidden = self.hidden.swap(0, Ordering::Relaxed);
        if hidden > 0 {
            log::info!("{hidden} more connected/disconnected lines in the last second (not shown)");
        }
    }
}

/// The reporter thread: formats the queued changes outside the service
/// lock, and ticks the connection counters once a second.
fn report(changes: Receiver<Change>, connections: &ConnectionLog) {
    const SECOND: Duration = Duration::from_secs(1);
    let mut tick = Instant::now() + SECOND;
    loop {
        let now = Instant::now();
        if now >= tick {
            connections.report();
            tick = now + SECOND;
        }
        match changes.recv_timeout(tick - now) {
            Ok(change) => {
                log::info!("{change}");
                for change in changes.try_iter() {
                    log::info!("{change}");
                }
                // Let the next changes gather: a busy server then wakes
                // this thread once per pause, not once per change.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The runtime's info records ("listening on", "stopped") repeat the lines
/// this program prints on stdout, so they are dropped (its warnings and
/// debug records are kept).
fn reported_by_this_program(metadata: &log::Metadata) -> bool {
    metadata.level() == log::Level::Info && metadata.target().starts_with("modbus_device::runtimes")
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    exit(1)
}

pub fn main<R: Runtime>(name: &str) {
    let level = match std::env::var("MODBUS_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("error") => log::LevelFilter::Error,
        Ok("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Info,
    };
    logger::init(level, reported_by_this_program);

    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("error: {e}\n{}", usage());
        exit(2)
    });
    let (sim, bank) = config::load(args.config.as_deref()).unwrap_or_else(|e| fail(e));
    let (storage, _, files) = bank.into_parts_with_files();
    let (changes, queued) = mpsc::sync_channel(QUEUE_CHANGES);
    let connections: &'static ConnectionLog = Box::leak(Box::default());
    std::thread::Builder::new()
        .name("change-log".into())
        .spawn(move || report(queued, connections))
        .unwrap_or_else(|e| fail(format!("cannot start the reporter thread: {e}")));
    let bank = DataBank::<HeapStorage, ChangeLog>::with_callbacks(storage, ChangeLog(changes))
        .with_files(files);
    let mut service = Service::with_handler(bank, DefaultHandler);
    service.device_identification = sim.device_identification.clone();
    service.server_id = Some(sim.server_id.clone());

    let tls = security::tls_config(&args.security).unwrap_or_else(|e| fail(e));
    if let Some(path) = &args.security.roles {
        let roles = security::load_roles(path).unwrap_or_else(|e| fail(e));
        service.set_authorizer(Some(modbus_device::authorize::Authorizer::new(roles)));
    }
    let default_port = if tls.is_some() { 802 } else { 502 };
    let mut config = ServerConfig {
        host: args.host,
        port: args.port.unwrap_or(default_port),
        ipv6: args.ipv6,
        no_block: true,
        ..ServerConfig::default()
    };
    #[cfg(feature = "tls")]
    {
        config.tls = tls;
    }
    if let Some(max) = sim.max_connections {
        config.max_connections = max;
    }
    if let Some(per_ip) = sim.max_connections_per_ip {
        config.max_connections_per_ip = per_ip;
    }
    if let Some(policy) = sim.on_limit {
        config.on_limit = policy;
    }
    if let Some(idle) = sim.idle_timeout {
        config.engine.idle_timeout = idle;
    }
    if let Some(cap) = sim.send_buffer {
        config.send_buffer = cap;
    }
    if let Some(cap) = sim.recv_buffer {
        config.recv_buffer = cap;
    }
    args.rtu.configure(&mut config).unwrap_or_else(|e| fail(e));
    let server = ModbusServer::<R, _, _>::new(config, service);
    server.on_event(|event| connections.on_event(event));
    // Before `start()` and the "listening" line: a Ctrl-C that arrives as
    // soon as a user (or a test) sees that line must stop the server
    // cleanly, not kill the process with the default SIGINT action.
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .unwrap_or_else(|e| fail(format!("cannot install the Ctrl-C handler: {e}")));
    server.start().unwrap_or_else(|e| fail(e));
    let addr = server
        .local_addr()
        .map_or_else(|| "?".into(), |a| a.to_string());
    println!("{name}: modbus-device listening on {addr} (Ctrl-C to stop)");
    args.rtu.serve(&server).unwrap_or_else(|e| fail(e));

    let _ = stop_rx.recv();
    server.stop();
    log::logger().flush();
    println!("{name}: stopped");
}
