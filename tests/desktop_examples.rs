//! The example programs, run as processes: the simulator (`server`,
//! `smol_server`) with its command line and TOML file, and each usage
//! example of pyModbusTCP, exercised by a raw client over loopback.
//!
//! The examples are built once per run with the same cargo, profile and
//! target directory as this test.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use desktop_common::*;

/// The simulator's own configuration code, for the sample file's test.
#[allow(dead_code)]
#[path = "../examples/server/config.rs"]
mod sim_config;

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
                "async-std,smol,tokio",
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

/// An error on stderr's first line ("error: ..."), non-zero exit, no panic;
/// returns stderr.
fn assert_clean_error(example: &str, args: &[&str], expect_in_message: &str) -> String {
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
    stderr
}

/// Runs the server on config file `path`: the error names the file and `expect`.
fn assert_config_error(path: &std::path::Path, expect: &str) -> String {
    let path = path.to_str().unwrap();
    let stderr = assert_clean_error("server", &["--config", path], expect);
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.contains(&format!("config file {path}")),
        "{first:?} does not name {path}"
    );
    stderr
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
product_name = "modbus-device"
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
fn server_example_rejects_bad_flags_and_files_cleanly() {
    assert_clean_error("server", &["--port", "abc"], "--port");
    assert_clean_error("server", &["--bogus"], "unknown argument");
    assert_clean_error("server", &["--port"], "needs a value");
    assert_clean_error(
        "server",
        &["--config", "/nonexistent/modbus.toml"],
        "cannot read config file /nonexistent/modbus.toml",
    );
    // Every config error names the file, the data bank's too.
    let unknown = temp_file("unknown-key.toml", "[data_bank]\ncoil_size = 10\n");
    assert_config_error(&unknown, "coil_size");
    let range = temp_file("range.toml", "[data_bank.holding_registers]\n0 = [70000]\n");
    assert_config_error(&range, "outside");
    let long = format!(
        "[device_identification]\nvendor_name = \"{}\"\n",
        "v".repeat(300)
    );
    assert_config_error(&temp_file("long-object.toml", &long), "vendor_name");
    let past = temp_file(
        "past-the-table.toml",
        "[data_bank]\nh_regs_size = 10\n[data_bank.holding_registers]\n8 = [1, 2, 3]\n",
    );
    assert_config_error(&past, "data_bank.holding_registers.8");
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

/// A TOML syntax error keeps toml's lines: position, the line quoted, a
/// caret under the place.
#[test]
fn server_example_config_syntax_error_points_at_the_place() {
    let bad = temp_file("bad-syntax.toml", "[server]\nmax_connections = \n");
    let stderr = assert_config_error(&bad, "line 2, column 19");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.iter().any(|l| l.ends_with("| max_connections = ")),
        "quoted line missing:\n{stderr}"
    );
    let caret = lines.iter().position(|l| l.trim_end().ends_with('^'));
    assert!(caret.is_some(), "caret line missing:\n{stderr}");
    assert!(
        lines.len() > caret.unwrap() + 1,
        "the problem after the caret:\n{stderr}"
    );
}

#[test]
fn server_example_refuses_ipv6_with_an_ipv4_address() {
    for host in ["127.0.0.1", "0.0.0.0"] {
        let args = ["--ipv6", "--host", host, "--port", "0"];
        assert_clean_error("server", &args, "--ipv6 with the IPv4 address");
        let (code, _) = run_to_end("server", &args);
        assert_eq!(code, Some(2), "{args:?}");
    }
}

