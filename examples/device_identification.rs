//! pyModbusTCP's "Server with Device Identification": function 43/14 answers
//! the seven standard objects (set while the server runs, as pyModbusTCP's
//! `server.device_identification = device_id`).
//!
//! ```sh
//! cargo run --features async-std --example device_identification -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{object_id, DataBank, DeviceIdentification, Service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse();

    // Create device identification.
    let device_id = DeviceIdentification::from_objects([
        (object_id::VENDOR_NAME, &b"My Company"[..]),
        (object_id::PRODUCT_CODE, b"MC-001"),
        (object_id::MAJOR_MINOR_REVISION, b"1.0"),
        (object_id::VENDOR_URL, b"https://mycompany.com"),
        (object_id::PRODUCT_NAME, b"Industrial Controller"),
        (object_id::MODEL_NAME, b"IC-2024"),
        (object_id::USER_APPLICATION_NAME, b"Factory Automation"),
    ])?;

    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let server = ModbusServer::new(config, Service::new(DataBank::default()));
    server.set_device_identification(Some(device_id));
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
