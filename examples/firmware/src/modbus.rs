//! The Modbus side of the firmware: the shared service, its device
//! identification, and serving one accepted socket.

use defmt::{info, warn};
use embassy_net::tcp::TcpSocket;
use modbus_server::runtimes::embedded_io::{self, Clock, ConnectionEnd, CsShared};
use modbus_server::{
    DataBank, DeviceIdentification, EngineConfig, FixedStorage, Instant, Service, Shared,
};

/// 256 coils, 256 discrete inputs, 128 holding and 64 input registers:
/// 32 + 32 + 256 + 128 bytes of RAM, no heap.
type Tables = FixedStorage<32, 32, 128, 64>;

/// The one service all socket tasks share. A critical section (interrupts
/// off for the length of one request batch, a few microseconds) is the lock;
/// it is also safe if an interrupt handler ever touches the data.
static SERVICE: CsShared<Service<Tables>> =
    CsShared::new(Service::new(DataBank::new(Tables::new())));

/// embassy-time as the engine's clock.
struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    fn sleep_until(&self, deadline: Instant) -> impl core::future::Future<Output = ()> {
        embassy_time::Timer::at(embassy_time::Instant::from_micros(deadline.as_micros()))
    }
}

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
        // Holding register 0 says which firmware this is (a version marker).
        let _ = service.data_bank.set_holding_registers(0, &[0x0100]);
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

/// Serves one accepted connection until it ends.
pub async fn serve(socket: &mut TcpSocket<'_>) {
    let client = socket.remote_endpoint().map(|endpoint| {
        let embassy_net::IpAddress::Ipv4(ip) = endpoint.addr;
        core::net::SocketAddr::new(core::net::IpAddr::V4(ip), endpoint.port)
    });
    match embedded_io::serve(
        socket,
        &SERVICE,
        &EmbassyClock,
        EngineConfig::default(),
        client,
    )
    .await
    {
        ConnectionEnd::PeerClosed => info!("modbus: client closed"),
        ConnectionEnd::Closed(reason) => info!("modbus: closed: {}", reason),
        ConnectionEnd::Io(e) => info!("modbus: connection lost: {}", e),
        _ => info!("modbus: connection ended"),
    }
}
