//! The desktop server against the Python clients (pymodbus, pyModbusTCP)
//! and Debian's `mbpoll`, over loopback.
//!
//! The Python clients run on the interpreter `$MODBUS_PYTHON` names, else
//! `target/venv/bin/python3` when it exists (the virtual environment
//! `ci/clients.sh` makes), else `python3`. A missing client is a failure;
//! only `MODBUS_SKIP_EXTERNAL=1` turns it into a skip that says so.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use desktop_common::exceptions::EXCEPTION_CASES;
use desktop_common::*;
use modbus_device::runtimes::Runtime;
use modbus_device::{
    object_id, DataBank, DeviceIdentification, HeapFiles, HeapStorage, NoCallbacks, ServerId,
    Service,
};

all_runtimes!(pymodbus_client, pymodbustcp_client, mbpoll_client);

const HOLDING: [u16; 5] = [100, 200, 300, 400, 500];
const COILS: [bool; 4] = [true, false, true, false];
const DISCRETE: [bool; 3] = [true, false, true];
const INPUT: [u16; 3] = [11, 22, 33];

fn python_has(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The identification served: more than one response PDU's worth of objects.
fn identification() -> DeviceIdentification {
    DeviceIdentification::from_objects([
        (object_id::VENDOR_NAME, &b"Seed"[..]),
        (object_id::PRODUCT_CODE, b"MS-1"),
        (object_id::MAJOR_MINOR_REVISION, b"1.0"),
        (object_id::VENDOR_URL, &[b'a'; 120]),
        (object_id::PRODUCT_NAME, &[b'b'; 100]),
        (0x80, &[b'x'; 90]),
    ])
    .unwrap()
}

fn service() -> Service<DataBank<HeapStorage, NoCallbacks, HeapFiles>> {
    // FC 20 / 21: files 1..=3 of 100 records (pymodbus_client.py).
    let mut bank = DataBank::default().with_files(HeapFiles::new(3, 100).unwrap());
    // FC 24: the specification's example queue (pymodbus_client.py).
    bank.set_fifo_queue(1246, &[440, 4740]).unwrap();
    bank.set_holding_registers(0, &HOLDING).unwrap();
    bank.set_coils(0, &COILS).unwrap();
    bank.set_discrete_inputs(0, &DISCRETE).unwrap();
    bank.set_input_registers(0, &INPUT).unwrap();
    Service::new(bank)
        .with_device_identification(identification())
        // FC 17 (the scenario's "server_id").
        .with_server_id(ServerId::new(SERVER_ID).unwrap())
}

/// FC 17's server id (run indicator ON, no additional data: pymodbus reads
/// the last byte as the run indicator).
const SERVER_ID: &[u8] = b"MS-1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn json_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// The scenario the Python scripts read on stdin (see tests/python/pymodbustcp_client.py).
fn scenario(addr: SocketAddr, bare: SocketAddr) -> String {
    let id = identification();
    let objects: Vec<String> = id
        .iter()
        .map(|(k, v)| format!("\"{k}\": \"{}\"", hex(v)))
        .collect();
    let cases: Vec<String> = EXCEPTION_CASES
        .iter()
        .map(|c| {
            format!(
                "{{\"name\": {}, \"pdu\": \"{}\", \"exception\": {}}}",
                json_str(c.name),
                hex(c.pdu),
                c.exception
            )
        })
        .collect();
    let py_bool = |b: &bool| if *b { "true" } else { "false" };
    format!(
        "{{\"host\": \"{}\", \"port\": {}, \"bare_port\": {}, \"holding\": {}, \"coils\": {}, \"discrete_inputs\": {}, \
         \"input_registers\": {}, \"conformity_level\": {}, \"device_identification\": {{{}}}, \"exceptions\": [{}], \
         \"server_id\": \"{}\"}}",
        addr.ip(),
        addr.port(),
        bare.port(),
        json_list(HOLDING),
        json_list(COILS.iter().map(py_bool)),
        json_list(DISCRETE.iter().map(py_bool)),
        json_list(INPUT),
        id.conformity_level(),
        objects.join(", "),
        cases.join(", "),
        hex(SERVER_ID)
    )
}

/// Runs `command` with `stdin`, killed after `limit`.
fn run(mut command: Command, stdin: &str, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn run_script<R: Runtime>(script: &str) {
    let (server, addr) = start::<R, _, _>(loopback_config(), service());
    // The exception table's preconditions: default bank, no identification.
    let (bare, bare_addr) = start::<R, _, _>(loopback_config(), Service::new(DataBank::default()));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let mut command = Command::new(python());
    command.arg(dir.join(script)).current_dir(&dir);
    let out = run(command, &scenario(addr, bare_addr), Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "{script} failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "{script} printed no summary"
    );
    server.stop();
    bare.stop();
}

fn pymodbus_client<R: Runtime>() {
    let what = format!("Python module pymodbus (in {})", python().display());
    if require(&what, python_has("pymodbus")) {
        run_script::<R>("pymodbus_client.py");
    }
}

fn pymodbustcp_client<R: Runtime>() {
    let what = format!("Python module pyModbusTCP (in {})", python().display());
    if require(&what, python_has("pyModbusTCP")) {
        run_script::<R>("pymodbustcp_client.py");
    }
}

/// Runs `mbpoll` once (`-1`) against `addr` with 0-based references; returns stdout.
fn mbpoll(addr: SocketAddr, args: &[&str]) -> String {
    let port = addr.port().to_string();
    let mut command = Command::new("mbpoll");
    command
        .args(["-m", "tcp", "-p", &port, "-0", "-1", "-o", "2"])
        .args(args);
    let out = run(command, "", Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mbpoll {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `[ref]: value` lines of mbpoll's output.
fn values(stdout: &str) -> Vec<(u32, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix('[')?;
            let (reference, value) = rest.split_once("]:")?;
            Some((reference.parse().ok()?, value.trim().to_string()))
        })
        .collect()
}

fn mbpoll_client<R: Runtime>() {
    let present = Command::new("mbpoll")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !require("mbpoll", present) {
        return;
    }
    let (server, addr) = start::<R, _, _>(loopback_config(), service());
    let host = addr.ip().to_string();
    let v = |list: &[(u32, &str)]| -> Vec<(u32, String)> {
        list.iter().map(|(r, s)| (*r, s.to_string())).collect()
    };
    // FC 3, 4, 1, 2.
    let out = mbpoll(addr, &["-a", "1", "-t", "4", "-r", "0", "-c", "5", &host]);
    assert_eq!(
        values(&out),
        v(&[(0, "100"), (1, "200"), (2, "300"), (3, "400"), (4, "500")]),
        "{out}"
    );
    let out = mbpoll(addr, &["-a", "1", "-t", "3", "-r", "0", "-c", "3", &host]);
    assert_eq!(values(&out), v(&[(0, "11"), (1, "22"), (2, "33")]), "{out}");
    let out = mbpoll(addr, &["-a", "1", "-t", "0", "-r", "0", "-c", "4", &host]);
    assert_eq!(
        values(&out),
        v(&[(0, "1"), (1, "0"), (2, "1"), (3, "0")]),
        "{out}"
    );
    let out = mbpoll(addr, &["-a", "1", "-t", "1", "-r", "0", "-c", "3", &host]);
    assert_eq!(values(&out), v(&[(0, "1"), (1, "0"), (2, "1")]), "{out}");
    // FC 6 and 16 (mbpoll writes one value with FC 6, several with FC 16).
    mbpoll(addr, &["-a", "7", "-t", "4", "-r", "10", &host, "4242"]);
    mbpoll(
        addr,
        &["-a", "7", "-t", "4", "-r", "11", &host, "1", "2", "3"],
    );
    // FC 5 and 15.
    mbpoll(addr, &["-a", "7", "-t", "0", "-r", "20", &host, "1"]);
    mbpoll(
        addr,
        &["-a", "7", "-t", "0", "-r", "21", &host, "0", "1", "1"],
    );
    server.with_data_bank(|bank| {
        let mut regs = [0u16; 4];
        bank.get_holding_registers(10, &mut regs).unwrap();
        assert_eq!(regs, [4242, 1, 2, 3]);
        let mut coils = [false; 4];
        bank.get_coils(20, &mut coils).unwrap();
        assert_eq!(coils, [true, false, true, true]);
    });
    // An exception: mbpoll reports it and exits non-zero.
    let port = addr.port().to_string();
    let out = Command::new("mbpoll")
        .args([
            "-m", "tcp", "-p", &port, "-0", "-1", "-o", "2", "-t", "4", "-r", "65535", "-c", "2",
            &host,
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.to_lowercase().contains("illegal data address"),
        "mbpoll output: {text}"
    );
    server.stop();
}
