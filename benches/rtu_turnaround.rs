//! The serial RTU server's turnaround over a PTY pair (socat), on each
//! desktop runtime: from the end of the silent interval that ends a
//! request to the first byte of its response.
//!
//! ```sh
//! cargo bench --bench rtu_turnaround --features async-std,smol,tokio,serial [-- REQUESTS] [RUNTIME...]
//! ```
//!
//! A client writes a request (FC 3, one register, 8 bytes) at T0 and reads
//! the first byte of the response at T1. A PTY delivers the bytes at once,
//! so the request's last byte is on the "line" at T0 and its silent
//! interval ends at T0 + t3.5 (1,750 µs at 115,200 baud); the turnaround
//! measured is T1 − T0 − t3.5. It includes both hops of the PTY pair
//! (through socat), so the same loop is measured against an echo on the
//! server's end (read, write back at once) and reported as well: the
//! server's own part is about the difference. It is also measured inside
//! the server (module `inside`: the same driver over the same port, its
//! reads and writes time-stamped), from t3.5 after the read that brought
//! the request to the start of the response's write. PTYs do not pace bytes at the baud
//! rate, so the line's own time (a character is 95.5 µs at 115,200 baud)
//! is computed, not measured, and not included.
//!
//! Seen here: polled from `Tokio::block_on` (a tokio current-thread
//! runtime), the port's task busy-polled (a core at 100 %: `read` →
//! EAGAIN, `epoll_wait(.., 0)`, again; the async-io reactor thread woken by
//! its eventfd at each turn), which also made tokio's "inside" turnaround
//! look like 0 µs. `ModbusServer::serve_rtu` therefore serves the line on a
//! thread of its own on async-io's executor, whatever the caller's
//! runtime; the "inside" measurement runs the driver the same way.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use modbus_device::rtu::RtuTiming;
use modbus_device::runtimes::serial::{LineConfig, Parity, SerialPort};
use modbus_device::runtimes::{ModbusServer, Runtime, ServerConfig};
use modbus_device::{DataBank, FixedStorage, Service};

#[path = "../tests/desktop_common/pty.rs"]
mod pty;
use pty::PtyPair;

const BAUD: u32 = 115_200;
/// FC 3, register 0, unit 1; the answer is 7 bytes.
const REQUEST: [u8; 8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];

/// Sends `requests` requests one at a time; returns T1 − T0 of each, in µs.
fn client_loop(client: &Path, requests: usize, answer_len: usize) -> Vec<f64> {
    let mut port = OpenOptions::new()
        .read(true)
        .write(true)
        .open(client)
        .unwrap();
    let mut times = Vec::with_capacity(requests);
    let mut buf = [0u8; 64];
    for _ in 0..requests {
        let t0 = Instant::now();
        port.write_all(&REQUEST).unwrap();
        let mut got = port.read(&mut buf).unwrap();
        let t1 = Instant::now();
        while got < answer_len {
            got += port.read(&mut buf[got..]).unwrap();
        }
        times.push(t1.duration_since(t0).as_secs_f64() * 1e6);
        // A master waits t3.5 after a response before its next request.
        std::thread::sleep(Duration::from_micros(1_750));
    }
    times
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut times: Vec<f64>, minus: f64) -> f64 {
    let times: &mut [f64] = &mut times;
    times.iter_mut().for_each(|t| *t -= minus);
    times.sort_by(f64::total_cmp);
    let median = percentile(times, 0.5);
    println!(
        "{name:<34} n={:<5} min {:>7.1}  median {:>7.1}  p90 {:>7.1}  p99 {:>7.1}  max {:>8.1} µs",
        times.len(),
        times[0],
        median,
        percentile(times, 0.9),
        percentile(times, 0.99),
        times[times.len() - 1]
    );
    median
}

