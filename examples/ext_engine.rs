//! A user-defined function code through the raw-PDU hook
//! (`DataHandler::ext_engine`, the spec's `ext_engine`).
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

use modbus_server::runtimes::async_std::ModbusServer;
use modbus_server::runtimes::ServerConfig;
use modbus_server::{
    ChangeCallbacks, DataBank, DataHandler, ExceptionCode, ExtResponse, Service, SessionInfo,
    Storage,
};

/// The user-defined function code.
const SUM_REGISTERS: u8 = 0x41;

/// Serves function 0x41; dispatches everything else.
struct SumEngine;

impl SumEngine {
    /// The sum, or the exception to answer.
    fn sum<S: Storage, C: ChangeCallbacks>(
        bank: &DataBank<S, C>,
        request: &[u8],
    ) -> Result<u32, ExceptionCode> {
        let [_, a0, a1, q0, q1, ..] = *request else {
            return Err(ExceptionCode::IllegalDataValue);
        };
        let address = u16::from_be_bytes([a0, a1]);
        let quantity = usize::from(u16::from_be_bytes([q0, q1]));
        if !(1..=125).contains(&quantity) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let mut words = [0u16; 125];
        let words = &mut words[..quantity];
        bank.get_holding_registers(address, words)
            .map_err(|_| ExceptionCode::IllegalDataAddress)?;
        Ok(words.iter().map(|&w| u32::from(w)).sum())
    }
}

impl<S: Storage, C: ChangeCallbacks> DataHandler<S, C> for SumEngine {
    fn ext_engine(
        &mut self,
        bank: &mut DataBank<S, C>,
        request_pdu: &[u8],
        _srv_info: &SessionInfo,
        response: &mut [u8],
    ) -> ExtResponse {
        if request_pdu.first() != Some(&SUM_REGISTERS) {
            return ExtResponse::Dispatch;
        }
        let mut answer = [0u8; 5];
        let len = match Self::sum(bank, request_pdu) {
            Ok(sum) => {
                answer[0] = SUM_REGISTERS;
                answer[1..].copy_from_slice(&sum.to_be_bytes());
                5
            }
            Err(code) => {
                answer[..2].copy_from_slice(&[SUM_REGISTERS | 0x80, u8::from(code)]);
                2
            }
        };
        match response.get_mut(..len) {
            Some(dst) => {
                dst.copy_from_slice(&answer[..len]);
                ExtResponse::Respond(len)
            }
            // The hook's buffer is 253 bytes, so this does not happen; a
            // length of 0 makes the server answer exception 4.
            None => ExtResponse::Respond(0),
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
