//! The server under test: the simulator example (examples/server, on
//! async-std or `--runtime tokio`, or examples/smol_server) built in release and run as a child process with
//! one executor thread, on 127.0.0.1 and a port the kernel picks; its CPU
//! time and memory from /proc; killed and reaped on drop.

use std::io::{BufRead, BufReader, PipeReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the simulator may take to print that it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of the server's stderr kept for error messages.
const TAIL_BYTES: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    AsyncStd,
    Smol,
    Tokio,
}

impl Runtime {
    pub fn parse(s: &str) -> Option<Runtime> {
        match s {
            "async-std" => Some(Runtime::AsyncStd),
            "smol" => Some(Runtime::Smol),
            "tokio" => Some(Runtime::Tokio),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Runtime::AsyncStd => "async-std",
            Runtime::Smol => "smol",
            Runtime::Tokio => "tokio",
        }
    }

    /// The cargo features the simulator binary is built with (`server`
    /// always needs async-std, its default runtime).
    fn features(self) -> &'static str {
        match self {
            Runtime::AsyncStd => "async-std",
            Runtime::Smol => "smol",
            Runtime::Tokio => "async-std,tokio",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Runtime::AsyncStd | Runtime::Tokio => "server",
            Runtime::Smol => "smol_server",
        }
    }

    /// The variable that sets the executor's thread count.
    fn threads_var(self) -> &'static str {
        match self {
            Runtime::AsyncStd => "ASYNC_STD_THREAD_COUNT",
            Runtime::Smol => "SMOL_THREADS",
            Runtime::Tokio => "TOKIO_WORKER_THREADS",
        }
    }

    /// The simulator's own arguments that select this runtime: `server`
    /// serves on async-std unless told otherwise.
    fn args(self) -> &'static [&'static str] {
        match self {
            Runtime::Tokio => &["--runtime", "tokio"],
            Runtime::AsyncStd | Runtime::Smol => &[],
        }
    }
}

/// Builds the simulator (`cargo build --release --features F --example E`
/// in the repository this crate sits in) and returns the binary's path.
pub fn build(runtime: Runtime) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building the simulator: cargo build --release --features {} --example {}",
        runtime.features(),
        runtime.example()
    );
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--features",
            runtime.features(),
            "--example",
        ])
        .arg(runtime.example())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the simulator failed ({status})"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/examples").join(runtime.example());
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("no simulator binary at {}", bin.display()))
    }
}

/// Where the child's stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// A pipe a thread of ours drains, counting the bytes.
    Drain,
    /// A pipe whose read end we hold open and never read: once its buffer
    /// (64 KiB) is full, every write the server makes to stderr blocks.
    Unread,
}

/// How to start one server.
pub struct Spec {
    /// The `--config` file's TOML text, written to a temporary file.
    pub config: String,
    /// MODBUS_LOG; None keeps the simulator's default (info).
    pub log: Option<&'static str>,
    pub stderr: Stderr,
}

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    stderr_bytes: Arc<AtomicU64>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    /// Held open, never read (Stderr::Unread).
    unread: Option<PipeReader>,
    config_file: PathBuf,
}

