//! libmodbus's `modbus_report_slave_id` (FC 17) against the desktop server,
//! over loopback: `tests/c/report_server_id.c`, compiled here with `cc` and
//! linked with libmodbus (Debian's `libmodbus-dev`, which `ci/install.sh`
//! installs).
//!
//! A missing compiler or libmodbus is a failure; only
//! `MODBUS_SKIP_EXTERNAL=1` turns it into a skip that says so.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use desktop_common::*;
use modbus_device::runtimes::Runtime;
use modbus_device::{DataBank, ServerId, Service};

all_runtimes!(libmodbus_report_server_id);

/// libmodbus's own server reports a server id then the run indicator 0xFF
/// (its unit test checks the 0xFF); additional data as a version string.
fn server_id() -> ServerId {
    ServerId::new(&[0x2A])
        .unwrap()
        .with_additional_data(b"MD 0.1")
        .unwrap()
}

/// The client, compiled once per test run; `None` if `cc` or libmodbus is
/// missing.
fn client() -> Option<&'static Path> {
    static CLIENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLIENT
        .get_or_init(|| build_libmodbus_client("report_server_id.c"))
        .as_deref()
}

fn run(client: &Path, addr: SocketAddr) -> String {
    let out = Command::new(client)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .expect("run the libmodbus client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "libmodbus client failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn libmodbus_report_server_id<R: Runtime>() {
    let Some(client) = client() else {
        assert!(
            std::env::var("MODBUS_SKIP_EXTERNAL").is_ok_and(|v| v == "1"),
            "cc or libmodbus (libmodbus-dev) is missing (run ci/install.sh, or set MODBUS_SKIP_EXTERNAL=1 to skip)"
        );
        eprintln!("SKIPPED: cc or libmodbus-dev is missing (MODBUS_SKIP_EXTERNAL=1)");
        return;
    };
    let mut bank = DataBank::default();
    bank.set_holding_registers(0, &[1234]).unwrap();
    let (server, addr) = start::<R, _, _>(
        loopback_config(),
        Service::new(bank).with_server_id(server_id()),
    );
    // Server id 2A, run indicator FF, "MD 0.1".
    assert_eq!(
        run(client, addr),
        "2a ff 4d 44 20 30 2e 31\nregister 1234\n"
    );
    server.stop();

    // Without a server id: exception 1 (illegal function), and the
    // connection goes on serving.
    let (bare, addr) = start::<R, _, _>(loopback_config(), Service::new(DataBank::default()));
    assert_eq!(run(client, addr), "exception 1\nregister 0\n");
    bare.stop();
}
