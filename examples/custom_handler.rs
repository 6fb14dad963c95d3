//! The spec's "Custom Request Handler": reads of holding registers at 1000
//! and above are refused with exception 1, every read is logged with the
//! client's address, and writes of values above 1000 are refused with
//! exception 3. Everything else goes to the data bank as usual.
//!
//! ```sh
//! cargo run --features async-std --example custom_handler -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_server::runtimes::async_std::ModbusServer;
use modbus_server::runtimes::ServerConfig;
use modbus_server::{
    ChangeCallbacks, DataBank, DataHandler, ExceptionCode, Service, SessionInfo, Storage,
};

/// The spec's `CustomDataHandler`.
struct CustomDataHandler;

impl<S: Storage, C: ChangeCallbacks> DataHandler<S, C> for CustomDataHandler {
    fn read_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        // Restrict access to certain addresses.
        if address >= 1000 {
            return Err(ExceptionCode::IllegalFunction);
        }
        let client = srv_info
            .client_addr
            .map_or_else(|| "unknown".into(), |a| a.to_string());
        println!(
            "Client {client} reading {} registers from {address}",
            out.len()
        );
        // The default implementation (the spec's `super().read_h_regs`).
        bank.read_h_regs(address, out, srv_info)
    }

    fn write_h_regs(
        &mut self,
        bank: &mut DataBank<S, C>,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        // Limit register values.
        if words_l.iter().any(|&w| w > 1000) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        bank.write_h_regs(address, words_l, srv_info)
    }
}

fn main() {
    let args = args::Args::parse();
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let service = Service::with_handler(DataBank::default(), CustomDataHandler);
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
