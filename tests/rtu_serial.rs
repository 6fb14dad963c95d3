//! `ModbusServer::serve_rtu` on a serial line: a PTY pair made by socat,
//! the server on one end and a real RTU client on the other: pymodbus's
//! serial client, Debian's mbpoll (`-m rtu`) and libmodbus
//! (`modbus_new_rtu`, `tests/c/rtu_client.c`). PTYs pass bytes at once,
//! whatever the rate; the 19,200-baud silent intervals still end frames.
//!
//! A missing client or socat is a failure (`ci/install.sh` installs them);
//! only `MODBUS_SKIP_EXTERNAL=1` turns it into a skip that says so.
#![cfg(all(
    unix,
    feature = "serial",
    feature = "async-std",
    feature = "smol",
    feature = "tokio"
))]

mod desktop_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use desktop_common::pty::PtyPair;
use desktop_common::*;
use modbus_device::runtimes::serial::{LineConfig, SerialPort};
use modbus_device::runtimes::{ModbusServer, Runtime};
use modbus_device::{DataBank, HeapStorage, Service};

all_runtimes!(pymodbus_serial_client, mbpoll_rtu, libmodbus_rtu);

const BAUD: u32 = 19_200;
const UNIT: u8 = 1;

fn service() -> Service<DataBank<HeapStorage>> {
    let mut bank = DataBank::default();
    bank.set_holding_registers(0, &[100, 200, 300, 400, 500])
        .unwrap();
    Service::new(bank)
}

fn command_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Serves RTU on the pair's server end in a thread of its own, runs
/// `client` against the other end, and returns its output. Closing the
/// pair ends the serving thread (its port fails).
fn with_rtu_server<R: Runtime>(name: &str, client: impl FnOnce(&Path) -> Output) -> Output {
    let pair = PtyPair::new(Path::new(env!("CARGO_TARGET_TMPDIR")), name);
    let server = ModbusServer::<R, _, _>::new(loopback_config(), service());
    let line = LineConfig {
        baud: BAUD,
        ..LineConfig::default()
    };
    let port = SerialPort::open(&pair.server, line).expect("the PTY opens as a serial port");
    let serving = std::thread::spawn(move || R::block_on(server.serve_rtu(port, UNIT)));
    let out = client(&pair.client);
    drop(pair);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !serving.is_finished() {
        assert!(
            Instant::now() < deadline,
            "serve_rtu did not end with its port"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = serving.join().expect("serve_rtu does not panic");
    out
}

/// Runs `command`, killed after `limit`.
fn run(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Prints the client's output and checks its summary line.
fn assert_passed(what: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "{what} failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "{what} printed no summary"
    );
}

fn pymodbus_serial_client<R: Runtime>() {
    let has = Command::new(python())
        .args(["-c", "import pymodbus, serial"])
        .status()
        .is_ok_and(|s| s.success());
    if !require("socat", command_exists("socat")) || !require("pymodbus with pyserial", has) {
        return;
    }
    let out = with_rtu_server::<R>("pymodbus", |device| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
        let mut command = Command::new(python());
        command
            .arg(dir.join("pymodbus_rtu.py"))
            .arg("serial")
            .arg(device)
            .args([BAUD.to_string(), UNIT.to_string()])
            .current_dir(&dir);
        run(command, Duration::from_secs(60))
    });
    assert_passed("pymodbus_rtu.py serial", &out);
}

fn mbpoll_rtu<R: Runtime>() {
    if !require("socat", command_exists("socat")) || !require("mbpoll", command_exists("mbpoll")) {
        return;
    }
    let out = with_rtu_server::<R>("mbpoll", |device| {
        let mbpoll = |args: &[&str]| {
            let mut command = Command::new("mbpoll");
            command
                .args([
                    "-m", "rtu", "-b", "19200", "-P", "even", "-a", "1", "-0", "-1", "-o", "1",
                ])
                .args(args)
                .arg(device);
            let out = run(command, Duration::from_secs(20));
            assert!(
                out.status.success(),
                "mbpoll {args:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let read = mbpoll(&["-t", "4", "-r", "0", "-c", "5"]);
        for (i, value) in [100, 200, 300, 400, 500].iter().enumerate() {
            assert!(
                read.contains(&format!("[{i}]: \t{value}")),
                "FC 3 read:\n{read}"
            );
        }
        // Writes: mbpoll takes the values after the device.
        let mut command = Command::new("mbpoll");
        command
            .args([
                "-m", "rtu", "-b", "19200", "-P", "even", "-a", "1", "-0", "-1", "-o", "1",
            ])
            .args(["-t", "4", "-r", "20"])
            .arg(device)
            .args(["1234", "5678"]);
        let written = run(command, Duration::from_secs(20));
        assert!(
            written.status.success(),
            "mbpoll write: {}",
            String::from_utf8_lossy(&written.stdout)
        );
        let back = mbpoll(&["-t", "4", "-r", "20", "-c", "2"]);
        assert!(
            back.contains("[20]: \t1234") && back.contains("[21]: \t5678"),
            "after FC 16:\n{back}"
        );
        // Another address: no answer, a timeout.
        let mut command = Command::new("mbpoll");
        command
            .args([
                "-m", "rtu", "-b", "19200", "-P", "even", "-a", "2", "-0", "-1", "-o", "0.3",
            ])
            .args(["-t", "4", "-r", "0"])
            .arg(device);
        let other = run(command, Duration::from_secs(20));
        let other = String::from_utf8_lossy(&other.stdout).into_owned();
        assert!(
            !other.contains("[0]: \t100"),
            "address 2 answered:\n{other}"
        );
        Output {
            status: written.status,
            stdout: format!("{read}{back}mbpoll rtu: 4 passed, 0 failed\n").into_bytes(),
            stderr: vec![],
        }
    });
    assert_passed("mbpoll -m rtu", &out);
}

/// tests/c/rtu_client.c, compiled once; `None` without cc or libmodbus.
fn libmodbus_client() -> Option<&'static Path> {
    static CLIENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLIENT
        .get_or_init(|| build_libmodbus_client("rtu_client.c"))
        .as_deref()
}

fn libmodbus_rtu<R: Runtime>() {
    if !require("socat", command_exists("socat")) {
        return;
    }
    let Some(client) = libmodbus_client() else {
        require("cc and libmodbus-dev", false);
        return;
    };
    let out = with_rtu_server::<R>("libmodbus", |device| {
        let mut command = Command::new(client);
        command
            .arg(device)
            .args([BAUD.to_string(), UNIT.to_string()]);
        run(command, Duration::from_secs(60))
    });
    assert_passed("libmodbus rtu_client", &out);
}