/// The PTY pair's round trip alone: the server's end echoes what it reads.
fn echo_baseline(requests: usize) -> f64 {
    let pair = PtyPair::new(&std::env::temp_dir(), "echo");
    let mut server: File = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pair.server)
        .unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut echoed = 0;
        while echoed < requests * REQUEST.len() {
            let n = server.read(&mut buf).unwrap();
            server.write_all(&buf[..n]).unwrap();
            echoed += n;
        }
    });
    let times = client_loop(&pair.client, requests, REQUEST.len());
    echo.join().unwrap();
    report("PTY pair round trip (echo)", times, 0.0)
}

/// How late a timer fires after a t3.5 sleep, alone: `R`'s own, and
/// async-io's (the serial line's clock on every runtime). The floor of the
/// turnaround on this machine.
fn timer_lateness<R: Runtime>(name: &str, t3_5: f64) {
    let sleep = Duration::from_secs_f64(t3_5 / 1e6);
    let late = R::block_on(async {
        let mut late = Vec::with_capacity(500);
        for _ in 0..500 {
            let deadline = Instant::now() + sleep;
            R::sleep_until(deadline).await;
            late.push(Instant::now().duration_since(deadline).as_secs_f64() * 1e6);
        }
        late
    });
    report(&format!("{name}: its timer, lateness"), late, 0.0);
    let late = R::block_on(async {
        let mut late = Vec::with_capacity(500);
        for _ in 0..500 {
            let deadline = Instant::now() + sleep;
            async_io::Timer::at(deadline).await;
            late.push(Instant::now().duration_since(deadline).as_secs_f64() * 1e6);
        }
        late
    });
    report(&format!("{name}: async-io timer, lateness"), late, 0.0);
}

fn turnaround<R: Runtime>(name: &str, requests: usize, t3_5: f64, echo: f64) {
    timer_lateness::<R>(name, t3_5);
    let pair = PtyPair::new(&std::env::temp_dir(), name);
    let service = Service::new(DataBank::new(FixedStorage::<0, 0, 4, 0>::filled(
        false, false, 7, 0,
    )));
    let server = ModbusServer::<R, _, _>::new(ServerConfig::default(), service);
    let line = LineConfig {
        baud: BAUD,
        parity: Parity::Even,
        ..LineConfig::default()
    };
    let port = SerialPort::open(&pair.server, line).unwrap();
    let serving = std::thread::spawn(move || R::block_on(server.serve_rtu(port, 1)));
    // Warm up (thread start, first timers), then measure.
    client_loop(&pair.client, 50, 7);
    let times = client_loop(&pair.client, requests, 7);
    let median = report(&format!("{name}: T1 - T0 - t3.5"), times.clone(), t3_5);
    report(
        &format!("{name}: less the PTY round trip"),
        times,
        t3_5 + echo,
    );
    println!("{name}: median {median:.1} µs including the PTY pair's two hops (target < 87 µs)");
    drop(pair);
    let _ = serving.join();
}

/// The server's own part, measured inside it: the same driver
/// (`runtimes::rtu::serve_rtu`) over the same port, with the port's reads
/// and writes time-stamped. A frame's silent interval ends t3.5 after the
/// read that brought its last byte returned; the turnaround is from there
/// to the start of the response's write. No PTY hop is in it.
mod inside {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use embedded_io_adapters::futures_03::FromFutures;
    use embedded_io_async::{ErrorType, Read, Write};
    use modbus_device::rtu::{RtuConfig, RtuEngine};
    use modbus_device::runtimes::io::Clock;
    use modbus_device::runtimes::rtu::{serve_rtu, NoDirection};
    use modbus_device::runtimes::serial::SerialPort;

    /// async-io's timers against a process origin (as the library's serial clock).
    pub struct TimerClock(pub Instant);

    impl Clock for TimerClock {
        fn now(&self) -> modbus_device::Instant {
            modbus_device::Instant::from_micros(self.0.elapsed().as_micros() as u64)
        }

