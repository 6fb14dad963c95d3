//! pyModbusTCP's "Basic Server Setup": a data bank with initial values, served
//! in the background.
//!
//! ```sh
//! cargo run --features async-std --example basic_server -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{DataBank, Service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse();

    // Create data bank with initial values.
    let mut data_bank = DataBank::default();
    data_bank.set_holding_registers(0, &[100, 200, 300, 400, 500])?;
    data_bank.set_coils(0, &[true, false, true, false])?;

    // Create and start the server; `no_block` serves in the background.
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let server = ModbusServer::new(config, Service::new(data_bank));
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
    Ok(())
}
