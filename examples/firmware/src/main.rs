//! Modbus TCP server firmware on embassy-net and `modbus-device`'s embedded
//! adapter, for one of two boards (`src/board/`, one cargo feature each):
//!
//! - `nucleo-f767zi` (default): the STM32F767's Ethernet MAC with the
//!   board's LAN8742A PHY (RMII) through embassy-stm32, defmt over RTT.
//! - `mps2-an386`: QEMU's emulated Arm MPS2 AN386 (Cortex-M4F) with its
//!   SMSC LAN9118 (`lan9118.rs`), a time driver on the FPGA counter and
//!   SysTick (`time_driver.rs`), logs over semihosting;
//!   `ci/qemu-firmware.sh` runs it.
//!   With `serial-echo`, UART0 (`cmsdk_uart.rs`) echoes what it receives
//!   (`serial_echo.rs`); with `rtu`, UART0 serves Modbus RTU
//!   (`rtu_cmsdk.rs`); `ci/qemu-serial.sh` runs both.
//!
//! Everything in this file is board-independent:
//! - `SOCKETS` tasks, each owning one TCP socket on port 502, serve clients
//!   concurrently; all of them share one `Service<FixedStorage<..>>` through
//!   `modbus_device::runtimes::embassy::EmbassyShared` with embassy-sync's
//!   `ThreadModeRawMutex` (no interrupts disabled), which is only locked for
//!   the duration of one batch of requests, never across an `.await`.
//! - `modbus.rs` is the Modbus part (the service, its set-up, serving one
//!   socket); `tests-tap` runs that same file on a PC.
//! - A ticker task writes uptime and a counter into the input registers every
//!   second, through the same lock, so a client never sees half an update.
//! - With the `no-modbus` feature the socket tasks echo bytes instead of
//!   serving Modbus: everything else is the same, so the difference in size
//!   between the two builds is what the Modbus code costs.
#![no_std]
#![no_main]

#[cfg(all(feature = "nucleo-f767zi", feature = "mps2-an386"))]
compile_error!("choose one board: --no-default-features --features mps2-an386");
#[cfg(not(any(feature = "nucleo-f767zi", feature = "mps2-an386")))]
compile_error!("choose a board: feature nucleo-f767zi or mps2-an386");
#[cfg(all(feature = "rtu", feature = "serial-echo"))]
compile_error!("rtu and serial-echo both take UART0 of mps2-an386: choose one");
#[cfg(all(feature = "rtu", feature = "no-modbus", feature = "mps2-an386"))]
compile_error!("rtu serves Modbus: not with no-modbus on mps2-an386");
#[cfg(all(feature = "serial-echo", not(feature = "mps2-an386")))]
compile_error!("serial-echo is for mps2-an386 (UART0 is its CMSDK UART)");

// Logging: `info!` and `warn!` at the crate root (modbus.rs uses them too),
// so their format strings must suit both defmt and `core::fmt`.
#[cfg(feature = "mps2-an386")]
use board::{log_info as info, log_warn as warn};
#[cfg(feature = "nucleo-f767zi")]
use defmt::{info, warn};

#[cfg_attr(feature = "nucleo-f767zi", path = "board/nucleo_f767zi.rs")]
#[cfg_attr(feature = "mps2-an386", path = "board/mps2_an386.rs")]
mod board;
#[cfg(any(feature = "serial-echo", all(feature = "rtu", feature = "mps2-an386")))]
mod cmsdk_uart;
#[cfg(feature = "mps2-an386")]
mod lan9118;
#[cfg(not(feature = "no-modbus"))]
mod modbus;
// Modbus RTU next to TCP, on the same service: the NUCLEO-F767ZI's RS-485
// line (USART2 and a DE pin), or mps2-an386's UART0 (QEMU's `-serial`).
#[cfg(all(feature = "rtu", not(feature = "no-modbus")))]
#[cfg_attr(feature = "nucleo-f767zi", path = "rtu.rs")]
#[cfg_attr(feature = "mps2-an386", path = "rtu_cmsdk.rs")]
mod rtu;
#[cfg(feature = "serial-echo")]
mod serial_echo;
#[cfg(feature = "mps2-an386")]
mod time_driver;
#[cfg(feature = "mps2-an386")]
mod wfi_executor;

use embassy_executor::Spawner;
use embassy_net::tcp::TcpSocket;
use embassy_net::{Stack, StackResources};
use embassy_time::{Duration, Timer};
use static_cell::{ConstStaticCell, StaticCell};

/// Concurrent Modbus connections (one task and one TCP socket each).
pub const SOCKETS: usize = 3;
/// TCP receive and transmit buffer of each socket. 1 KiB holds two maximal
/// Modbus frames (260 bytes) with room to spare; smoltcp advertises it as
/// the receive window.
pub const SOCKET_BUFFER: usize = 1024;
/// The Modbus TCP port.
const PORT: u16 = 502;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, board::Device>) -> ! {
    runner.run().await
}

/// The firmware's start, on the board's executor (`board::main` or
/// `board::entry` spawns it).
async fn run(spawner: Spawner) {
    let board = board::init();
    info!("modbus-firmware starting on {}", board::NAME);

    #[cfg(feature = "dhcp")]
    let net_config = embassy_net::Config::dhcpv4(Default::default());
    #[cfg(not(feature = "dhcp"))]
    let net_config = embassy_net::Config::ipv4_static(embassy_net::StaticConfigV4 {
        address: embassy_net::Ipv4Cidr::new(board::ADDRESS, board::PREFIX_LEN),
        gateway: Some(board::GATEWAY),
        dns_servers: Default::default(),
    });

    // One smoltcp socket slot per Modbus task, plus one for DHCP.
    static RESOURCES: StaticCell<StackResources<{ SOCKETS + 1 }>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        board.device,
        net_config,
        RESOURCES.init(StackResources::new()),
        board.seed,
    );
    spawner.spawn(net_task(runner).expect("net task spawned once"));

    #[cfg(not(feature = "no-modbus"))]
    {
        modbus::init();
        set_product_code(board::PRODUCT_CODE);
    }
    spawner.spawn(ticker_task().expect("ticker task spawned once"));
    #[cfg(all(feature = "rtu", not(feature = "no-modbus")))]
    spawner.spawn(rtu::rtu_task(board.rtu).expect("rtu task spawned once"));

    stack.wait_config_up().await;
    if let Some(config) = stack.config_v4() {
        info!("network up: {}", config.address);
    }

    for id in 0..SOCKETS {
        spawner.spawn(socket_task(stack, id).expect("SOCKETS socket tasks"));
    }
}

/// The board's product code in the device identification (object 1), in
/// place of the one `modbus::init` sets.
#[cfg(not(feature = "no-modbus"))]
fn set_product_code(code: &[u8]) {
    use modbus_device::Shared;
    modbus::SERVICE.with(|service| {
        if let Some(id) = service.device_identification.as_mut() {
            if id.set_product_code(code).is_err() {
                warn!("product code rejected");
            }
        }
    });
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
            warn!("socket {}: accept failed: {:?}", id, e);
            Timer::after(Duration::from_millis(100)).await;
            continue;
        }
        if let Some(client) = socket.remote_endpoint() {
            info!("socket {}: connection from {}", id, client);
        }
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