        async fn sleep_until(&self, deadline: modbus_device::Instant) {
            async_io::Timer::at(self.0 + Duration::from_micros(deadline.as_micros())).await;
        }
    }

    /// The port, recording when each read returned and each write started.
    pub struct Timed {
        pub port: FromFutures<SerialPort>,
        pub last_read: Option<Instant>,
        pub t3_5: Duration,
        pub samples: Arc<Mutex<Vec<f64>>>,
    }

    impl ErrorType for Timed {
        type Error = std::io::Error;
    }

    impl Read for Timed {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = self.port.read(buf).await?;
            self.last_read = Some(Instant::now());
            Ok(n)
        }
    }

    impl Write for Timed {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            if let Some(read) = self.last_read.take() {
                let end_of_silence = read + self.t3_5;
                let turnaround = Instant::now().saturating_duration_since(end_of_silence);
                self.samples
                    .lock()
                    .unwrap()
                    .push(turnaround.as_secs_f64() * 1e6);
            }
            self.port.write(buf).await
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            self.port.flush().await
        }
    }

    /// Serves `port` until it fails, recording into `samples`.
    pub async fn serve(port: SerialPort, baud: u32, t3_5: Duration, samples: Arc<Mutex<Vec<f64>>>) {
        let clock = TimerClock(Instant::now());
        let service = Mutex::new(modbus_device::Service::new(modbus_device::DataBank::new(
            modbus_device::FixedStorage::<0, 0, 4, 0>::filled(false, false, 7, 0),
        )));
        let mut engine = Box::new(RtuEngine::new(
            RtuConfig::serial(1, baud),
            None,
            clock.now(),
        ));
        let mut timed = Timed {
            port: FromFutures::new(port),
            last_read: None,
            t3_5,
            samples,
        };
        let _ = serve_rtu(&mut timed, &service, &clock, &mut engine, &mut NoDirection).await;
    }
}

fn turnaround_inside(name: &str, requests: usize, t3_5: Duration) {
    let pair = PtyPair::new(&std::env::temp_dir(), "inside");
    let line = LineConfig {
        baud: BAUD,
        parity: Parity::Even,
        ..LineConfig::default()
    };
    let port = SerialPort::open(&pair.server, line).unwrap();
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = std::sync::Arc::clone(&samples);
    let serving =
        std::thread::spawn(move || async_io::block_on(inside::serve(port, BAUD, t3_5, recorded)));
    client_loop(&pair.client, 50, 7);
    samples.lock().unwrap().clear();
    client_loop(&pair.client, requests, 7);
    let measured = std::mem::take(&mut *samples.lock().unwrap());
    report(
        &format!("{name}: inside, silence end -> write"),
        measured,
        0.0,
    );
    drop(pair);
    let _ = serving.join();
}

fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000)
        .max(1);
    let timing = RtuTiming::for_baud(BAUD);
    let t3_5 = timing.t3_5.as_secs_f64() * 1e6;
    println!(
        "{BAUD} baud: a character takes {:.1} µs, t3.5 = {t3_5:.0} µs; {requests} requests per runtime",
        timing.char_time.as_secs_f64() * 1e6
    );
    let echo = echo_baseline(requests);
    // The driver as `ModbusServer::serve_rtu` runs it: on async-io's executor.
    turnaround_inside("serve_rtu driver", requests, timing.t3_5);
    // Runtimes named on the command line, else all three.
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let run = |name: &str| named.is_empty() || named.iter().any(|n| n == name);
    if run("async-std") {
        turnaround::<modbus_device::runtimes::async_std::AsyncStd>(
            "async-std",
            requests,
            t3_5,
            echo,
        );
    }
    if run("smol") {
        turnaround::<modbus_device::runtimes::smol::Smol>("smol", requests, t3_5, echo);
    }
    if run("tokio") {
        turnaround::<modbus_device::runtimes::tokio::Tokio>("tokio", requests, t3_5, echo);
    }
}
