//! Different data per unit id (a gateway in front of several devices):
//! `UnitRouter` serves each routed unit id from its own data bank.
//!
//! Units 0 and 1 are served by the router's default bank; units 2 and 3
//! each have their own bank; every other unit id is
//! answered with exception 0x0B (gateway target device failed to respond).
//! Holding register 0 of each bank holds its unit number, so a client sees
//! which device answered.
//!
//! ```sh
//! cargo run --features async-std --example unit_routing -- --port 1502 [--seconds 10]
//! mbpoll -m tcp -p 1502 -a 2 -r 1 -c 1 -1 127.0.0.1
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{DataBank, HeapStorage, Service, UnitFilter, UnitRouter, UnitSet};

type Bank = DataBank<HeapStorage>;

/// A bank whose holding register 0 holds `unit`.
fn bank_of(unit: u16) -> Bank {
    let mut bank = Bank::default();
    // Address 0 exists in a default-sized table: cannot fail.
    let _ = bank.set_holding_registers(0, &[unit]);
    bank
}

fn main() {
    let args = args::Args::parse();
    // Units 2 and 3 have banks of their own; every other unit id goes to
    // the default bank, and the unit filter lets only 0 and 1 reach it.
    let router = UnitRouter::<HeapStorage>::new(bank_of(1))
        .route(2, bank_of(2))
        .and_then(|router| router.route(3, bank_of(3)))
        .expect("two distinct unit ids fit in a router");
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let service = Service::new(router)
        .with_unit_filter(UnitFilter::OnlyWithException(UnitSet::of(&[0, 1, 2, 3])));
    let server = ModbusServer::new(config, service);
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
