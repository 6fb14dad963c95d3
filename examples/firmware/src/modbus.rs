//! The Modbus side of the firmware, independent of the board: the shared
//! service, its device identification, and serving one accepted socket.
//!
//! `tests-tap` compiles this same file on a PC (`#[path]`), over embassy-net
//! on a TAP device, so it uses only `modbus_device`, embassy-net and
//! embassy-sync, and logs through the including crate's root `info!` and
//! `warn!` macros (defmt in the firmware, printing in tests-tap): their
//! format strings must suit both defmt and `core::fmt`.

use embassy_net::tcp::TcpSocket;
use embassy_sync::blocking_mutex::raw::ThreadModeRawMutex;
use modbus_device::runtimes::embassy::{self, EmbassyShared};
use modbus_device::{DataBank, DeviceIdentification, EngineConfig, FixedStorage, Service, Shared};

use crate::{info, warn};

/// 256 coils, 256 discrete inputs, 128 holding and 64 input registers:
/// 32 + 32 + 256 + 128 bytes of RAM, no heap.
pub type Tables = FixedStorage<32, 32, 128, 64>;

/// The service all socket tasks share (the one place its type is named).
pub type ModbusService = Service<DataBank<Tables>>;

/// The one service all socket tasks share, and the ticker task updates.
/// Every task runs on the thread-mode executor of a single core, so
/// `ThreadModeRawMutex` is enough: no interrupts are disabled while a batch
/// of requests is answered (it panics if an interrupt handler ever locks it;
/// such a handler would need `CriticalSectionRawMutex`).
pub static SERVICE: EmbassyShared<ModbusService, ThreadModeRawMutex> =
    EmbassyShared::new(Service::new(DataBank::new(Tables::new())));

/// Holding register 0 at start: which firmware this is (a version marker).
pub const VERSION_MARKER: u16 = 0x0100;

/// Sets the device identification (0x2B / 0x0E) and the initial holding
/// registers. Called once at start-up, before any socket task runs.
pub fn init() {
    let mut id = DeviceIdentification::new();
    // All three fit in MAX_OBJECT_LEN: these cannot fail.
    let result = id
        .set_vendor_name(b"Example Vendor")
        .and_then(|()| id.set_product_code(b"MB-F767"))
        .and_then(|()| id.set_major_minor_revision(env!("CARGO_PKG_VERSION").as_bytes()));
    if result.is_err() {
        warn!("device identification rejected");
    }
    SERVICE.with(|service| {
        service.device_identification = Some(id);
        let _ = service
            .data_bank
            .set_holding_registers(0, &[VERSION_MARKER]);
    });
}

/// Writes `values` to the input registers from address 0, in one lock.
pub fn set_inputs(values: &[u16]) {
    SERVICE.with(|service| {
        if service.data_bank.set_input_registers(0, values).is_err() {
            warn!("input registers out of range");
        }
    });
}

/// Serves one accepted connection until it ends, and logs why it ended.
/// The caller then aborts the socket and accepts again.
pub async fn serve(socket: &mut TcpSocket<'_>) {
    // `serve` turns embassy-net's endpoint into a `SocketAddr` itself.
    let client = socket.remote_endpoint();
    let end = embassy::serve(socket, &SERVICE, EngineConfig::default(), client).await;
    info!("modbus: connection ended: {}", end);
}
