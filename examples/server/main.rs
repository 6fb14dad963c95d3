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
    // An application sizes async-std's global pool; do it before anything
    // starts it, unless the user chose with ASYNC_STD_THREAD_COUNT.
    if std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
        let threads = modbus_server::runtimes::recommended_threads();
        std::env::set_var("ASYNC_STD_THREAD_COUNT", threads.to_string());
    }
    cli::main::<modbus_server::runtimes::async_std::AsyncStd>("server");
}
