//! Attack 2: change-log throttling. FC16 writes of 100 registers as fast
//! as a client can (4 in flight), every write changing every value, so the
//! simulator's change log (level info) formats and prints two 100-value
//! lists per write. The same run with MODBUS_LOG=off shows what logging
//! costs; target: logged throughput >= 0.9 x unlogged.

use std::time::{Duration, Instant};

use super::{config, pipe_problems, si, Ctx, Session};
use crate::client::{check_write_response, pipeline, write_request, PipeStats};
use crate::report::{Row, Target};
use crate::server::{Spec, Stderr};

/// Away from the registers the healthy client reads.
const ADDRESS: u16 = 5000;
const COUNT: u16 = 100;
const DEPTH: usize = 4;

/// One run: writes per second, stderr bytes per second, the row.
fn one(ctx: &Ctx, log: Option<&'static str>, name: &str) -> Result<(f64, f64, Row), String> {
    let spec = Spec {
        config: config(""),
        log,
        stderr: Stderr::Drain,
    };
    let session = Session::start(ctx, name, spec)?;
    let duration = ctx.secs(3.0, 20.0);
    let log0 = session.server.stderr_bytes();
    let t0 = Instant::now();
    let stats: PipeStats = pipeline(
        session.server.addr,
        DEPTH,
        t0 + duration,
        |tid| {
            let values: Vec<u16> = (0..COUNT).map(|i| tid.wrapping_add(i)).collect();
            write_request(tid, ADDRESS, &values)
        },
        |frame, tid| check_write_response(frame, tid, ADDRESS, COUNT),
    );
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    // The drain thread may lag the server a little.
    std::thread::sleep(Duration::from_millis(100));
    let log_rate = (session.server.stderr_bytes() - log0) as f64 / secs;
    let rate = stats.completed as f64 / secs;
    let mut row = Row::new(name);
    pipe_problems(&mut row, "the writer", &stats);
    session.finish(&mut row);
    Ok((rate, log_rate, row))
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let (logged, log_rate, mut on) = one(ctx, None, "2 fc16 x100 writes, log info")?;
    let (unlogged, _, mut off) = one(ctx, Some("off"), "2 fc16 x100 writes, log off")?;
    let ratio = if unlogged > 0.0 {
        logged / unlogged
    } else {
        0.0
    };
    on.figure = format!(
        "{} writes/s = {ratio:.2} x log off; stderr {}B/s",
        si(logged),
        si(log_rate)
    );
    off.figure = format!("{} writes/s", si(unlogged));
    let why = format!("logged/unlogged throughput {ratio:.2} (>= 0.9)");
    on.target = if ratio >= 0.9 {
        Target::Pass(why)
    } else {
        Target::Fail(why)
    };
    Ok(vec![on, off])
}