impl ServerProcess {
    pub fn start(
        bin: &Path,
        runtime: Runtime,
        spec: &Spec,
        name: &str,
    ) -> Result<ServerProcess, String> {
        let config_file = std::env::temp_dir().join(format!(
            "modbus-abuse-{}-{}.toml",
            std::process::id(),
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        ));
        std::fs::write(&config_file, &spec.config)
            .map_err(|e| format!("cannot write {}: {e}", config_file.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(runtime.args())
            .args(["--host", "127.0.0.1", "--port", "0", "--config"])
            .arg(&config_file)
            .env(runtime.threads_var(), "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        match spec.log {
            Some(level) => cmd.env("MODBUS_LOG", level),
            None => cmd.env_remove("MODBUS_LOG"),
        };
        let mut unread = None;
        match spec.stderr {
            Stderr::Drain => {
                cmd.stderr(Stdio::piped());
            }
            Stderr::Unread => {
                let (reader, writer) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
                cmd.stderr(writer);
                unread = Some(reader);
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        drop(cmd); // our copy of the pipe's write end

        let stderr_bytes = Arc::new(AtomicU64::new(0));
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let (bytes, tail) = (stderr_bytes.clone(), stderr_tail.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    t.extend_from_slice(&buf[..n]);
                    let excess = t.len().saturating_sub(TAIL_BYTES);
                    t.drain(..excess);
                }
            });
        }
        // The first stdout line says where it listens; the rest is drained.
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            for _ in lines.map_while(Result::ok) {}
        });
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr_bytes,
            stderr_tail,
            unread,
            config_file,
        };
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
        match parse_listening(&line) {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => {
                let _ = server.child.kill();
                let status = server
                    .child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "the simulator did not start ({status}); stdout {line:?}; stderr: {}",
                    server.stderr_tail().trim()
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Bytes the server has written to stderr (Stderr::Drain only).
    pub fn stderr_bytes(&self) -> u64 {
        self.stderr_bytes.load(Ordering::Relaxed)
    }

    /// The last bytes of its stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let t = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&t).into_owned()
    }

    /// Ok while running; otherwise how it ended.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the server exited ({status}); stderr ends: {}",
                self.stderr_tail().trim()
            )),
            Err(e) => Err(format!("cannot check the server: {e}")),
        }
    }

    /// user + system CPU time so far.
    pub fn cpu_time(&self) -> Result<Duration, String> {
        let path = format!("/proc/{}/stat", self.pid());
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let ticks = parse_stat_cpu_ticks(&text).ok_or(format!("{path}: cannot parse"))?;
        Ok(ticks_to_duration(ticks))
    }

    /// Resident memory now (VmRSS), KiB.
    pub fn rss_kib(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        parse_status_kib(&text, "VmRSS:").ok_or(format!("{path}: no VmRSS"))
    }

    /// Each thread's name and the kernel function it sleeps in
    /// (/proc/PID/task/TID/wchan), e.g. `pipe_write` for a thread blocked
    /// writing to a full stderr pipe.
    pub fn thread_waits(&self) -> Vec<(String, String)> {
        let dir = format!("/proc/{}/task", self.pid());
        let Ok(tasks) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<(String, String)> = tasks
            .flatten()
            .map(|t| {
                let read = |f: &str| {
                    std::fs::read_to_string(t.path().join(f))
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default()
                };
                (read("comm"), read("wchan"))
            })
            .collect();
        out.sort();
        out
    }

    /// The server's accepted sockets (local port = its port, not
    /// listening) from /proc/net/tcp: bytes received and not yet read by
    /// the server, bytes written and not yet sent or acknowledged.
    pub fn socket_queues(&self) -> Option<Queues> {
        let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
        Some(parse_net_tcp(&text, self.addr.port()))
    }

    /// Starts measuring CPU use from now.
    pub fn cpu_meter(&self) -> CpuMeter {
        CpuMeter {
            cpu: self.cpu_time().unwrap_or_default(),
            at: Instant::now(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Kill before the unread pipe's read end closes: a server blocked on
        // stderr would otherwise see EPIPE and die on its own first.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.unread.take();
        let _ = std::fs::remove_file(&self.config_file);
    }
}

/// CPU use of the server between its creation and `percent`.
pub struct CpuMeter {
    cpu: Duration,
    at: Instant,
}

impl CpuMeter {
    /// Percent of one core since the meter started; None if unreadable.
    pub fn percent(&self, server: &ServerProcess) -> Option<f64> {
        let cpu = server.cpu_time().ok()?;
        let wall = self.at.elapsed().as_secs_f64();
        (wall > 0.0).then(|| 100.0 * cpu.saturating_sub(self.cpu).as_secs_f64() / wall)
    }
}

/// Sums over a server's sockets in /proc/net/tcp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queues {
    pub sockets: usize,
    /// Received, not read by the server (rx_queue).
    pub unread: u64,
    /// Written by the server, not yet acknowledged (tx_queue).
    pub unsent: u64,
}

/// /proc/net/tcp lines: `sl local rem st tx_queue:rx_queue ...`, addresses
/// as `HEXIP:HEXPORT`; state 0A is LISTEN.
pub fn parse_net_tcp(text: &str, port: u16) -> Queues {
    let mut q = Queues::default();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(queues)) = (f.get(1), f.get(3), f.get(4)) else {
            continue;
        };
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        if local_port != Some(port) || *state == "0A" {
            continue;
        }
        let Some((tx, rx)) = queues.split_once(':') else {
            continue;
        };
        q.sockets += 1;
        q.unsent += u64::from_str_radix(tx, 16).unwrap_or(0);
        q.unread += u64::from_str_radix(rx, 16).unwrap_or(0);
    }
    q
}

/// `... listening on 127.0.0.1:40123 (Ctrl-C to stop)` -> the address.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat, in clock ticks. The
/// command name (field 2) is in parentheses and may hold spaces or ')'.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   1234 kB` line of /proc/PID/status, in KiB.
pub fn parse_status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_name() {
        let stat = "4242 (ser ver) (x)) S 1 4242 4242 0 -1 4194560 300 0 0 0 \
                    157 43 0 0 20 0 2 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(200));
        assert_eq!(parse_stat_cpu_ticks("4242 (server) S 1 2"), None);
    }

    #[test]
    fn own_stat_and_status_parse() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_stat_cpu_ticks(&stat).is_some());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_status_kib(&status, "VmRSS:").unwrap() > 0);
        assert_eq!(parse_status_kib(&status, "NoSuchField:"), None);
    }

    #[test]
    fn status_line() {
        let s = "Name:\tserver\nVmHWM:\t   9000 kB\nVmRSS:\t   8123 kB\n";
        assert_eq!(parse_status_kib(s, "VmRSS:"), Some(8123));
        assert_eq!(parse_status_kib(s, "VmHWM:"), Some(9000));
    }

    #[test]
    fn net_tcp_queues_of_one_port() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr\n\
   0: 0100007F:9C40 00000000:0000 0A 00000000:00000005 00:00000000 0\n\
   1: 0100007F:9C40 0100007F:E19A 01 00000100:00001000 00:00000000 0\n\
   2: 0100007F:9C40 0100007F:E19B 01 00000001:00000002 00:00000000 0\n\
   3: 0100007F:E19A 0100007F:9C40 01 0000FFFF:0000FFFF 00:00000000 0\n";
        assert_eq!(
            parse_net_tcp(text, 0x9C40),
            Queues {
                sockets: 2,
                unread: 0x1002,
                unsent: 0x101
            }
        );
        assert_eq!(parse_net_tcp(text, 1), Queues::default());
    }

    #[test]
    fn listening_line() {
        assert_eq!(
            parse_listening("server: modbus-device listening on 127.0.0.1:40123 (Ctrl-C to stop)"),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(parse_listening("error: cannot bind"), None);
        assert_eq!(parse_listening(""), None);
    }
}
