//! The Modbus TCP simulator: the project's main program, on async-std by
//! default, or on smol or tokio with `--runtime` when built with their
//! features.
//!
//! ```sh
//! cargo run --release --features async-std --example server -- --host 127.0.0.1 --port 1502 [--ipv6] [--config FILE]
//! cargo run --release --features async-std,tokio --example server -- --runtime tokio --port 1502
//! ```
//!
//! See `config.rs` for the configuration file.

mod cli;
mod config;
#[path = "../common/logger.rs"]
mod logger;
mod rtu;

fn main() {
    let available = [
        "async-std",
        #[cfg(feature = "smol")]
        "smol",
        #[cfg(feature = "tokio")]
        "tokio",
    ];
    match cli::runtime_choice(&available, "async-std") {
        #[cfg(feature = "smol")]
        "smol" => cli::main::<modbus_device::runtimes::smol::Smol>("server"),
        // tokio: a multi-thread runtime of the adapter's own, with
        // `recommended_threads()` workers (start() outside any runtime).
        #[cfg(feature = "tokio")]
        "tokio" => cli::main::<modbus_device::runtimes::tokio::Tokio>("server"),
        _ => {
            // An application sizes async-std's global pool; do it before
            // anything starts it, unless the user chose with
            // ASYNC_STD_THREAD_COUNT.
            if std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
                let threads = modbus_device::runtimes::recommended_threads();
                std::env::set_var("ASYNC_STD_THREAD_COUNT", threads.to_string());
            }
            cli::main::<modbus_device::runtimes::async_std::AsyncStd>("server");
        }
    }
}
