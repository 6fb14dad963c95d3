//! A Modbus TCP server: the server side of the Python library pyModbusTCP
//! (`ModbusServer`, `DataBank`, `DataHandler`, `DeviceIdentification`,
//! `ext_engine`) in Rust, on one sans-IO core that runs on a desktop and on a
//! microcontroller. `no_std`, no heap required, no `unsafe`, no panic on any
//! input from the network.
//!
//! # Quick start: a server on a desktop
//!
//! `cargo add modbus-device --features smol`, then:
//!
//! ```no_run
//! # #[cfg(feature = "smol")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use modbus_device::runtimes::smol::ModbusServer;
//! use modbus_device::runtimes::ServerConfig;
//! use modbus_device::{DataBank, Service};
//!
//! let mut data_bank = DataBank::default(); // 0x10000 entries per table
//! data_bank.set_holding_registers(0, &[100, 200, 300])?;
//!
//! let config = ServerConfig { host: "0.0.0.0".into(), port: 502, no_block: true, ..Default::default() };
//! let server = ModbusServer::new(config, Service::new(data_bank));
//! server.start()?; // bind errors come back here, typed
//! // The application's writes are atomic with respect to requests.
//! server.with_data_bank(|bank| bank.set_input_registers(0, &[215, 42]))?;
//! server.stop();
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "smol"))]
//! # fn main() {}
//! ```
//!
//! A custom [`DataHandler`] (`impl DataHandler for MyHandler`) decides per
//! function what a request does: `Service::with_handler(data_bank, MyHandler)`.
//!
//! # Which runtime
//!
//! | you are writing | feature | entry point |
//! |---|---|---|
//! | most applications: a service, a gateway, anything already on tokio | `tokio` | `runtimes::tokio::ModbusServer`: `server.run().await` on your runtime, or `start()` on a runtime of its own |
//! | a desktop application, a simulator, with a small footprint | `smol` | `runtimes::smol::ModbusServer`: its own executor threads |
//! | an application already on async-std | `async-std` | `runtimes::async_std::ModbusServer` (async-std is discontinued upstream; kept for existing users) |
//! | embassy firmware (embassy-net) | `embassy` | `runtimes::embassy::serve`, one call per accepted socket |
//! | firmware on another embedded-io-async TCP stack | `embedded-io` | `runtimes::embedded_io::serve` |
//! | your own I/O, a test bench, another protocol's transport | none | [`Engine`]: bytes in, bytes out, time as an input |
//! | Modbus RTU: a serial line, RS-485, RTU over TCP | `rtu` (+ `serial` on a Unix desktop) | `ModbusServer::serve_rtu`, `ServerConfig::framing`, `runtimes::rtu::serve_uart`, or `rtu::RtuEngine` |
//!
//! The three desktop servers have the same API (pyModbusTCP's `start`,
//! `stop`, `is_run`, plus connection limits, timeouts and events) and three
//! ways to serve:
//!
//! | call | when |
//! |---|---|
//! | `server.run().await`, `server.run_until(shutdown).await` | an async application: serves in the caller's task (on tokio, on the caller's runtime) until `stop()` from a clone or the `shutdown` future (Ctrl-C, a cancellation token) |
//! | `server.start()` / `server.stop()` | a synchronous program, pyModbusTCP's shape: `no_block` serves in the background, otherwise `start()` blocks until `stop()` (refused inside a tokio runtime: use `run().await` there) |
//! | `server.serve_connection(stream, client).await` | the application accepts connections itself (its own listener, a proxy, TLS): one stream, sharing the server's service, limits and events |
//!
//! # Features
//!
//! | feature | gives |
//! |---|---|
//! | `std` (default) | std error types, `std::sync::Mutex` as [`Shared`], heap tables |
//! | `alloc` | heap tables ([`HeapStorage`]) without std |
//! | `file-records` (default) | FC 20 / 21, read and write file record; without it both answer exception 1 (about 1 KiB less flash) |
//! | `tokio` | `runtimes::tokio::ModbusServer`, on tokio's reactor and sockets (multi-thread or current-thread runtime) |
//! | `smol` | `runtimes::smol::ModbusServer` |
//! | `async-std` | `runtimes::async_std::ModbusServer` |
//! | `embedded-io` | `runtimes::embedded_io::serve` for one socket of any embedded-io-async stack; no_std, no heap |
//! | `embassy` | `runtimes::embassy`: a clock on embassy-time, `EmbassyShared` on embassy-sync's blocking mutex, `serve` for embassy-net sockets (implies `embedded-io`) |
//! | `critical-section` | `runtimes::embedded_io::CsShared`: the service shared through a critical section (with `embedded-io`) |
//! | `rtu` | Modbus RTU (`rtu`): CRC-16, silent intervals, `RtuEngine` on the same [`Service`]; no_std, no heap. With a desktop runtime, RTU over TCP; with `embedded-io`, `runtimes::rtu::serve_uart` for a UART |
//! | `serial` | `runtimes::serial::SerialPort` (Unix, termios) and `ModbusServer::serve_rtu` (implies `rtu`) |
//! | `embedded-hal` | `runtimes::rtu::Rs485`: an RS-485 direction pin (embedded-hal `OutputPin`) |
//! | `defmt` | `defmt::Format` on public types, logging through defmt |
//! | `log` | logging through `log` (the desktop runtimes turn it on) |
//!
//! `defmt` and `log` together is a compile error.
//!
//! # Firmware
//!
//! With `default-features = false, features = ["embassy"]`, the tables are
//! fixed arrays ([`FixedStorage`]), the service is a `static`, and each
//! socket task of embassy-net serves one connection at a time:
//!
//! ```no_run
//! # #[cfg(feature = "embassy")]
//! # mod firmware {
//! use core::net::SocketAddr;
//!
//! use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
//! use embedded_io_async::{Read, Write};
//! use modbus_device::runtimes::embassy::{serve, EmbassyShared};
//! use modbus_device::{DataBank, EngineConfig, FixedStorage, Service, Shared};
//!
//! /// 256 coils, 256 discrete inputs, 128 holding and 64 input registers.
//! type Tables = FixedStorage<32, 32, 128, 64>;
//!
//! // On a single-core chip whose interrupts never touch the service,
//! // `ThreadModeRawMutex` disables no interrupts.
//! static SERVICE: EmbassyShared<Service<DataBank<Tables>>, CriticalSectionRawMutex> =
//!     EmbassyShared::new(Service::new(DataBank::new(Tables::new())));
//!
//! /// In the socket task, after `socket.accept(502).await`:
//! /// `serve_one(&mut socket, socket.remote_endpoint().map(Into::into))`.
//! pub async fn serve_one<S: Read + Write>(socket: &mut S, client: Option<SocketAddr>) {
//!     let end = serve(socket, &SERVICE, EngineConfig::default(), client).await;
//!     let _ = end; // why it ended: the client closed, a timeout, an I/O error
//! }
//!
//! /// The application's own writes take the same lock.
//! pub fn set_temperature(tenths: u16) {
//!     SERVICE.with(|service| service.data_bank.set_input_registers(0, &[tenths]).ok());
//! }
//! # }
//! ```
//!
//! The firmware crate in the repository (`examples/firmware`, a NUCLEO-F767ZI
//! board) is a whole application on this path.
//!
//! # Layers
//!
//! Each layer uses only the ones above it; `ARCHITECTURE.md` in the
//! repository explains them and the decisions behind them.
//!
//! - [`wire`]: stateless, checked views over bytes: the MBAP header, request
//!   PDUs, response encoding, function and exception codes.
//! - storage: the [`Storage`] trait for the four tables, fixed
//!   (no heap) and heap implementations, and pyModbusTCP's [`DataBank`] with
//!   its [`ChangeCallbacks`]; [`Bank`] is what a handler sees of it.
//! - [`DataHandler`]: one overridable method per function (pyModbusTCP's
//!   `DataHandler`), plus the raw-PDU hook `ext_engine`.
//! - [`DeviceIdentification`]: function 0x2B/0x0E objects and paging.
//! - [`diagnostics`]: the communication counters of functions 0x08 and
//!   0x0B; [`ServerId`]: the answer to function 0x11.
//! - [`UnitRouter`]: one data bank per unit id (gateways, bus simulators),
//!   and identities per unit id.
//! - [`Service`]: what all connections share (bank, handler, identification,
//!   unit policy) and the dispatch from request to response.
//! - [`Engine`]: one connection's state machine; bytes in, bytes out, time as
//!   an input, no I/O, no clock, no heap.
//! - `runtimes`: thin adapters that drive engines over sockets (features
//!   `tokio`, `smol`, `async-std`, `embedded-io`, `embassy`).
//!
//! # pyModbusTCP's names
//!
//! Every pyModbusTCP name is also a search alias in these docs.
//!
//! | pyModbusTCP | here |
//! |---|---|
//! | `ModbusServer` | `runtimes::tokio::ModbusServer`, `runtimes::smol::ModbusServer`, `runtimes::async_std::ModbusServer` |
//! | `DataBank`, `get_coils`, `set_holding_registers`, ... | [`DataBank`], same method names |
//! | `DataBank(virtual_mode=True)`, `get_bits` / `set_bits` / `get_words` / `set_words` | your own [`Storage`] |
//! | `on_coils_change`, `on_holding_registers_change` | [`ChangeCallbacks`] |
//! | `DataHandler`, `read_coils`, `write_h_regs`, ... | [`DataHandler`], same method names |
//! | `DataHandler.Return(exp_code=...)` | `Result<(), ExceptionCode>` |
//! | `ext_engine` | [`DataHandler::ext_engine`] |
//! | `DeviceIdentification`, `objects_id` | [`DeviceIdentification`] |
//! | `srv_info`, `SessionData`, `ClientInfo` | [`SessionInfo`] |
//! | `ServerInfo` (host, port) | `ModbusServer::host`, `port`, `local_addr` |
//! | `MBAP`, `PDU`, `Frame` | [`wire::Header`], [`wire::Frame`] |
//!
//! # Without I/O: answer one request
//!
//! ```
//! use std::sync::Mutex;
//! use modbus_device::{DataBank, Engine, EngineConfig, Instant, Service};
//!
//! let service = Mutex::new(Service::new(DataBank::default()));
//! service.lock().unwrap().data_bank.set_holding_registers(0, &[100, 200]).unwrap();
//!
//! let mut engine: Engine<512, 1024> = Engine::new(EngineConfig::default(), None, Instant::ZERO);
//! let request = [0, 1, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 2]; // read 2 holding registers
//! engine.input_buffer()[..request.len()].copy_from_slice(&request);
//! engine.handle_input(request.len(), Instant::ZERO);
//! assert_eq!(engine.poll_output(&service).unwrap(), [0, 1, 0, 0, 0, 7, 1, 0x03, 4, 0, 100, 0, 200]);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// From clippy::pedantic, what improves the docs: every fallible public
// function says when it fails, and pure functions cannot be called for nothing.
#![warn(clippy::missing_errors_doc, clippy::must_use_candidate)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[macro_use]
mod fmt;

