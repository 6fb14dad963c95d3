//! The example programs, run as processes: the simulator (`server`,
//! `smol_server`) with its command line and TOML file, and each usage
//! example of the spec, exercised by a raw client over loopback.
//!
//! The examples are built once per run with the same cargo, profile and
//! target directory as this test.
#![cfg(all(feature = "async-std", feature = "smol"))]

mod desktop_common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use desktop_common::*;

/// The directory holding the built examples (built on first use).
fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test runs from <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("profile dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => "dev",
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--examples",
                "--features",
                "async-std,smol",
                "--profile",
                profile,
            ])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the examples failed");
        profile_dir.join("examples")
    })
}

/// A running example: its process, address, and its stdout lines.
struct Running {
    child: Child,
    addr: SocketAddr,
    lines: Receiver<String>,
}

impl Running {
    /// Starts `example` with `args` and waits for its "listening on ADDR" line.
    fn start(example: &str, args: &[&str]) -> Running {
        let mut child = Command::new(examples_dir().join(example))
            .args(args)
            .env("MODBUS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {example}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            addr: ([0, 0, 0, 0], 0).into(),
            lines,
        };
        let line = running
            .wait_for_line(|l| l.contains("listening on "), Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{example} did not say where it listens"));
        let addr = line.rsplit("listening on ").next().unwrap();
        let addr = addr.split_whitespace().next().unwrap();
        running.addr = addr
            .parse()
            .unwrap_or_else(|_| panic!("address in {line:?}"));
        running
    }

    /// The next stdout line that matches, within `limit`.
    fn wait_for_line(&mut self, matches: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if matches(&line) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and expects a clean exit within 5 s.
    fn interrupt(mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status after Ctrl-C: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "did not stop on Ctrl-C");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `example` with `args` to completion (bounded); returns (success, code, stderr).
fn run_to_end(example: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(examples_dir().join(example))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{example} {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A one-line error, non-zero exit, no panic.
fn assert_clean_error(example: &str, args: &[&str], expect_in_message: &str) {
    let (code, stderr) = run_to_end(example, args);
    assert!(
        matches!(code, Some(c) if c != 0),
        "{args:?}: exit code {code:?}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: panic: {stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        first.contains(expect_in_message),
        "{args:?}: {first:?} lacks {expect_in_message:?}"
    );
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The configuration file's [device_identification] example (examples/server/config.rs).
const ISSUE_TOML: &str = r#"
[device_identification]
vendor_name = "Seed"
product_code = "MS-1"
major_minor_revision = "1.0"
vendor_url = "https://example.com"
product_name = "modbus-server"
model_name = "sim"
user_application_name = "acceptance"
[device_identification.objects]
128 = "extra object"
"#;

/// The `id len value` objects of a FC 43 response PDU, after checking its header.
fn objects_of(pdu: &[u8], read_code: u8) -> (u8, Vec<(u8, Vec<u8>)>) {
    assert_eq!(&pdu[..3], &[0x2B, 0x0E, read_code], "{pdu:02X?}");
    assert_eq!(pdu[4], 0, "more follows");
    let count = pdu[6];
    let mut objects = Vec::new();
    let mut rest = &pdu[7..];
    for _ in 0..count {
        let (id, len) = (rest[0], usize::from(rest[1]));
        objects.push((id, rest[2..2 + len].to_vec()));
        rest = &rest[2 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes");
    (pdu[3], objects)
}

#[test]
fn server_example_rejects_bad_flags_and_files_with_one_line() {
    assert_clean_error("server", &["--port", "abc"], "--port");
    assert_clean_error("server", &["--bogus"], "unknown argument");
    assert_clean_error("server", &["--port"], "needs a value");
    assert_clean_error(
        "server",
        &["--config", "/nonexistent/modbus.toml"],
        "cannot read",
    );
    let bad_toml = temp_file("bad-syntax.toml", "[server\nmax_connections = ");
    assert_clean_error(
        "server",
        &["--config", bad_toml.to_str().unwrap()],
        "config file",
    );
    let unknown = temp_file("unknown-key.toml", "[data_bank]\ncoil_size = 10\n");
    assert_clean_error(
        "server",
        &["--config", unknown.to_str().unwrap()],
        "coil_size",
    );
    let range = temp_file("range.toml", "[data_bank.holding_registers]\n0 = [70000]\n");
    assert_clean_error("server", &["--config", range.to_str().unwrap()], "outside");
    let long = format!(
        "[device_identification]\nvendor_name = \"{}\"\n",
        "v".repeat(300)
    );
    let long = temp_file("long-object.toml", &long);
    assert_clean_error(
        "server",
        &["--config", long.to_str().unwrap()],
        "vendor_name",
    );
    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_clean_error(
        "server",
        &["--host", "127.0.0.1", "--port", &port],
        "cannot listen",
    );
    assert_clean_error(
        "smol_server",
        &["--host", "no.such.host.invalid", "--port", "0"],
        "host",
    );
}

#[test]
fn server_example_serves_the_issue_toml_identification() {
    let config = temp_file("issue.toml", ISSUE_TOML);
    for example in ["server", "smol_server"] {
        let server = Running::start(
            example,
            &[
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--config",
                config.to_str().unwrap(),
            ],
        );
        let mut client = RawClient::connect(server.addr);
        let (conformity, objects) =
            objects_of(&client.request(&[0x2B, 0x0E, 0x03, 0x00]).unwrap(), 3);
        assert_eq!(conformity, 0x83, "extended objects configured");
        let expected: Vec<(u8, Vec<u8>)> = [
            (0x00, "Seed"),
            (0x01, "MS-1"),
            (0x02, "1.0"),
            (0x03, "https://example.com"),
            (0x04, "modbus-server"),
            (0x05, "sim"),
            (0x06, "acceptance"),
            (0x80, "extra object"),
        ]
        .iter()
        .map(|(id, v)| (*id, v.as_bytes().to_vec()))
        .collect();
        assert_eq!(objects, expected);
        let (_, basic) = objects_of(&client.request(&[0x2B, 0x0E, 0x01, 0x00]).unwrap(), 1);
        assert_eq!(basic, expected[..3]);
        let (_, one) = objects_of(&client.request(&[0x2B, 0x0E, 0x04, 0x05]).unwrap(), 4);
        assert_eq!(one, expected[5..6]);
        server.interrupt();
    }
}

#[test]
fn server_example_listens_on_ipv6_loopback() {
    if !ipv6_available() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback");
        return;
    }
    let server = Running::start("server", &["--host", "::1", "--port", "0"]);
    assert!(
        server.addr.is_ipv6() && server.addr.ip().is_loopback(),
        "{}",
        server.addr
    );
    let mut client = RawClient::connect(server.addr);
    client.write_holding(0, &[6]).unwrap();
    assert_eq!(client.read_holding(0, 1).unwrap(), [6]);
    server.interrupt();
}

#[test]
fn examples_stop_on_their_own() {
    examples_dir(); // built before the clock starts
    let began = Instant::now();
    let (code, stderr) = run_to_end("basic_server", &["--port", "0", "--seconds", "0.5"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(5));
    let (code, stderr) = run_to_end("basic_server", &["--seconds", "x"]);
    assert_eq!(code, Some(2), "{stderr}");
}

const RUN: [&str; 4] = ["--port", "0", "--seconds", "60"];

#[test]
fn basic_server_example() {
    let server = Running::start("basic_server", &RUN);
    let mut client = RawClient::connect(server.addr);
    assert_eq!(
        client.read_holding(0, 5).unwrap(),
        [100, 200, 300, 400, 500]
    );
    assert_eq!(
        client.request(&[0x01, 0, 0, 0, 4]).unwrap(),
        [0x01, 1, 0b0101]
    );
    server.interrupt();
}

#[test]
fn change_monitoring_example() {
    let mut server = Running::start("change_monitoring", &RUN);
    let mut client = RawClient::connect(server.addr);
    let me = client.stream.local_addr().unwrap().to_string();
    client.write_holding(10, &[1, 2]).unwrap();
    let lines = Duration::from_secs(5);
    assert!(server
        .wait_for_line(|l| l == "Registers 10-11 changed:", lines)
        .is_some());
    assert!(server
        .wait_for_line(|l| l == " From: [0, 0]", lines)
        .is_some());
    assert!(server
        .wait_for_line(|l| l == " To: [1, 2]", lines)
        .is_some());
    assert!(server
        .wait_for_line(|l| l == format!(" Client: {me}"), lines)
        .is_some());
    assert_eq!(
        client.request(&[0x05, 0, 3, 0xFF, 0]).unwrap(),
        [0x05, 0, 3, 0xFF, 0]
    );
    assert!(server
        .wait_for_line(|l| l == "Coils 3-3 changed:", lines)
        .is_some());
    server.interrupt();
}

#[test]
fn device_identification_example() {
    let server = Running::start("device_identification", &RUN);
    let mut client = RawClient::connect(server.addr);
    let (conformity, objects) = objects_of(&client.request(&[0x2B, 0x0E, 0x02, 0x00]).unwrap(), 2);
    assert_eq!(conformity, 0x82, "regular objects configured");
    let names: Vec<String> = objects
        .iter()
        .map(|(_, v)| String::from_utf8_lossy(v).into())
        .collect();
    assert_eq!(
        names,
        [
            "My Company",
            "MC-001",
            "1.0",
            "https://mycompany.com",
            "Industrial Controller",
            "IC-2024",
            "Factory Automation"
        ]
    );
    server.interrupt();
}

#[test]
fn custom_handler_example() {
    let mut server = Running::start("custom_handler", &RUN);
    let mut client = RawClient::connect(server.addr);
    let me = client.stream.local_addr().unwrap().to_string();
    assert_eq!(
        client.request(&[0x03, 0x03, 0xE8, 0, 1]).unwrap(),
        [0x83, 0x01],
        "address 1000 refused"
    );
    assert_eq!(
        client.request(&fc16(5, &[1001])).unwrap(),
        [0x90, 0x03],
        "value above 1000 refused"
    );
    client.write_holding(5, &[1000]).unwrap();
    assert_eq!(client.read_holding(5, 1).unwrap(), [1000]);
    let log = format!("Client {me} reading 1 registers from 5");
    assert!(server
        .wait_for_line(|l| l == log, Duration::from_secs(5))
        .is_some());
    server.interrupt();
}

#[test]
fn virtual_data_example() {
    let server = Running::start("virtual_data", &RUN);
    let mut client = RawClient::connect(server.addr);
    // The status bits follow the readings; an update may fall between two
    // reads, so read readings, status, readings until the readings held.
    let mut consistent = false;
    for _ in 0..3 {
        let sensors = client.read_input(0, 3).unwrap();
        assert!((180..=250).contains(&sensors[0]), "temperature {sensors:?}");
        assert!((30..=70).contains(&sensors[1]), "humidity {sensors:?}");
        assert!((990..=1020).contains(&sensors[2]), "pressure {sensors:?}");
        let status = client.request(&[0x02, 0, 0, 0, 3]).unwrap();
        if client.read_input(0, 3).unwrap() != sensors {
            continue;
        }
        let expected = 1 | u8::from(sensors[0] > 220) << 1 | u8::from(sensors[1] > 60) << 2;
        assert_eq!(status, [0x02, 1, expected], "status for {sensors:?}");
        consistent = true;
        break;
    }
    assert!(
        consistent,
        "readings changed under every read (updates are once a second)"
    );
    // The computed registers: uptime in seconds, growing.
    let first = client.read_input(1000, 2).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let later = client.read_input(998, 4).unwrap();
    assert_eq!(
        later[..2],
        [0, 0],
        "stored registers around the computed ones"
    );
    assert!(
        later[2] > first[0] && later[2] <= first[0] + 4,
        "{first:?} then {later:?}"
    );
    // The sensor values were updated by the thread meanwhile (or kept their range).
    let sensors = client.read_input(0, 3).unwrap();
    assert!((180..=250).contains(&sensors[0]), "{sensors:?}");
    server.interrupt();
}

#[test]
fn unit_routing_example() {
    let server = Running::start("unit_routing", &RUN);
    let mut client = RawClient::connect(server.addr);
    for (unit, owner) in [(0u8, 1u16), (1, 1), (2, 2), (3, 3)] {
        let response = client.request_unit(unit, &[0x03, 0, 0, 0, 1]).unwrap();
        assert_eq!(words_of(&response, 0x03, 1), [owner], "unit {unit}");
    }
    assert_eq!(
        client.request_unit(9, &[0x03, 0, 0, 0, 1]).unwrap(),
        [0x83, 0x0B]
    );
    assert_eq!(
        client.request_unit(2, &fc16(1, &[22])).unwrap(),
        fc16(1, &[22])[..5]
    );
    let unit3 = client.request_unit(3, &[0x03, 0, 1, 0, 1]).unwrap();
    assert_eq!(words_of(&unit3, 0x03, 1), [0], "unit 3 has its own data");
    let unit2 = client.request_unit(2, &[0x03, 0, 1, 0, 1]).unwrap();
    assert_eq!(words_of(&unit2, 0x03, 1), [22]);
    server.interrupt();
}

#[test]
fn ext_engine_example() {
    let server = Running::start("ext_engine", &RUN);
    let mut client = RawClient::connect(server.addr);
    client
        .write_holding(10, &[1, 2, 3, 60_000, 60_000])
        .unwrap();
    let sum = client.request(&[0x41, 0, 10, 0, 5]).unwrap();
    assert_eq!(sum, [&[0x41][..], &120_006u32.to_be_bytes()].concat());
    assert_eq!(client.request(&[0x41, 0, 10, 0, 0]).unwrap(), [0xC1, 0x03]);
    assert_eq!(client.request(&[0x41, 0, 10]).unwrap(), [0xC1, 0x03]);
    assert_eq!(
        client.request(&[0x41, 0xFF, 0xFF, 0, 2]).unwrap(),
        [0xC1, 0x02]
    );
    assert_eq!(
        client.request(&[0x42]).unwrap(),
        [0xC2, 0x01],
        "other codes dispatch as usual"
    );
    assert_eq!(client.read_holding(10, 2).unwrap(), [1, 2]);
    server.interrupt();
}
