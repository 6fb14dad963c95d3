//! The firmware's own Modbus code (`examples/firmware/src/modbus.rs`, the
//! service, its set-up and `serve`, on `modbus_device::runtimes::embassy`)
//! on embassy-net (smoltcp) over a TAP device, driven by embassy-executor's
//! std platform, so real clients (mbpoll, pymodbus) can test the embedded
//! adapter over a real TCP/IP stack. Only the board's part is this file's:
//! the network device, the socket tasks' accept loop, a ticker.
//!
//! Usage: `modbus-tap-test [TAP] [IPV4]` (default `tap0` and `192.168.69.2`,
//! a /24). The TAP device must exist (`ip tuntap add mode tap`); see
//! `ci/tap-test.sh`, which runs this inside a network namespace.
//!
//! Data the clients check (`tests-tap/clients.py`, `ci/tap-test.sh`): the
//! firmware's tables (256 coils and discrete inputs, 128 holding and 64
//! input registers) and identification (vendor "Example Vendor", product
//! "MB-F767", revision the crate version), and:
//! - holding register 0 = 0x0100 (the firmware's version marker), 1 = 0x5678;
//! - discrete inputs 0..8 = 1,0,1,1,0,0,0,1;
//! - input register 0 = seconds since start, 1 = a counter that increases
//!   every second (this file's ticker task), 2 = 0xBEEF.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use embassy_executor::{Executor, Spawner};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use embassy_time::{Duration, Timer};
use modbus_device::Shared;
use static_cell::StaticCell;

// The firmware's modbus.rs logs through the crate root's `info!` and
// `warn!` (defmt's in the firmware); here they print. (Imported under
// another name: `use warn;` would be ambiguous with the built-in attribute.)
macro_rules! print_info {
    ($($arg:tt)*) => { println!($($arg)*) };
}
macro_rules! print_warn {
    ($($arg:tt)*) => { eprintln!($($arg)*) };
}
use {print_info as info, print_warn as warn};

#[path = "../../examples/firmware/src/modbus.rs"]
mod modbus;

/// Concurrent connections: one task and one socket each.
const SOCKETS: usize = 4;
/// Socket buffers, as in the firmware.
const SOCKET_BUFFER: usize = 1024;
const PORT: u16 = 502;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

/// Input register 0: seconds since start; 1: ticks; every second, in one
/// lock (as the firmware's ticker).
#[embassy_executor::task]
async fn ticker_task() -> ! {
    let start = embassy_time::Instant::now();
    let mut ticks: u16 = 0;
    let mut ticker = embassy_time::Ticker::every(Duration::from_secs(1));
    loop {
        ticker.next().await;
        ticks = ticks.wrapping_add(1);
        // Truncation intended: the test runs for seconds, not 18 hours.
        let seconds = start.elapsed().as_secs() as u16;
        modbus::set_inputs(&[seconds, ticks]);
    }
}

/// Accepts and serves connections forever, as the firmware's socket tasks.
#[embassy_executor::task(pool_size = SOCKETS)]
async fn socket_task(stack: Stack<'static>, id: usize) -> ! {
    let mut rx = [0u8; SOCKET_BUFFER];
    let mut tx = [0u8; SOCKET_BUFFER];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    loop {
        if let Err(e) = socket.accept(PORT).await {
            eprintln!("socket {id}: accept: {e:?}");
            Timer::after(Duration::from_millis(100)).await;
            continue;
        }
        if let Some(client) = socket.remote_endpoint() {
            println!("socket {id}: connection from {client}");
        }
        // One line per connection: tap-test.sh checks the reset one is seen.
        modbus::serve(&mut socket).await;
        socket.abort();
        let _ = socket.flush().await;
    }
}

/// The firmware's set-up, then this test's own data on top.
fn set_up_data() -> Result<(), String> {
    modbus::init();
    modbus::SERVICE.with(|service| {
        let bank = &mut service.data_bank;
        bank.set_holding_registers(1, &[0x5678])
            .and_then(|()| {
                bank.set_discrete_inputs(0, &[true, false, true, true, false, false, false, true])
            })
            .and_then(|()| bank.set_input_registers(2, &[0xBEEF]))
            .map_err(|e| format!("initial data: {e:?}"))
    })
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let tap = args.next().unwrap_or_else(|| "tap0".to_owned());
    let address: Ipv4Addr = match args
        .next()
        .unwrap_or_else(|| "192.168.69.2".to_owned())
        .parse()
    {
        Ok(address) => address,
        Err(e) => {
            eprintln!("bad address: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = set_up_data() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let device = match TunTapDevice::new(&tap) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("cannot open TAP device {tap}: {e}");
            return ExitCode::FAILURE;
        }
    };

    static EXECUTOR: StaticCell<Executor> = StaticCell::new();
    EXECUTOR.init(Executor::new()).run(move |spawner| {
        spawner.spawn(start(spawner, device, address).expect("start task pool is free"));
    })
}

#[embassy_executor::task]
async fn start(spawner: Spawner, device: TunTapDevice, address: Ipv4Addr) {
    let octets = address.octets();
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(address, 24),
        gateway: Some(Ipv4Addr::new(octets[0], octets[1], octets[2], 1)),
        dns_servers: Default::default(),
    });
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    // Seed: the process id is enough to vary sequence numbers between runs.
    let seed = u64::from(std::process::id());
    let (stack, runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), seed);
    spawner.spawn(net_task(runner).expect("net task pool is free"));
    spawner.spawn(ticker_task().expect("ticker task pool is free"));
    stack.wait_config_up().await;
    for id in 0..SOCKETS {
        spawner.spawn(socket_task(stack, id).expect("socket task pool has SOCKETS slots"));
    }
    println!("listening on {address}:{PORT} ({SOCKETS} sockets)");
}
