//! Modbus TCP server on a NUCLEO-F767ZI: the STM32F767's Ethernet MAC with
//! the board's LAN8742A PHY (RMII), embassy-net, and `modbus-device`'s
//! embedded adapter.
//!
//! - `SOCKETS` tasks, each owning one TCP socket on port 502, serve clients
//!   concurrently; all of them share one `Service<FixedStorage<..>>` through
//!   `modbus_device::runtimes::embassy::EmbassyShared` with embassy-sync's
//!   `ThreadModeRawMutex` (no interrupts disabled), which is only locked for
//!   the duration of one batch of requests, never across an `.await`.
//! - `modbus.rs` is the board-independent part (the service, its set-up,
//!   serving one socket); `tests-tap` runs that same file on a PC.
//! - A ticker task writes uptime and a counter into the input registers every
//!   second, through the same lock, so a client never sees half an update.
//! - With the `no-modbus` feature the socket tasks echo bytes instead of
//!   serving Modbus: everything else is the same, so the difference in size
//!   between the two builds is what the Modbus code costs.
#![no_std]
#![no_main]

use defmt::{info, unwrap, warn};
use embassy_executor::Spawner;
use embassy_net::tcp::TcpSocket;
use embassy_net::{Stack, StackResources};
use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA};
use embassy_stm32::rng::Rng;
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, eth, peripherals, rng};
use embassy_time::{Duration, Timer};
use static_cell::{ConstStaticCell, StaticCell};
use {defmt_rtt as _, panic_probe as _};

#[cfg(not(feature = "no-modbus"))]
mod modbus;
#[cfg(all(feature = "rtu", not(feature = "no-modbus")))]
mod rtu;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

/// Concurrent Modbus connections (one task and one TCP socket each).
pub const SOCKETS: usize = 3;
/// TCP receive and transmit buffer of each socket. 1 KiB holds two maximal
/// Modbus frames (260 bytes) with room to spare; smoltcp advertises it as
/// the receive window.
pub const SOCKET_BUFFER: usize = 1024;
/// The Modbus TCP port.
const PORT: u16 = 502;

/// Locally administered MAC address (bit 1 of the first byte set).
const MAC_ADDRESS: [u8; 6] = [0x02, 0x00, 0x4d, 0x42, 0x00, 0x01];

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clock_config());
    info!("modbus-firmware starting");

    // Seed smoltcp's TCP sequence numbers and ports from the hardware RNG.
    let mut rng = Rng::new(p.RNG, Irqs);
    let mut seed = [0u8; 8];
    rng.fill_bytes(&mut seed);
    let seed = u64::from_le_bytes(seed);

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    // NUCLEO-F767ZI RMII pins (UM1974, table 13).
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::<4, 4>::new()),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        MAC_ADDRESS,
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );

    #[cfg(feature = "dhcp")]
    let net_config = embassy_net::Config::dhcpv4(Default::default());
    #[cfg(not(feature = "dhcp"))]
    let net_config = embassy_net::Config::ipv4_static(embassy_net::StaticConfigV4 {
        address: embassy_net::Ipv4Cidr::new(embassy_net::Ipv4Address::new(192, 168, 1, 50), 24),
        gateway: Some(embassy_net::Ipv4Address::new(192, 168, 1, 1)),
        dns_servers: Default::default(),
    });

    // One smoltcp socket slot per Modbus task, plus one for DHCP.
    static RESOURCES: StaticCell<StackResources<{ SOCKETS + 1 }>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        net_config,
        RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(unwrap!(net_task(runner)));

    #[cfg(not(feature = "no-modbus"))]
    modbus::init();
    spawner.spawn(unwrap!(ticker_task()));
    #[cfg(all(feature = "rtu", not(feature = "no-modbus")))]
    spawner.spawn(unwrap!(rtu::rtu_task(rtu::RtuPins {
        usart: p.USART2,
        tx: p.PD5,
        rx: p.PD6,
        de: p.PD4,
    })));

    stack.wait_config_up().await;
    if let Some(config) = stack.config_v4() {
        info!("network up: {}", config.address);
    }

    for id in 0..SOCKETS {
        spawner.spawn(unwrap!(socket_task(stack, id)));
    }
}

/// 216 MHz from the 8 MHz ST-LINK clock (HSE bypass), 48 MHz for the RNG.
fn clock_config() -> embassy_stm32::Config {
    use embassy_stm32::rcc::*;
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL216,
        divp: Some(PllPDiv::DIV2), // 8 / 4 * 216 / 2 = 216 MHz
        divq: Some(PllQDiv::DIV9), // 8 / 4 * 216 / 9 = 48 MHz
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    config
}

/// Writes to the input registers every second (uptime in seconds as two
/// registers, high word first, and a tick counter).
#[embassy_executor::task]
async fn ticker_task() -> ! {
    let mut ticks: u16 = 0;
    let mut ticker = embassy_time::Ticker::every(Duration::from_secs(1));
    loop {
        ticker.next().await;
        ticks = ticks.wrapping_add(1);
        let uptime = embassy_time::Instant::now().as_secs();
        // Truncation intended: the registers hold uptime modulo 2^32.
        let values = [(uptime >> 16) as u16, uptime as u16, ticks];
        #[cfg(not(feature = "no-modbus"))]
        modbus::set_inputs(&values);
        #[cfg(feature = "no-modbus")]
        core::hint::black_box(values);
    }
}

/// Accepts connections on port 502 forever, one at a time, and serves each
/// until it ends.
#[embassy_executor::task(pool_size = SOCKETS)]
async fn socket_task(stack: Stack<'static>, id: usize) -> ! {
    // The socket buffers are statics (not part of this task's future), so
    // the task pool's size in the symbol table is the per-connection state
    // alone. `ConstStaticCell` puts them in .bss: no 1 KiB copy on the stack.
    // `id` is below SOCKETS (main spawns ids 0..SOCKETS) and each is taken once.
    static RX: [ConstStaticCell<[u8; SOCKET_BUFFER]>; SOCKETS] =
        [const { ConstStaticCell::new([0; SOCKET_BUFFER]) }; SOCKETS];
    static TX: [ConstStaticCell<[u8; SOCKET_BUFFER]>; SOCKETS] =
        [const { ConstStaticCell::new([0; SOCKET_BUFFER]) }; SOCKETS];
    let rx = RX[id].take();
    let tx = TX[id].take();
    let mut socket = TcpSocket::new(stack, rx, tx);
    // Keepalive probes let a dead client's connection time out even if the
    // engine's idle timeout is disabled.
    socket.set_keep_alive(Some(Duration::from_secs(30)));

    loop {
        if let Err(e) = socket.accept(PORT).await {
            warn!("socket {}: accept failed: {}", id, e);
            Timer::after(Duration::from_millis(100)).await;
            continue;
        }
        info!(
            "socket {}: connection from {}",
            id,
            socket.remote_endpoint()
        );
        serve(&mut socket).await;
        // Reset rather than close: a client that broke the protocol or went
        // silent gets no further bytes, and the socket is free at once.
        socket.abort();
        let _ = socket.flush().await;
    }
}

#[cfg(not(feature = "no-modbus"))]
use modbus::serve;

/// The `no-modbus` baseline: echo until the client closes or an error.
#[cfg(feature = "no-modbus")]
async fn serve(socket: &mut TcpSocket<'_>) {
    use embedded_io_async::Write;
    let mut buffer = [0u8; 64];
    loop {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if socket.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
