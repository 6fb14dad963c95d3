//! Attack 7: log flooding. With max_connections = 16 (the healthy client
//! and 15 idle holders fill it), an attacker opens connections beyond the
//! limit as fast as it can; each refusal may log a line. Measured: the
//! bytes the server writes to stderr per second (the pipe is drained and
//! counted), and whether the healthy client is still served.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{config, server_section, si, Ctx, Session};
use crate::client::{close_with_reset, connect, TIMEOUT};
use crate::report::Row;
use crate::server::{Spec, Stderr};

const MAX_CONNECTIONS: usize = 16;
/// Bound on the attack loop besides its deadline.
const MAX_CONNECTS: u64 = 5_000_000;

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let keys = server_section(&[("max_connections", &MAX_CONNECTIONS.to_string())]);
    let spec = Spec {
        config: config(&keys),
        log: None,
        stderr: Stderr::Drain,
    };
    let session = Session::start(ctx, "log-flood", spec)?;
    let addr = session.server.addr;
    // The healthy client holds one slot; holders take the rest.
    let holders: Vec<TcpStream> = (1..MAX_CONNECTIONS)
        .filter_map(|_| connect(addr, None, TIMEOUT).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let duration = ctx.secs(3.0, 20.0);
    let log0 = session.server.stderr_bytes();
    let t0 = Instant::now();
    let (mut connects, mut failed) = (0u64, 0u64);
    while t0.elapsed() < duration && connects + failed < MAX_CONNECTS {
        match connect(addr, None, TIMEOUT) {
            Ok(c) => {
                connects += 1;
                close_with_reset(c);
            }
            Err(_) => {
                failed += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let logged = session.server.stderr_bytes() - log0;
    let mut row = Row::new(format!("7 log flood, max_connections {MAX_CONNECTIONS}"));
    row.figure = format!(
        "stderr {}B/s ({}B in {secs:.1} s); {} connects/s beyond the limit",
        si(logged as f64 / secs),
        si(logged as f64),
        si(connects as f64 / secs)
    );
    if failed > 0 {
        row.notes.push(format!("{failed} attacker connects failed"));
    }
    row.notes.push(format!(
        "{} of {} holders connected",
        holders.len(),
        MAX_CONNECTIONS - 1
    ));
    session.finish(&mut row);
    drop(holders);
    Ok(vec![row])
}
