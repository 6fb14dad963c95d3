//! Different data per unit id (a gateway in front of several devices):
//! the handler routes each request on `SessionInfo::unit_id`.
//!
//! Units 0 and 1 are served by the server's own data bank; units 2 and 3
//! each have their own bank, kept in the handler; every other unit id is
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

use modbus_server::runtimes::async_std::ModbusServer;
use modbus_server::runtimes::ServerConfig;
use modbus_server::{DataBank, DataHandler, ExceptionCode, HeapStorage, Service, SessionInfo};

type Bank = DataBank<HeapStorage>;

/// Routes requests to one data bank per unit id.
struct Router {
    unit2: Bank,
    unit3: Bank,
}

impl Router {
    /// The bank that serves `srv_info.unit_id`, or exception 0x0B.
    fn route<'a>(
        &'a mut self,
        own: &'a mut Bank,
        srv_info: &SessionInfo,
    ) -> Result<&'a mut Bank, ExceptionCode> {
        match srv_info.unit_id {
            0 | 1 => Ok(own),
            2 => Ok(&mut self.unit2),
            3 => Ok(&mut self.unit3),
            _ => Err(ExceptionCode::GatewayTargetDeviceFailedToRespond),
        }
    }
}

impl DataHandler<HeapStorage> for Router {
    fn read_coils(
        &mut self,
        bank: &mut Bank,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .read_coils(address, out, srv_info)
    }

    fn read_d_inputs(
        &mut self,
        bank: &mut Bank,
        address: u16,
        out: &mut [bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .read_d_inputs(address, out, srv_info)
    }

    fn read_h_regs(
        &mut self,
        bank: &mut Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .read_h_regs(address, out, srv_info)
    }

    fn read_i_regs(
        &mut self,
        bank: &mut Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .read_i_regs(address, out, srv_info)
    }

    fn write_coils(
        &mut self,
        bank: &mut Bank,
        address: u16,
        bits_l: &[bool],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .write_coils(address, bits_l, srv_info)
    }

    fn write_h_regs(
        &mut self,
        bank: &mut Bank,
        address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .write_h_regs(address, words_l, srv_info)
    }

    fn mask_write_h_reg(
        &mut self,
        bank: &mut Bank,
        address: u16,
        and_mask: u16,
        or_mask: u16,
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?
            .mask_write_h_reg(address, and_mask, or_mask, srv_info)
    }

    fn read_write_h_regs(
        &mut self,
        bank: &mut Bank,
        read_address: u16,
        out: &mut [u16],
        write_address: u16,
        words_l: &[u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        self.route(bank, srv_info)?.read_write_h_regs(
            read_address,
            out,
            write_address,
            words_l,
            srv_info,
        )
    }
}

/// A bank whose holding register 0 holds `unit`.
fn bank_of(unit: u16) -> Bank {
    let mut bank = Bank::default();
    // Address 0 exists in a default-sized table: cannot fail.
    let _ = bank.set_holding_registers(0, &[unit]);
    bank
}

fn main() {
    let args = args::Args::parse();
    let router = Router {
        unit2: bank_of(2),
        unit3: bank_of(3),
    };
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let server = ModbusServer::new(config, Service::with_handler(bank_of(1), router));
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
