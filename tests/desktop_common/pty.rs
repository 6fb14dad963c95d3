//! Two linked pseudo-terminals made by socat, for serial-line tests and the
//! RTU turnaround benchmark (`benches/rtu_turnaround.rs` includes this file
//! by path). `ci/install.sh` installs socat.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A PTY pair: `server` and `client` are the two ends' paths; socat is
/// killed and the links removed when dropped.
pub struct PtyPair {
    socat: Child,
    dir: PathBuf,
    /// The end the server opens as its serial port.
    pub server: PathBuf,
    /// The end a client opens.
    pub client: PathBuf,
}

impl PtyPair {
    /// A pair whose links live under `parent`, named after `name` and this
    /// process (so that concurrent runs do not meet). Panics when socat is
    /// missing or makes no pair within 5 s.
    pub fn new(parent: &std::path::Path, name: &str) -> PtyPair {
        let dir = parent.join(format!("pty-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (server, client) = (dir.join("server"), dir.join("client"));
        let end = |link: &PathBuf| format!("pty,raw,echo=0,link={}", link.display());
        let socat = Command::new("socat")
            .args([end(&server), end(&client)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat runs (ci/install.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(server.exists() && client.exists()) {
            assert!(Instant::now() < deadline, "socat made no PTY pair");
            std::thread::sleep(Duration::from_millis(10));
        }
        PtyPair {
            socat,
            dir,
            server,
            client,
        }
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
