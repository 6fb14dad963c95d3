//! A server inside the application's own tokio runtime: `run_until` serves
//! in this task until Ctrl-C (or `--seconds`), then stops gracefully.
//!
//! ```sh
//! cargo run --features tokio --example tokio_server -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
#[allow(
    dead_code,
    reason = "`wait` blocks a thread; this example awaits instead"
)]
mod args;

use std::time::Duration;

use modbus_device::runtimes::tokio::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{DataBank, Service};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse();
    let mut data_bank = DataBank::default();
    data_bank.set_holding_registers(0, &[100, 200, 300, 400, 500])?;
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        ..ServerConfig::default()
    };
    let server = ModbusServer::new(config, Service::new(data_bank));

    // Another task of the application, sharing the server: it says where
    // the server listens once it does, then updates a register each second.
    let app = server.clone();
    tokio::spawn(async move {
        while app.local_addr().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if let Some(addr) = app.local_addr() {
            println!("listening on {addr} (Ctrl-C to stop)");
        }
        for tick in 0u16.. {
            let _ = app.with_data_bank(|bank| bank.set_input_registers(0, &[tick]));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    let run_for = args.run_for;
    let shutdown = async move {
        match run_for {
            Some(limit) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = tokio::time::sleep(limit) => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    if let Err(e) = server.run_until(shutdown).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    println!("stopped");
    Ok(())
}