/// At the default log level (info) the "listening" line appears once, on
/// stdout: the runtime's own log record of it is not repeated on stderr.
#[test]
fn server_example_says_listening_once() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (out_path, err_path) = (dir.join("listening.out"), dir.join("listening.err"));
    let file = |p: &PathBuf| std::fs::File::create(p).unwrap();
    let mut child = Command::new(examples_dir().join("server"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .env("MODBUS_LOG", "info")
        .stdout(file(&out_path))
        .stderr(file(&err_path))
        .spawn()
        .unwrap();
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read(&out_path).contains("listening on ") {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no listening line: {}", read(&err_path));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let (out, err) = (read(&out_path), read(&err_path));
    let count = out
        .lines()
        .chain(err.lines())
        .filter(|l| l.contains("listening"))
        .count();
    assert_eq!(count, 1, "stdout:\n{out}\nstderr:\n{err}");
}

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/server/sample.toml")
}

/// The sample file parses with the simulator's own code and sets every key.
#[test]
fn sample_config_sets_every_key() {
    let path = sample_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let root: toml::Table = text.parse().unwrap();
    let mut keys = Vec::new();
    for (section, table) in &root {
        for (key, value) in table.as_table().unwrap() {
            keys.push(format!("{section}.{key}"));
            assert!(!value.as_table().is_some_and(|t| t.is_empty()), "{key}");
        }
    }
    keys.sort();
    let mut every = [
        "server.max_connections",
        "server.idle_timeout_s",
        "server.on_limit",
        "server.max_connections_per_ip",
        "server.send_buffer_bytes",
        "server.recv_buffer_bytes",
        "data_bank.coils_size",
        "data_bank.coils_default_value",
        "data_bank.d_inputs_size",
        "data_bank.d_inputs_default_value",
        "data_bank.h_regs_size",
        "data_bank.h_regs_default_value",
        "data_bank.i_regs_size",
        "data_bank.i_regs_default_value",
        "data_bank.coils",
        "data_bank.discrete_inputs",
        "data_bank.holding_registers",
        "data_bank.input_registers",
        "device_identification.vendor_name",
        "device_identification.product_code",
        "device_identification.major_minor_revision",
        "device_identification.vendor_url",
        "device_identification.product_name",
        "device_identification.model_name",
        "device_identification.user_application_name",
        "device_identification.objects",
        "files.count",
        "files.records",
        "fifo.queues",
        "server_id.id",
        "server_id.run_indicator",
        "server_id.additional_data",
    ];
    every.sort();
    assert_eq!(keys, every);

    let (sim, bank) = sim_config::load(path.to_str()).unwrap();
    assert_eq!(sim.max_connections, Some(64));
    assert_eq!(sim.idle_timeout, Some(Some(Duration::from_secs(120))));
    let t = sim.tables;
    assert_eq!(
        (t.coils_size, t.d_inputs_size, t.h_regs_size, t.i_regs_size),
        (2000, 2000, 10000, 10000)
    );
    assert!(!t.coils_default_value && t.d_inputs_default_value);
    assert_eq!((t.h_regs_default_value, t.i_regs_default_value), (0, 65535));
    assert_eq!(sim.initial.len(), 5);
    let mut regs = [0u16; 2];
    bank.get_holding_registers(1000, &mut regs).unwrap();
    assert_eq!(regs, [4660, 22136]);
    let mut bits = [false; 3];
    bank.get_discrete_inputs(100, &mut bits).unwrap();
    assert_eq!(
        bits,
        [false, false, true],
        "initial values over the default"
    );
    let id = sim.device_identification.expect("device identification");
    assert_eq!(id.get(0x00), Some(&b"Seed"[..]));
    assert_eq!(id.get(0x06), Some(&b"sample"[..]));
    assert_eq!(id.get(0xFF), Some(&b"last object"[..]));
    assert_eq!(sim.files, (2, 100));
    assert_eq!(sim.fifo_queues, [(1246, vec![440, 4740])]);
    assert_eq!(sim.server_id.server_id(), b"SIM-1");
    assert!(sim.server_id.run_indicator());
    assert_eq!(sim.server_id.additional_data(), b"sample");
    let mut fifo = [0u16; 3];
    bank.get_holding_registers(1246, &mut fifo).unwrap();
    assert_eq!(fifo, [2, 440, 4740], "the count, then the queue");
}

/// The simulator started with the sample file serves its values.
#[test]
fn server_example_serves_the_sample_config() {
    let sample = sample_path();
    let args = ["--host", "127.0.0.1", "--port", "0", "--config"];
    let server = Running::start("server", &[&args[..], &[sample.to_str().unwrap()]].concat());
    let mut client = RawClient::connect(server.addr);
    assert_eq!(
        client.read_holding(0, 5).unwrap(),
        [100, 200, 300, 400, 500]
    );
    assert_eq!(client.read_holding(1000, 2).unwrap(), [4660, 22136]);
    assert_eq!(client.read_input(0, 3).unwrap(), [215, 42, 65535]);
    assert_eq!(
        client.request(&[0x03, 0x27, 0x0F, 0, 2]).unwrap(),
        [0x83, 0x02],
        "9999..=10000 crosses the end of a 10000-register table"
    );
    assert_eq!(
        client.request(&[0x01, 0, 0, 0, 5]).unwrap(),
        [0x01, 1, 0b01101]
    );
    let (_, basic) = objects_of(&client.request(&[0x2B, 0x0E, 0x01, 0x00]).unwrap(), 1);
    assert_eq!(basic[0], (0x00, b"Seed".to_vec()));
    // FC 17: [server_id] of the sample.
    let mut report = vec![0x11, 12];
    report.extend_from_slice(b"SIM-1\xFFsample");
    assert_eq!(client.request(&[0x11]).unwrap(), report);
    // FC 24: the specification's example queue at 1246 (0x04DE).
    assert_eq!(
        client.request(&[0x18, 0x04, 0xDE]).unwrap(),
        [0x18, 0x00, 0x06, 0x00, 0x02, 0x01, 0xB8, 0x12, 0x84]
    );
    // FC 21 then FC 20: file 2, record 99 (the last of 100).
    let write = [
        0x15, 0x09, 0x06, 0x00, 0x02, 0x00, 0x63, 0x00, 0x01, 0x12, 0x34,
    ];
    assert_eq!(client.request(&write).unwrap(), write, "FC 21 echoes");
    assert_eq!(
        client
            .request(&[0x14, 0x07, 0x06, 0x00, 0x02, 0x00, 0x63, 0x00, 0x01])
            .unwrap(),
        [0x14, 0x04, 0x03, 0x06, 0x12, 0x34]
    );
    assert_eq!(
        client
            .request(&[0x14, 0x07, 0x06, 0x00, 0x02, 0x00, 0x64, 0x00, 0x01])
            .unwrap(),
        [0x94, 0x02],
        "record 100 of a 100-record file"
    );
    assert_eq!(
        client
            .request(&[0x14, 0x07, 0x06, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01])
            .unwrap(),
        [0x94, 0x02],
        "file 3 of 2"
    );
    server.interrupt();
}

/// Without a config file the simulator answers every function code it
/// has: file records, FIFO queues, diagnostics, server id.
#[test]
fn server_example_answers_every_function_by_default() {
    let server = Running::start("server", &["--host", "127.0.0.1", "--port", "0"]);
    let mut client = RawClient::connect(server.addr);
    let echo = [0x08, 0x00, 0x00, 0xA5, 0x37];
    assert_eq!(client.request(&echo).unwrap(), echo, "FC 8 / 0x00 echoes");
    assert_eq!(
        client.request(&[0x0B]).unwrap()[..3],
        [0x0B, 0x00, 0x00],
        "FC 11 ready"
    );
    let mut report = vec![0x11, 14];
    report.extend_from_slice(b"modbus-device\xFF");
    assert_eq!(client.request(&[0x11]).unwrap(), report, "FC 17 default");
    assert_eq!(
        client.request(&[0x18, 0x00, 0x00]).unwrap(),
        [0x18, 0x00, 0x02, 0x00, 0x00],
        "FC 24: an empty queue at 0"
    );
    // Default files: 4 of 10,000 records; record 9999 of file 4 exists.
    assert_eq!(
        client
            .request(&[0x14, 0x07, 0x06, 0x00, 0x04, 0x27, 0x0F, 0x00, 0x01])
            .unwrap(),
        [0x14, 0x04, 0x03, 0x06, 0x00, 0x00]
    );
    assert_eq!(
        client
            .request(&[0x14, 0x07, 0x06, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01])
            .unwrap(),
        [0x94, 0x02],
        "file 5 of 4"
    );
    server.interrupt();
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
            (0x04, "modbus-device"),
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

/// `--runtime` picks each runtime the simulator was built with; each one
/// serves, and stops on Ctrl-C. A runtime that is not built in, or not a
/// runtime, is a usage error.
#[test]
fn server_example_runs_on_each_runtime() {
    for runtime in ["async-std", "smol", "tokio"] {
        let server = Running::start(
            "server",
            &["--runtime", runtime, "--host", "127.0.0.1", "--port", "0"],
        );
        let mut client = RawClient::connect(server.addr);
        client.write_holding(3, &[33]).unwrap();
        assert_eq!(client.read_holding(3, 1).unwrap(), [33], "{runtime}");
        server.interrupt();
    }
    let (code, stderr) = run_to_end("server", &["--runtime", "tokyo", "--port", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a runtime"), "{stderr}");
    let (code, stderr) = run_to_end("smol_server", &["--runtime", "tokio", "--port", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("built without it"), "{stderr}");
}

/// The tokio example serves inside its own `#[tokio::main]` runtime
/// (`run_until`), and stops on Ctrl-C.
#[test]
fn tokio_server_example_stops_on_ctrl_c() {
    let server = Running::start("tokio_server", &["--host", "127.0.0.1", "--port", "0"]);
    let mut client = RawClient::connect(server.addr);
    assert_eq!(client.read_holding(0, 3).unwrap(), [100, 200, 300]);
    server.interrupt();
    assert!(client.closed_within(IO_TIMEOUT));
}

#[test]
fn examples_stop_on_their_own() {
    examples_dir(); // built before the clock starts
    let began = Instant::now();
    let (code, stderr) = run_to_end("basic_server", &["--port", "0", "--seconds", "0.5"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(5));
    let (code, stderr) = run_to_end("tokio_server", &["--port", "0", "--seconds", "0.5"]);
    assert_eq!(code, Some(0), "{stderr}");
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
    // The whole range counts: 998 x3 reaches 1000.
    assert_eq!(
        client.request(&[0x03, 0x03, 0xE6, 0, 3]).unwrap(),
        [0x83, 0x01]
    );
    // FC 23 and FC 22 go through the same checks: a write of 5000 at 0,
    // and a mask write that makes register 1 0xFFFF, are refused.
    assert_eq!(
        client
            .request(&[0x17, 0, 0, 0, 1, 0, 0, 0, 1, 2, 0x13, 0x88])
            .unwrap(),
        [0x97, 0x03]
    );
    assert_eq!(
        client.request(&[0x16, 0, 1, 0, 0, 0xFF, 0xFF]).unwrap(),
        [0x96, 0x03]
    );
    assert_eq!(
        client.read_holding(0, 2).unwrap(),
        [0, 0],
        "table unchanged"
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
