//! A Modbus TCP server: the server side of pyModbusTCP, in Rust, with one
//! sans-IO core that runs on a desktop and on a microcontroller.
//!
//! # Layers
//!
//! - [`wire`]: stateless, checked views over bytes: the MBAP header, request
//!   PDUs, response encoding, function and exception codes.
//! - [`storage`]: the [`Storage`] trait for the four tables, fixed
//!   (no heap) and heap implementations, and the spec's [`DataBank`] with its
//!   change callbacks.
//! - [`DataHandler`]: one overridable method per function (the spec's
//!   `DataHandler`), plus the raw-PDU hook `ext_engine`.
//! - [`DeviceIdentification`]: function 0x2B/0x0E objects and paging.
//! - [`UnitRouter`]: one data bank per unit id (gateways, bus simulators).
//! - [`Service`]: what all connections share (bank, handler, identification,
//!   unit policy) and the dispatch from request to response.
//! - [`Engine`]: one connection's state machine; bytes in, bytes out, time as
//!   an input, no I/O, no clock, no heap.
//! - `runtimes`: thin adapters that drive engines over sockets
//!   (features `async-std`, `smol`, `embedded-io`).
//!
//! # The spec's names
//!
//! | pyModbusTCP | here |
//! |---|---|
//! | `ModbusServer` | `runtimes::ModbusServer` (features `async-std` / `smol`), `runtimes::embedded_io::serve` |
//! | `DataBank`, `get_coils`, `set_holding_registers`, ... | [`DataBank`], same method names |
//! | `DataBank(virtual_mode=True)`, `get_bits` / `set_bits` / `get_words` / `set_words` | your own [`Storage`] |
//! | `on_coils_change`, `on_holding_registers_change` | [`ChangeCallbacks`] |
//! | `DataHandler`, `read_coils`, `write_h_regs`, ... | [`DataHandler`], same method names |
//! | `DataHandler.Return(exp_code=...)` | `Result<(), ExceptionCode>` |
//! | `ext_engine` | [`DataHandler::ext_engine`] |
//! | `DeviceIdentification` | [`DeviceIdentification`] |
//! | `srv_info`, `SessionData`, `ClientInfo` | [`SessionInfo`] |
//! | `MBAP`, `PDU`, `Frame` | [`wire::Header`], [`wire::Frame`] |
//!
//! # Example: answer one request without any I/O
//!
//! ```
//! use std::sync::Mutex;
//! use modbus_server::{DataBank, Engine, EngineConfig, Instant, Service};
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
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[macro_use]
mod fmt;

mod device_id;
mod engine;
mod handler;
mod routing;
mod service;
mod session;
mod shared;
pub mod storage;
mod time;
pub mod wire;

pub use device_id::{object_id, DeviceIdError, DeviceIdentification, MAX_OBJECT_LEN};
pub use engine::{CloseReason, Engine, EngineConfig, MIN_BUFFER};
pub use handler::{DataHandler, DefaultHandler, ExtResponse};
pub use routing::{RouteError, UnitRouter};
pub use service::{Respond, Service, UnitFilter, UnitSet};
pub use session::SessionInfo;
pub use shared::Shared;
pub use storage::{
    AccessError, BitTable, ChangeCallbacks, DataBank, FixedStorage, NoCallbacks, Storage, WordTable,
};
#[cfg(feature = "alloc")]
pub use storage::{HeapStorage, HeapStorageConfig, TableTooLarge};
pub use time::Instant;
pub use wire::{ExceptionCode, FunctionCode};

/// The README's examples, compiled as doc tests.
#[cfg(all(doctest, feature = "async-std"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "_io")]
#[path = "../runtimes/mod.rs"]
pub mod runtimes;
