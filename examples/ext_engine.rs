//! A user-defined function code through the raw-PDU hook
//! (`DataHandler::ext_engine`, pyModbusTCP's `ext_engine`).
//!
//! Function 0x41 ("sum of holding registers"): request `41 addr(2) qty(2)`
//! with quantity 1..=125, response `41 sum(4)`: the 32-bit sum of the
//! holding registers `addr..addr+qty`. A short request or a bad quantity is
//! answered with exception 3, a range outside the table with exception 2.
//! Every other function code goes to the standard dispatch.
//!
//! ```sh
//! cargo run --features async-std --example ext_engine -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{
    Bank, DataBank, DataHandler, ExceptionCode, ExtResponse, ResponseWriter, Service, SessionInfo,
};

/// The user-defined function code.
const SUM_REGISTERS: u8 = 0x41;

/// Serves function 0x41; dispatches everything else.
struct SumEngine;

impl SumEngine {
    /// The sum of the holding registers the request names, or the
    /// exception to answer.
    fn sum(
        bank: &mut dyn Bank,
        request: &[u8],
        srv_info: &SessionInfo,
    ) -> Result<u32, ExceptionCode> {
        let [_, a0, a1, q0, q1] = *request else {
            return Err(ExceptionCode::IllegalDataValue);
        };
        let address = u16::from_be_bytes([a0, a1]);
        let quantity = usize::from(u16::from_be_bytes([q0, q1]));
        let mut words = [0u16; 125];
        let words = words
            .get_mut(..quantity)
            .filter(|w| !w.is_empty())
            .ok_or(ExceptionCode::IllegalDataValue)?;
        bank.read_h_regs(address, words, srv_info)?; // exception 2 out of range
        Ok(words.iter().map(|&w| u32::from(w)).sum())
    }
}

impl DataHandler for SumEngine {
    fn ext_engine(
        &mut self,
        data_bank: &mut dyn Bank,
        request_pdu: &[u8],
        srv_info: &SessionInfo,
        response: &mut ResponseWriter<'_>,
    ) -> ExtResponse {
        if request_pdu.first() != Some(&SUM_REGISTERS) {
            return ExtResponse::Dispatch;
        }
        match Self::sum(data_bank, request_pdu, srv_info) {
            Ok(sum) => match response
                .push(SUM_REGISTERS)
                .and_then(|()| response.extend(&sum.to_be_bytes()))
            {
                Ok(()) => ExtResponse::Respond,
                // Five bytes always fit in a PDU; were they not to, the
                // client would get exception 4.
                Err(_) => ExtResponse::Exception(ExceptionCode::ServerDeviceFailure),
            },
            Err(code) => ExtResponse::Exception(code),
        }
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
    let server = ModbusServer::new(
        config,
        Service::with_handler(DataBank::default(), SumEngine),
    );
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
