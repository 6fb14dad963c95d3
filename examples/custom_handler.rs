//! pyModbusTCP's "Custom Request Handler": reads of holding registers that
//! reach address 1000 or above are refused with exception 1, every read is logged with the
//! client's address, and writes of values above 1000 are refused with
//! exception 3, whichever function (FC 3, 6, 16, 22, 23) asks. Everything
//! else goes to the data bank as usual.
//!
//! ```sh
//! cargo run --features async-std --example custom_handler -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{Bank, DataBank, DataHandler, ExceptionCode, Service, SessionInfo};

/// Reads of holding registers must end below this address.
const READ_LIMIT: usize = 1000;
/// Written register values must not exceed this.
const MAX_VALUE: u16 = 1000;

/// pyModbusTCP's `CustomDataHandler`.
struct CustomDataHandler;

impl DataHandler for CustomDataHandler {
    fn read_h_regs(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        // Restrict access to certain addresses: the whole range, not only
        // its start (a read of 3 registers from 998 reaches 1000).
        if usize::from(address) + out.len() > READ_LIMIT {
            return Err(ExceptionCode::IllegalFunction);
        }
        let client = srv_info
            .client_addr
            .map_or_else(|| "unknown".into(), |a| a.to_string());
        println!(
            "Client {client} reading {} registers from {address}",
            out.len()
        );
        // The default implementation (pyModbusTCP's `super().read_h_regs`).
        data_bank.read_h_regs(address, out, srv_info)
    }

    fn write_h_regs(
        &mut self,
        data_bank: &mut dyn Bank,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        // Limit register values. FC 6, 16, 22 and 23 all write through here.
        if words_l.iter().any(|&w| w > MAX_VALUE) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        data_bank.write_h_regs(address, words_l, srv_info)
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
