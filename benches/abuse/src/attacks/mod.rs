//! The attacks, one file each. Every attack starts its own simulator (so
//! CPU and memory figures belong to it alone) and a healthy client on it,
//! runs for a bounded time, and returns its rows of the report.

pub mod accept_churn;
pub mod change_log;
pub mod full_stderr;
pub mod log_flood;
pub mod never_read;
pub mod slow_drip;
pub mod streamer;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::client::{self, Healthy, PipeStats, HEALTHY_ADDRESS, HEALTHY_VALUES};
use crate::report::{self, Row};
use crate::server::{CpuMeter, Runtime, ServerProcess, Spec, Stderr};

/// What every attack needs to know.
pub struct Ctx {
    pub bin: PathBuf,
    pub runtime: Runtime,
    /// `--short`: a few seconds per attack.
    pub short: bool,
}

impl Ctx {
    pub fn secs(&self, short: f64, full: f64) -> Duration {
        Duration::from_secs_f64(if self.short { short } else { full })
    }

    pub fn count(&self, short: usize, full: usize) -> usize {
        if self.short {
            short
        } else {
            full
        }
    }
}

/// The simulator's config file for one attack: `server` (a `[server]`
/// section or nothing) plus the registers the healthy client reads. Keys
/// the simulator does not know make it refuse to start, see `try_start`.
pub fn config(server: &str) -> String {
    let mut t = String::from(server);
    t.push_str("\n[data_bank.holding_registers]\n");
    let values: Vec<String> = HEALTHY_VALUES.iter().map(u16::to_string).collect();
    let _ = writeln!(t, "{HEALTHY_ADDRESS} = [{}]", values.join(", "));
    t
}

/// Config `[server]` sections for `--config`, by what they set.
pub fn server_section(keys: &[(&str, &str)]) -> String {
    let mut t = String::from("[server]\n");
    for (k, v) in keys {
        let _ = writeln!(t, "{k} = {v}");
    }
    t
}

/// A running simulator with the healthy client polling it.
pub struct Session {
    pub server: ServerProcess,
    healthy: Option<Healthy>,
    cpu: CpuMeter,
}

impl Session {
    /// Starts the server (an error: the suite cannot run) and the healthy client.
    pub fn start(ctx: &Ctx, name: &str, spec: Spec) -> Result<Session, String> {
        let server = ServerProcess::start(&ctx.bin, ctx.runtime, &spec, name)?;
        Session::with_server(server)
    }

    pub fn with_server(server: ServerProcess) -> Result<Session, String> {
        let healthy = Healthy::start(server.addr)?;
        let cpu = server.cpu_meter();
        Ok(Session {
            server,
            healthy: Some(healthy),
            cpu,
        })
    }

    /// Stops the healthy client and fills `row`: its figures, CPU since the
    /// start (unless the attack measured its own window), RSS, and the
    /// correctness problems: wrong answers, a server that is gone. Then the
    /// server is killed.
    pub fn finish(mut self, row: &mut Row) -> report::Healthy {
        if row.cpu_pct.is_none() {
            row.cpu_pct = self.cpu.percent(&self.server);
        }
        if row.rss_mib.is_none() {
            row.rss_mib = self.server.rss_kib().ok().map(|k| k as f64 / 1024.0);
        }
        let stats = self.healthy.take().map(Healthy::finish).unwrap_or_default();
        let h = report::Healthy::from_stats(&stats);
        if stats.wrong > 0 {
            row.broken.push(format!(
                "the healthy client got {} wrong answers",
                stats.wrong
            ));
        }
        if !stats.examples.is_empty() {
            row.notes.push(format!(
                "healthy client's first problems: {}",
                stats.examples.join("; ")
            ));
        }
        if let Err(e) = self.server.check_running() {
            row.broken.push(e);
        }
        row.healthy = Some(h.clone());
        h
    }
}

/// Starts a server whose config may use keys a simulator does not have
/// yet: `Ok(None)` when it refused the config for naming `key`.
pub fn try_start(
    ctx: &Ctx,
    name: &str,
    spec: Spec,
    key: &str,
) -> Result<Option<ServerProcess>, String> {
    match ServerProcess::start(&ctx.bin, ctx.runtime, &spec, name) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.contains(key) && (e.contains("unknown") || e.contains("config")) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An attacking client's wrong answers are correctness problems too.
pub fn pipe_problems(row: &mut Row, who: &str, stats: &PipeStats) {
    if stats.wrong > 0 {
        row.broken
            .push(format!("{who} got {} wrong answers", stats.wrong));
    }
    if !stats.examples.is_empty() {
        row.notes.push(format!(
            "{who}'s first problems: {}",
            stats.examples.join("; ")
        ));
    }
}

/// The baseline: the healthy client alone, for comparison.
pub fn baseline(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let spec = Spec {
        config: config(""),
        log: None,
        stderr: Stderr::Drain,
    };
    let session = Session::start(ctx, "baseline", spec)?;
    std::thread::sleep(ctx.secs(2.0, 5.0));
    let mut row = Row::new("0 baseline (no attack)");
    row.figure = "healthy client alone".into();
    session.finish(&mut row);
    Ok(vec![row])
}

/// A small helper: "12.3k" style counts for figures.
pub fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Sends `n` FC3 x10 questions from `source` on fresh connections, with
/// `gap` between them: the latency (connect included) and outcome of each.
pub fn probe(
    addr: std::net::SocketAddr,
    source: Option<std::net::IpAddr>,
    n: usize,
    gap: Duration,
) -> Vec<(Duration, client::Outcome)> {
    (0..n)
        .map(|i| {
            let t0 = std::time::Instant::now();
            let mut conn = None;
            let outcome = client::ask_once(&mut conn, addr, source, i as u16);
            let took = t0.elapsed();
            drop(conn);
            std::thread::sleep(gap);
            (took, outcome)
        })
        .collect()
}
