//! A Modbus TCP server on embassy-net (smoltcp) over a TAP device: the same
//! `runtimes::embedded_io::serve` and `CsShared` the firmware uses, on
//! embassy-executor's std platform, so real clients (mbpoll, pymodbus) can
//! test the embedded adapter over a real TCP/IP stack.
//!
//! Usage: `modbus-tap-test [TAP] [IPV4]` (default `tap0` and `192.168.69.2`,
//! a /24). The TAP device must exist (`ip tuntap add mode tap`); see
//! `ci/tap-test.sh`, which runs this inside a network namespace.
//!
//! Data set-up the clients check (`tests-tap/clients.py`):
//! - holding register 0 = 0x1234 and 1 = 0x5678 at start;
//! - discrete inputs 0..8 = 1,0,1,1,0,0,0,1 at start;
//! - input register 0 = seconds since start, 1 = a counter that increases
//!   every second (the firmware's ticker task), 2 = 0xBEEF;
//! - device identification: vendor "modbus-server", product "TAP-TEST",
//!   revision "1.0".

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use embassy_executor::{Executor, Spawner};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use embassy_time::{Duration, Timer};
use modbus_server::runtimes::embedded_io::{self, Clock, ConnectionEnd, CsShared};
use modbus_server::{
    DataBank, DeviceIdentification, EngineConfig, FixedStorage, Instant, Service, Shared,
};
use static_cell::StaticCell;

/// Concurrent connections: one task and one socket each.
const SOCKETS: usize = 4;
/// Socket buffers, as in the firmware.
const SOCKET_BUFFER: usize = 1024;
const PORT: u16 = 502;

/// 1024 coils and discrete inputs, 1024 holding and input registers.
type Tables = FixedStorage<128, 128, 1024, 1024>;

static SERVICE: CsShared<Service<Tables>> =
    CsShared::new(Service::new(DataBank::new(Tables::new())));

struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    fn sleep_until(&self, deadline: Instant) -> impl core::future::Future<Output = ()> {
        Timer::at(embassy_time::Instant::from_micros(deadline.as_micros()))
    }
}

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
        SERVICE.with(|service| {
            if let Err(e) = service.data_bank.set_input_registers(0, &[seconds, ticks]) {
                eprintln!("ticker: {e:?}");
            }
        });
    }
}

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
        let client = socket.remote_endpoint().map(|endpoint| {
            let embassy_net::IpAddress::Ipv4(ip) = endpoint.addr;
            SocketAddr::new(IpAddr::V4(ip), endpoint.port)
        });
        let end = embedded_io::serve(
            &mut socket,
            &SERVICE,
            &EmbassyClock,
            EngineConfig::default(),
            client,
        )
        .await;
        // One line per connection: tap-test.sh checks the reset one is seen.
        match &end {
            ConnectionEnd::Io(e) => println!("socket {id}: {client:?}: I/O error {e:?}"),
            other => println!("socket {id}: {client:?}: {other:?}"),
        }
        socket.abort();
        let _ = socket.flush().await;
    }
}

fn set_up_data() -> Result<(), String> {
    let mut id = DeviceIdentification::new();
    id.set_vendor_name(b"modbus-server")
        .and_then(|()| id.set_product_code(b"TAP-TEST"))
        .and_then(|()| id.set_major_minor_revision(b"1.0"))
        .map_err(|e| format!("device identification: {e}"))?;
    SERVICE.with(|service| {
        service.device_identification = Some(id);
        let bank = &mut service.data_bank;
        bank.set_holding_registers(0, &[0x1234, 0x5678])
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
