//! pyModbusTCP's "Virtual Data Generation", in its two Rust forms:
//!
//! - A thread that writes simulated sensor readings into the data bank every
//!   second through `server.with_data_bank` (input registers 0..=2:
//!   temperature x10, humidity, pressure; discrete inputs 0..=2: running,
//!   hot, humid). Each update is atomic with respect to client requests.
//! - A virtual storage (pyModbusTCP's `virtual_mode`): input registers
//!   1000..=1001 keep no data but are computed when read (seconds since
//!   start: low word, high word). Every other address is stored as usual.
//!
//! ```sh
//! cargo run --features async-std --example virtual_data -- --port 1502 [--seconds 10]
//! ```

#[path = "common/args.rs"]
mod args;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use modbus_device::runtimes::async_std::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{BitTable, DataBank, ExceptionCode, HeapStorage, Service, Storage, WordTable};

/// First computed input register.
const VIRTUAL_START: u16 = 1000;
/// Computed input registers: uptime seconds (low word), uptime seconds (high word).
const VIRTUAL_LEN: u16 = 2;

/// Stored tables, except input registers 1000..=1001, computed on each read.
struct VirtualStorage {
    stored: HeapStorage,
    started: Instant,
}

impl VirtualStorage {
    fn computed(&self, register: u16) -> u16 {
        let secs = self.started.elapsed().as_secs() as u32;
        match register - VIRTUAL_START {
            0 => secs as u16,
            _ => (secs >> 16) as u16,
        }
    }
}

impl Storage for VirtualStorage {
    fn bits_len(&self, table: BitTable) -> usize {
        self.stored.bits_len(table)
    }

    fn words_len(&self, table: WordTable) -> usize {
        self.stored.words_len(table)
    }

    fn get_bits(
        &self,
        table: BitTable,
        address: u16,
        out: &mut [bool],
    ) -> Result<(), ExceptionCode> {
        self.stored.get_bits(table, address, out)
    }

    fn set_bits(
        &mut self,
        table: BitTable,
        address: u16,
        values: &[bool],
    ) -> Result<(), ExceptionCode> {
        self.stored.set_bits(table, address, values)
    }

    fn get_words(
        &self,
        table: WordTable,
        address: u16,
        out: &mut [u16],
    ) -> Result<(), ExceptionCode> {
        self.stored.get_words(table, address, out)?;
        if table == WordTable::InputRegisters {
            // Overlay the computed registers that fall inside the range read.
            let virtual_range = VIRTUAL_START..VIRTUAL_START + VIRTUAL_LEN;
            for (offset, slot) in out.iter_mut().enumerate() {
                let register = usize::from(address) + offset;
                if let Ok(register) = u16::try_from(register) {
                    if virtual_range.contains(&register) {
                        *slot = self.computed(register);
                    }
                }
            }
        }
        Ok(())
    }

    fn set_words(
        &mut self,
        table: WordTable,
        address: u16,
        values: &[u16],
    ) -> Result<(), ExceptionCode> {
        self.stored.set_words(table, address, values)
    }
}

/// A small deterministic pseudo-random generator (xorshift), so the example
/// needs no extra crate.
struct Noise(u32);

impl Noise {
    /// A value in `low..=high`.
    fn between(&mut self, low: u16, high: u16) -> u16 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        low + (self.0 % u32::from(high - low + 1)) as u16
    }
}

type Server = ModbusServer<DataBank<VirtualStorage>>;

/// Writes one set of simulated readings, atomically with respect to requests.
fn update_sensors(server: &Server, noise: &mut Noise) {
    let temperature = noise.between(180, 250); // °C x 10
    let humidity = noise.between(30, 70); // %
    let pressure = noise.between(990, 1020); // hPa
    let result = server.with_data_bank(|bank| {
        bank.set_input_registers(0, &[temperature, humidity, pressure])?;
        bank.set_discrete_inputs(0, &[true, temperature > 220, humidity > 60])
    });
    if let Err(e) = result {
        eprintln!("error: cannot update the data bank: {e}");
    }
}

fn main() {
    let args = args::Args::parse();
    let storage = VirtualStorage {
        stored: HeapStorage::with_defaults(),
        started: Instant::now(),
    };
    let config = ServerConfig {
        host: args.host.clone(),
        port: args.port,
        no_block: true,
        ..ServerConfig::default()
    };
    let server = ModbusServer::new(config, Service::new(DataBank::new(storage)));

    // Simulate sensor readings: once before the first client can connect,
    // then every second from a thread.
    let mut noise = Noise(0x2545_F491);
    update_sensors(&server, &mut noise);
    let running = Arc::new(AtomicBool::new(true));
    let update = {
        let server = server.clone();
        let running = Arc::clone(&running);
        move || {
            while running.load(Ordering::Relaxed) {
                // Sleep one second in small steps, so stopping is prompt.
                for _ in 0..10 {
                    if !running.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                update_sensors(&server, &mut noise);
            }
        }
    };
    let updater = std::thread::spawn(update);

    if let Err(e) = server.start() {
        eprintln!("error: failed to start server: {e}");
        std::process::exit(1);
    }
    if let Some(addr) = server.local_addr() {
        println!("listening on {addr}");
    }
    args.wait();
    running.store(false, Ordering::Relaxed);
    let _ = updater.join();
    server.stop();
    println!("stopped");
}
