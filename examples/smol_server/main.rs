//! The Modbus TCP simulator on smol: the same program as `server`, on the
//! smol runtime.
//!
//! ```sh
//! cargo run --release --features smol --example smol_server -- --host 127.0.0.1 --port 1502
//! ```

#[path = "../server/cli.rs"]
mod cli;
#[path = "../server/config.rs"]
mod config;
#[path = "../common/logger.rs"]
mod logger;
#[path = "../server/rtu.rs"]
mod rtu;

fn main() {
    cli::runtime_choice(&["smol"], "smol");
    cli::main::<modbus_device::runtimes::smol::Smol>("smol_server");
}
