//! The simulator's command line, shared by the async-std (`server`) and smol
//! (`smol_server`) examples: they differ only in the runtime type.

use std::process::exit;
use std::sync::mpsc;

use modbus_server::runtimes::{ConnectionEvent, ModbusServer, Runtime, ServerConfig};
use modbus_server::{ChangeCallbacks, DataBank, DefaultHandler, HeapStorage, Service, SessionInfo};

use crate::config::SimConfig;

const USAGE: &str = "usage: server [--host HOST] [--port PORT] [--ipv6] [--config FILE]
  --host HOST    name or address to listen on (default localhost; ::1 for IPv6 loopback, :: for all)
  --port PORT    TCP port (default 502; ports below 1024 need privileges)
  --ipv6         resolve HOST to an IPv6 address
  --config FILE  TOML file: table sizes, initial values, device identification
  MODBUS_LOG=debug|info|warn sets the log level (default info)";

struct Args {
    host: String,
    port: u16,
    ipv6: bool,
    config: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "localhost".into(),
        port: 502,
        ipv6: false,
        config: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => args.host = value("--host")?,
            "--port" => {
                let v = value("--port")?;
                args.port = v
                    .parse()
                    .map_err(|_| format!("--port {v:?} is not a port number 0..=65535"))?;
            }
            "--ipv6" => args.ipv6 = true,
            "--config" => args.config = Some(value("--config")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(args)
}

/// Logs every change a client makes (the spec's "change monitoring").
struct ChangeLog;

impl ChangeCallbacks for ChangeLog {
    fn on_coils_change(
        &mut self,
        address: u16,
        from: &[bool],
        to: &[bool],
        srv_info: &SessionInfo,
    ) {
        log::info!(
            "coils {address}..={} changed {from:?} -> {to:?} by {}",
            last(address, to.len()),
            client(srv_info)
        );
    }

    fn on_holding_registers_change(
        &mut self,
        address: u16,
        from: &[u16],
        to: &[u16],
        srv_info: &SessionInfo,
    ) {
        log::info!(
            "holding registers {address}..={} changed {from:?} -> {to:?} by {}",
            last(address, to.len()),
            client(srv_info)
        );
    }
}

fn last(address: u16, len: usize) -> usize {
    usize::from(address) + len.saturating_sub(1)
}

fn client(srv_info: &SessionInfo) -> String {
    srv_info
        .client_addr
        .map_or_else(|| "local".into(), |a| a.to_string())
}

/// A minimal stderr logger, so the example needs no logging crate.
struct StderrLogger(log::LevelFilter);

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.0
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
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
    let _ = log::set_logger(Box::leak(Box::new(StderrLogger(level))))
        .map(|()| log::set_max_level(level));

    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("error: {e}\n{USAGE}");
        exit(2)
    });
    let sim = match &args.config {
        Some(path) => SimConfig::load(path).unwrap_or_else(|e| fail(e)),
        None => SimConfig::defaults(),
    };
    let (storage, _) = sim
        .build_data_bank()
        .unwrap_or_else(|e| fail(e))
        .into_parts();
    let bank = DataBank::<HeapStorage, ChangeLog>::with_callbacks(storage, ChangeLog);
    let mut service = Service::with_handler(bank, DefaultHandler);
    service.device_identification = sim.device_identification.clone();

    let mut config = ServerConfig {
        host: args.host,
        port: args.port,
        ipv6: args.ipv6,
        no_block: true,
        ..ServerConfig::default()
    };
    if let Some(max) = sim.max_connections {
        config.max_connections = max;
    }
    if let Some(idle) = sim.idle_timeout {
        config.engine.idle_timeout = idle;
    }
    let server = ModbusServer::<R, _, _, _>::new(config, service);
    server.on_event(|event| match event {
        ConnectionEvent::Connected { client } => log::info!("{client} connected"),
        ConnectionEvent::Disconnected { client, reason } => {
            log::info!("{client} disconnected: {reason:?}")
        }
        ConnectionEvent::Refused { client } => log::warn!("{client} refused: too many connections"),
        _ => {}
    });
    server.start().unwrap_or_else(|e| fail(e));
    let addr = server
        .local_addr()
        .map_or_else(|| "?".into(), |a| a.to_string());
    println!("{name}: modbus-server listening on {addr} (Ctrl-C to stop)");

    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .unwrap_or_else(|e| fail(format!("cannot install the Ctrl-C handler: {e}")));
    let _ = stop_rx.recv();
    server.stop();
    println!("{name}: stopped");
}
