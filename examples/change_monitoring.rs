//! The spec's "Custom Data Bank with Change Monitoring": print every change
//! a client makes to coils and holding registers, with the client's address.
//!
//! ```sh
//! cargo run --features async-std --example change_monitoring -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_server::runtimes::async_std::ModbusServer;
use modbus_server::runtimes::ServerConfig;
use modbus_server::{ChangeCallbacks, DataBank, HeapStorage, Service, SessionInfo};

/// The spec's `MonitoredDataBank`: its two callbacks.
struct Monitor;

fn client(srv_info: &SessionInfo) -> String {
    srv_info
        .client_addr
        .map_or_else(|| "unknown".into(), |a| a.to_string())
}

impl ChangeCallbacks for Monitor {
    fn on_holding_registers_change(
        &mut self,
        address: u16,
        from: &[u16],
        to: &[u16],
        srv_info: &SessionInfo,
    ) {
        let last = usize::from(address) + to.len() - 1;
        println!("Registers {address}-{last} changed:");
        println!(" From: {from:?}");
        println!(" To: {to:?}");
        println!(" Client: {}", client(srv_info));
    }

    fn on_coils_change(
        &mut self,
        address: u16,
        from: &[bool],
        to: &[bool],
        srv_info: &SessionInfo,
    ) {
        let last = usize::from(address) + to.len() - 1;
        println!("Coils {address}-{last} changed:");
        println!(" From: {from:?}");
        println!(" To: {to:?}");
        println!(" Client: {}", client(srv_info));
    }
}

fn main() {
    let args = args::Args::parse();
    let bank = DataBank::with_callbacks(HeapStorage::with_defaults(), Monitor);
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
