//! The Modbus TCP simulator on async-std: the project's main program.
//!
//! ```sh
//! cargo run --release --features async-std --example server -- --host 127.0.0.1 --port 1502 [--ipv6] [--config FILE]
//! ```
//!
//! See `config.rs` for the configuration file.

mod cli;
mod config;

fn main() {
    cli::main::<modbus_server::runtimes::async_std::AsyncStd>("server");
}
