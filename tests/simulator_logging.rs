//! The simulator's logging under load (examples/server, run as a process):
//! a stderr nobody reads does not stop serving, a write is one change line,
//! and refused connections are counted rather than logged one by one.
//!
//! The examples are built once per run with the same cargo, profile and
//! target directory as this test (as in tests/desktop_examples.rs).
#![cfg(all(feature = "async-std", feature = "smol"))]

mod desktop_common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use desktop_common::RawClient;

/// The directory holding the built examples (built on first use).
fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test runs from <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(|d| d.parent()).expect("profile dir");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--examples", "--features", "async-std,smol"])
            .args(["--profile", profile])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the examples failed");
        profile_dir.join("examples")
    })
}

/// The simulator on a free loopback port, at log level `level`.
struct Simulator {
    child: Child,
    addr: SocketAddr,
}

impl Simulator {
    fn start(level: &str, args: &[&str]) -> Simulator {
        let mut child = Command::new(examples_dir().join("server"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .env("MODBUS_LOG", level)
            .env("ASYNC_STD_THREAD_COUNT", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the simulator");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .expect("the simulator's first line");
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        Simulator { child, addr }
    }

    /// The stderr lines, read on a thread as they come.
    fn stderr_lines(&mut self) -> Receiver<String> {
        let stderr: ChildStderr = self.child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines until one matches `last` (included), within `limit`.
fn lines_until(
    lines: &Receiver<String>,
    last: impl Fn(&str) -> bool,
    limit: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = last(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!(
                "no matching line within {limit:?}; got:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// A stderr pipe that is never read fills up; logging must then cost lines,
/// not service. The old logger wrote stderr on the executor thread under the
/// service lock and stopped every client once the pipe was full.
#[test]
fn unread_stderr_does_not_stop_serving() {
    // stderr stays piped and unread for the whole test.
    let sim = Simulator::start("info", &[]);
    let started = Instant::now();
    let mut client = RawClient::connect(sim.addr);
    // 2000 change lines of ~90 bytes: far more than a pipe holds (64 KiB).
    let mut values = [0u16; 100];
    for round in 0..2000u16 {
        values.iter_mut().for_each(|v| *v = round);
        client
            .write_holding(10, &values)
            .unwrap_or_else(|e| panic!("write {round} unanswered: {e}"));
    }
    for i in 0..200 {
        client
            .read_holding(10, 100)
            .unwrap_or_else(|e| panic!("read {i} unanswered: {e}"));
    }
    // A new client too: its "connected" line cannot be written either.
    let mut other = RawClient::connect(sim.addr);
    for i in 0..200 {
        other
            .read_holding(0, 1)
            .unwrap_or_else(|e| panic!("second client's read {i} unanswered: {e}"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// One FC 16 write of 100 registers is one line naming the range and the
/// client, with the first values and a count of the rest.
#[test]
fn one_write_is_one_change_line() {
    let mut sim = Simulator::start("info", &[]);
    let lines = sim.stderr_lines();
    let mut client = RawClient::connect(sim.addr);
    let me = client.stream.local_addr().unwrap();
    let values: Vec<u16> = (1..=100).collect();
    client.write_holding(10, &values).unwrap();
    // A second, one-register write marks the end of the first one's lines.
    client.write_holding(500, &[7]).unwrap();
    let seen = lines_until(
        &lines,
        |l| l.contains("holding registers 500..501"),
        Duration::from_secs(10),
    );
    let changes: Vec<&String> = seen.iter().filter(|l| l.contains("changed")).collect();
    assert_eq!(changes.len(), 2, "{seen:#?}");
    assert_eq!(
        changes[0],
        &format!(
            "[INFO] holding registers 10..110 changed by {me}: [1, 2, 3, 4, 5, 6, 7, 8] (+92 more)"
        )
    );
    assert_eq!(
        changes[1],
        &format!("[INFO] holding registers 500..501 changed by {me}: [7]")
    );
}

/// 50 refused connections are a line or two with the count, not 50 lines.
#[test]
fn refusals_are_counted_not_logged_one_by_one() {
    let config = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("simulator_logging_max1.toml");
    std::fs::write(&config, "[server]\nmax_connections = 1\n").unwrap();
    let mut sim = Simulator::start("info", &["--config", config.to_str().unwrap()]);
    let lines = sim.stderr_lines();
    // The one connection allowed, admitted for sure once it is answered.
    let mut holder = RawClient::connect(sim.addr);
    holder.read_holding(0, 1).unwrap();
    for i in 0..50 {
        let mut refused = TcpStream::connect(sim.addr).unwrap();
        assert!(
            desktop_common::closed_within(&mut refused, Duration::from_secs(5)),
            "connection {i} was not refused"
        );
    }
    // The counts come once a second; wait for all 50.
    let mut refusal_lines = Vec::new();
    let mut counted = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while counted < 50 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{counted} of 50 refusals reported: {refusal_lines:#?}"));
        if line.contains("refused") {
            let n = line
                .split("refused ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no count in {line:?}"));
            assert!(
                line.ends_with("connections in the last second: too many connections"),
                "{line}"
            );
            counted += n;
            refusal_lines.push(line);
        }
    }
    assert_eq!(counted, 50, "{refusal_lines:#?}");
    assert!(refusal_lines.len() <= 3, "{refusal_lines:#?}");
}
