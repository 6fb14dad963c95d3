//! RTU over TCP (`ServerConfig::framing = TcpFraming::Rtu`) on each desktop
//! runtime: pymodbus's RTU framer on a TCP client, and raw frames (two in
//! one write, a CRC error counted by FC 8 sub-function 0x0C).
#![cfg(all(
    feature = "rtu",
    feature = "async-std",
    feature = "smol",
    feature = "tokio"
))]

mod desktop_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use desktop_common::*;
use modbus_device::rtu::crc16;
use modbus_device::runtimes::{Runtime, TcpFraming};
use modbus_device::{DataBank, HeapStorage, Service};

all_runtimes!(pymodbus_rtu_framer_over_tcp, raw_frames_over_tcp);

fn service() -> Service<DataBank<HeapStorage>> {
    let mut bank = DataBank::default();
    bank.set_holding_registers(0, &[100, 200, 300, 400, 500])
        .unwrap();
    Service::new(bank)
}

fn rtu_config() -> modbus_device::runtimes::ServerConfig {
    let mut config = loopback_config();
    config.framing = TcpFraming::Rtu;
    config
}

fn pymodbus_rtu_framer_over_tcp<R: Runtime>() {
    let (server, addr) = start::<R, _, _>(rtu_config(), service());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let out = Command::new(python())
        .arg(dir.join("pymodbus_rtu.py"))
        .args(["tcp", &addr.ip().to_string(), &addr.port().to_string(), "1"])
        .current_dir(&dir)
        .output()
        .expect("python runs (ci/clients.sh installs pymodbus)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "pymodbus_rtu.py failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "no summary:\n{stdout}"
    );
    server.stop();
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut frame = body.to_vec();
    frame.extend_from_slice(&crc16(body).to_le_bytes());
    frame
}

fn read_exact(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("a response");
    buf
}

fn raw_frames_over_tcp<R: Runtime>() {
    let (server, addr) = start::<R, _, _>(rtu_config(), service());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // Two requests in one write, to two addresses (every address is served).
    let mut both = frame(&[0x07, 0x03, 0x00, 0x00, 0x00, 0x01]);
    both.extend(frame(&[0x09, 0x03, 0x00, 0x04, 0x00, 0x01]));
    stream.write_all(&both).unwrap();
    assert_eq!(
        read_exact(&mut stream, 7),
        frame(&[0x07, 0x03, 0x02, 0x00, 100])
    );
    assert_eq!(
        read_exact(&mut stream, 7),
        frame(&[0x09, 0x03, 0x02, 0x01, 0xF4])
    );
    // A CRC error: dropped, and counted.
    let mut bad = frame(&[0x07, 0x03, 0x00, 0x00, 0x00, 0x01]);
    bad[7] ^= 0x80;
    stream.write_all(&bad).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream
        .write_all(&frame(&[0x07, 0x08, 0x00, 0x0C, 0x00, 0x00]))
        .unwrap();
    assert_eq!(
        read_exact(&mut stream, 8),
        frame(&[0x07, 0x08, 0x00, 0x0C, 0x00, 0x01])
    );
    server.stop();
}