#[cfg(feature = "authorize")]
pub mod authorize;
mod device_id;
mod engine;
mod handler;
mod routing;
mod service;
mod session;
mod shared;
mod storage;
mod time;
pub mod wire;
// FC 8, 11, 17
pub mod diagnostics;
mod server_id;
// Modbus RTU
#[cfg(feature = "rtu")]
pub mod rtu;

pub use device_id::{object_id, DeviceIdError, DeviceIdentification, MAX_OBJECT_LEN};
pub use engine::{CloseReason, Engine, EngineConfig, MIN_BUFFER};
pub use handler::{DataHandler, DefaultHandler, ExtResponse};
pub use routing::{RouteError, UnitIdentity, UnitRouter};
pub use service::{Reply, Respond, Service, UnitFilter, UnitSet};
pub use session::{ClientIdentity, SessionInfo};
pub use shared::Shared;
pub use storage::{
    AccessError, Bank, Banks, BitTable, ChangeCallbacks, DataBank, FixedStorage, NoCallbacks,
    Storage, WordTable, MAX_TABLE_SIZE,
};
#[cfg(feature = "alloc")]
pub use storage::{HeapStorage, HeapStorageConfig, TableTooLarge};
// FC 20, 21, 24
pub use storage::{FileStorage, FixedFiles, NoFiles};
#[cfg(feature = "alloc")]
pub use storage::{FilesTooLarge, HeapFiles};
pub use time::Instant;
pub use wire::codes::{ExceptionCode, FunctionCode};
pub use wire::response::{ResponseWriter, WriteError};
// FC 8, 11, 17
pub use server_id::{ServerId, ServerIdTooLong, MAX_SERVER_ID_BYTES};

/// The README's examples, compiled as doc tests.
#[cfg(all(doctest, feature = "async-std"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "_io")]
#[path = "../runtimes/mod.rs"]
pub mod runtimes;
