//! The markdown tables: absolute figures per server and point, and ours as a
//! ratio of the echo limit and of tokio-modbus.

use std::fmt::Write as _;

use crate::child::Memory;
use crate::client::{Load, Outcome};
use crate::idle::IdleOutcome;
use crate::servers::Kind;

/// One server at one point of the matrix.
pub struct PointResult {
    pub load: Load,
    pub kind: Kind,
    /// `Err` when the server could not be run (the reason).
    pub outcome: Result<(Outcome, Memory), String>,
}

/// One server under the idle-connections test.
pub struct IdleResult {
    pub kind: Kind,
    pub outcome: Result<IdleOutcome, String>,
}

fn point_label(load: &Load) -> String {
    format!(
        "{} conn x depth {}, {}",
        load.connections,
        load.depth,
        load.op.label()
    )
}

fn same_point(a: &Load, b: &Load) -> bool {
    a.connections == b.connections && a.depth == b.depth && a.op == b.op
}

fn rate(results: &[PointResult], load: &Load, kind: Kind) -> Option<f64> {
    results
        .iter()
        .find(|r| r.kind == kind && same_point(&r.load, load))
        .and_then(|r| r.outcome.as_ref().ok())
        .filter(|(o, _)| o.completed > 0)
        .map(|(o, _)| o.requests_per_second())
}

fn ratio(ours: f64, theirs: Option<f64>) -> String {
    match theirs {
        Some(t) if t > 0.0 => format!("{:.2}", ours / t),
        _ => "-".into(),
    }
}

fn micros(nanos: u64) -> String {
    format!("{:.0}", nanos as f64 / 1000.0)
}

/// The server's CPU microseconds per completed request, to two decimals: at
/// the pipelined points (0.3-0.9 µs) one decimal hid differences of 25 %.
fn cpu_per_request(o: &Outcome, mem: &Memory) -> String {
    if o.completed == 0 {
        return "-".into();
    }
    format!("{:.2}", mem.cpu_micros as f64 / o.completed as f64)
}

/// The load table.
pub fn load_table(results: &[PointResult]) -> String {
    let mut s = String::new();
    s.push_str(
        "| point | server | req/s | server CPU µs/req | p50 µs | p99 µs | errors | server peak RSS MiB | vs echo limit | vs echo on smol | vs tokio-modbus |\n",
    );
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let label = point_label(&r.load);
        match &r.outcome {
            Ok((o, mem)) => {
                let rps = o.requests_per_second();
                let (vs_echo, vs_echo_smol, vs_tm) = if r.kind.is_ours() {
                    (
                        ratio(rps, rate(results, &r.load, Kind::Echo)),
                        ratio(rps, rate(results, &r.load, Kind::EchoSmol)),
                        ratio(rps, rate(results, &r.load, Kind::TokioModbus)),
                    )
                } else {
                    (String::new(), String::new(), String::new())
                };
                let _ = writeln!(
                    s,
                    "| {label} | {} | {:.0} | {} | {} | {} | {} | {:.1} | {vs_echo} | {vs_echo_smol} | {vs_tm} |",
                    r.kind.name(),
                    rps,
                    cpu_per_request(o, mem),
                    micros(o.latency.value_at_quantile(0.5)),
                    micros(o.latency.value_at_quantile(0.99)),
                    o.errors,
                    mem.peak_kib as f64 / 1024.0,
                );
            }
            Err(reason) => {
                let _ = writeln!(
                    s,
                    "| {label} | {} | not run: {reason} | | | | | | | | |",
                    r.kind.name()
                );
            }
        }
    }
    s
}

/// The idle-connections table.
pub fn idle_table(results: &[IdleResult]) -> String {
    let mut s = String::new();
    s.push_str(
        "| server | idle conns | all connected after ms | all accepted after ms | RSS before MiB | per idle conn KiB | per conn after 1 request KiB | answered | answer all ms |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        match &r.outcome {
            Ok(o) => {
                let accepted = o
                    .accept_time
                    .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
                    .unwrap_or_else(|| "not all".into());
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} | {accepted} | {:.1} | {:.1} | {:.1} | {}/{} | {:.1} |",
                    r.kind.name(),
                    o.connections,
                    o.connect_time.as_secs_f64() * 1000.0,
                    o.rss_before_kib as f64 / 1024.0,
                    o.bytes_per_connection() / 1024.0,
                    o.bytes_per_used_connection() / 1024.0,
                    o.answered,
                    o.connections,
                    o.answer_time.as_secs_f64() * 1000.0,
                );
            }
            Err(reason) => {
                let _ = writeln!(s, "| {} | not run: {reason} | | | | | | | |", r.kind.name());
            }
        }
    }
    s
}
