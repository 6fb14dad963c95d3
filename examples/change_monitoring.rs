//! pyModbusTCP's "Custom Data Bank with Change Monitoring": print every change
//! a client makes to coils and holding registers, with the client's address.
//!
//! ```sh
//! cargo run --features async-std --example change_monitoring -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use std::fmt;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, SyncSender};

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{ChangeCallbacks, DataBank, HeapStorage, Service, SessionInfo};

/// One change, as the callback records it: copied, formatted later.
struct Change {
    kind: &'static str,
    address: u16,
    last: usize,
    from: Values,
    to: Values,
    client: Option<SocketAddr>,
}

enum Values {
    Bits(Vec<bool>),
    Words(Vec<u16>),
}

/// pyModbusTCP's `MonitoredDataBank`: its two callbacks. The library calls
/// them under the service lock, where printing could stall every client (a
/// slow terminal, a full pipe), so they only queue the change for the
/// printer thread; when the queue is full the change is not printed.
struct Monitor(SyncSender<Change>);

impl ChangeCallbacks for Monitor {
    fn on_holding_registers_change(
        &mut self,
        address: u16,
        from: &[u16],
        to: &[u16],
        srv_info: &SessionInfo,
    ) {
        let _ = self.0.try_send(Change {
            kind: "Registers",
            address,
            last: usize::from(address) + to.len() - 1,
            from: Values::Words(from.to_vec()),
            to: Values::Words(to.to_vec()),
            client: srv_info.client_addr,
        });
    }

    fn on_coils_change(
        &mut self,
        address: u16,
        from: &[bool],
        to: &[bool],
        srv_info: &SessionInfo,
    ) {
        let _ = self.0.try_send(Change {
            kind: "Coils",
            address,
            last: usize::from(address) + to.len() - 1,
            from: Values::Bits(from.to_vec()),
            to: Values::Bits(to.to_vec()),
            client: srv_info.client_addr,
        });
    }
}

impl fmt::Display for Values {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Values::Bits(v) => write!(f, "{v:?}"),
            Values::Words(v) => write!(f, "{v:?}"),
        }
    }
}

/// The printer thread: the only place that writes stdout.
fn print_changes(changes: Receiver<Change>) {
    for c in changes {
        let client = c.client.map_or_else(|| "unknown".into(), |a| a.to_string());
        println!(
            "{} {}-{} changed:\n From: {}\n To: {}\n Client: {client}",
            c.kind, c.address, c.last, c.from, c.to
        );
    }
}

fn main() {
    let args = args::Args::parse();
    let (changes, queued) = mpsc::sync_channel(1024);
    std::thread::spawn(move || print_changes(queued));
    let bank = DataBank::with_callbacks(HeapStorage::with_defaults(), Monitor(changes));
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let server = ModbusServer::new(config, Service::new(bank));
    if let Err(e) = server.start() {
        eprintln!("error: failed to start server: {e}");
        std::process::exit(1);
    }
    if let Some(addr) = server.local_addr() {
        println!("listening on {addr}");
    }
    args.wait();
    server.stop();
    println!("stopped");
}
