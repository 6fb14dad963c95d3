//! Starting a server child process, reading its memory and open sockets
//! from /proc, and stopping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::servers::Kind;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server child. Dropping it kills and reaps the process.
pub struct ServerProcess {
    child: Child,
    /// Held open: the child exits when it sees EOF here.
    _stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `modbus-load serve <kind> 0` and waits for `READY <port>`.
    pub fn start(kind: Kind) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(["serve", kind.name(), "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", kind.name()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        // Read the announcement on a thread so a child that hangs before it
        // cannot hang the benchmark; EOF (the child failed) ends it too.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let port = rx
            .recv_timeout(START_TIMEOUT)
            .ok()
            .and_then(|line| line.trim().strip_prefix("READY ")?.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(format!("{} server did not start ({status})", kind.name()));
        };
        Ok(ServerProcess {
            child,
            _stdin: stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak and current resident memory in KiB (VmHWM, VmRSS).
    pub fn memory_kib(&self) -> Result<Memory, String> {
        memory_kib(self.pid())
    }

    /// Number of open file descriptors (the listener, accepted sockets, ...).
    pub fn open_fds(&self) -> Result<usize, String> {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .map_err(|e| format!("/proc/{}/fd: {e}", self.pid()))
    }

    /// CPU time the server process has used so far (user + system, every
    /// thread, living or exited), in microseconds.
    pub fn cpu_micros(&self) -> Result<u64, String> {
        cpu_micros(self.pid())
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a point reads of the server process from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub peak_kib: u64,
    pub current_kib: u64,
    /// Not memory: the server's CPU time (utime + stime) over the point,
    /// in microseconds; 0 where not measured.
    pub cpu_micros: u64,
}

/// The kernel's unit for utime and stime in /proc/<pid>/stat (USER_HZ,
/// 100 on Linux whatever the kernel's own tick).
const USER_HZ: u64 = 100;

/// utime + stime of `pid` in microseconds (10 ms resolution).
pub fn cpu_micros(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks * 1_000_000 / USER_HZ)
        .ok_or_else(|| format!("unexpected /proc/{pid}/stat"))
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line. The
/// command name (field 2) is in parentheses and may hold spaces: fields
/// are counted after its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Reads VmHWM and VmRSS of `pid`.
pub fn memory_kib(pid: u32) -> Result<Memory, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        peak_kib: field("VmHWM:")?,
        current_kib: field("VmRSS:")?,
        cpu_micros: 0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_memory_is_readable_and_consistent() {
        let m = super::memory_kib(std::process::id()).unwrap();
        assert!(m.current_kib > 0);
        assert!(m.peak_kib >= m.current_kib);
    }

    #[test]
    fn cpu_fields_are_counted_after_the_command_name() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 17 0 0 20 0 3 0";
        assert_eq!(super::parse_cpu_ticks(line), Some(267));
        assert!(super::cpu_micros(std::process::id()).is_ok());
    }
}
