//! The simulator's RTU options, run as a process: `--rtu DEVICE` with a
//! line setup and `--unit` on a socat PTY pair (mbpoll `-m rtu` as the
//! client), `--rtu-over-tcp` with raw RTU frames, and refused values.
#![cfg(all(unix, feature = "serial", feature = "async-std"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use modbus_device::rtu::crc16;

#[path = "desktop_common/pty.rs"]
mod pty;
use pty::PtyPair;

/// The simulator, built once with the RTU features (and the runtimes, as
/// ci/rtu-test.sh builds the tests: one build of the library) into this
/// test's target directory.
fn simulator() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(|d| d.parent()).expect("profile dir");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "server",
                "--features",
                "async-std,smol,tokio,rtu,serial",
            ])
            .args(["--profile", profile])
            .env(
                "CARGO_TARGET_DIR",
                profile_dir.parent().expect("target dir"),
            )
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the simulator failed");
        profile_dir.join("examples/server")
    })
}

/// A running simulator, killed when dropped; its stdout lines.
struct Sim {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(simulator())
            .args(args)
            .env("MODBUS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the simulator starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Sim { child, lines }
    }

    /// The first stdout line containing `text`, within 10 s.
    fn line(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mbpoll(device: &Path, args: &[&str]) -> String {
    let out = Command::new("mbpoll")
        .args([
            "-m", "rtu", "-b", "38400", "-P", "none", "-s", "2", "-0", "-1", "-o", "1",
        ])
        .args(args)
        .arg(device)
        .output()
        .expect("mbpoll runs (ci/install.sh installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn serves_rtu_on_a_serial_line_with_its_setup_and_unit() {
    let pair = PtyPair::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "sim");
    let sim = Sim::start(&[
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--rtu",
        pair.server.to_str().unwrap(),
        "--baud",
        "38400",
        "--parity",
        "none",
        "--stop-bits",
        "2",
        "--unit",
        "7",
    ]);
    let line = sim.line("serving Modbus RTU");
    assert!(
        line.contains("38400 baud") && line.contains("unit 7"),
        "{line}"
    );
    let client = pair.client.clone();
    let written = Command::new("mbpoll")
        .args([
            "-m", "rtu", "-b", "38400", "-P", "none", "-s", "2", "-a", "7", "-0", "-1", "-r", "5",
        ])
        .arg(&client)
        .args(["4321", "8765"])
        .output()
        .unwrap();
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stdout)
    );
    let read = mbpoll(&client, &["-a", "7", "-r", "5", "-c", "2"]);
    assert!(
        read.contains("[5]: \t4321") && read.contains("[6]: \t8765"),
        "{read}"
    );
    // Unit 8 is another server on the line: no answer.
    let other = mbpoll(&client, &["-a", "8", "-r", "5", "-o", "0.3"]);
    assert!(!other.contains("[5]: \t4321"), "unit 8 answered: {other}");
}

#[test]
fn rtu_over_tcp_takes_rtu_frames() {
    let sim = Sim::start(&["--host", "127.0.0.1", "--port", "0", "--rtu-over-tcp"]);
    let line = sim.line("listening on");
    let addr = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let frame = |body: &[u8]| {
        let mut f = body.to_vec();
        f.extend_from_slice(&crc16(body).to_le_bytes());
        f
    };
    // FC 6 then FC 3, to unit 3.
    stream.write_all(&frame(&[3, 6, 0, 9, 0x12, 0x34])).unwrap();
    let mut echo = [0; 8];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(echo.to_vec(), frame(&[3, 6, 0, 9, 0x12, 0x34]));
    stream.write_all(&frame(&[3, 3, 0, 9, 0, 1])).unwrap();
    let mut read = [0; 7];
    stream.read_exact(&mut read).unwrap();
    assert_eq!(read.to_vec(), frame(&[3, 3, 2, 0x12, 0x34]));
}

#[test]
fn bad_rtu_values_are_refused() {
    for args in [
        &["--parity", "mark"][..],
        &["--stop-bits", "3"],
        &["--unit", "0"],
        &["--unit", "248"],
        &["--baud", "fast"],
        &["--rtu", "/nonexistent/tty", "--port", "0"],
    ] {
        let out = Command::new(simulator()).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    }
}
