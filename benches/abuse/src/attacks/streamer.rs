//! Attack 1: one client streams pipelined FC3 requests as fast as it can
//! (64 in flight, reading and checking every answer). Fair service means
//! the healthy client barely notices: target p99 < 5 ms, no failures.

use std::time::Instant;

use super::{config, pipe_problems, si, Ctx, Session};
use crate::client::{check_read_response, pipeline, read_request, HEALTHY_ADDRESS, HEALTHY_VALUES};
use crate::report::{Row, Target};
use crate::server::{Spec, Stderr};

const DEPTH: usize = 64;

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let spec = Spec {
        config: config(""),
        log: None,
        stderr: Stderr::Drain,
    };
    let session = Session::start(ctx, "streamer", spec)?;
    let duration = ctx.secs(4.0, 20.0);
    let t0 = Instant::now();
    let stats = pipeline(
        session.server.addr,
        DEPTH,
        t0 + duration,
        |tid| read_request(tid, HEALTHY_ADDRESS, HEALTHY_VALUES.len() as u16).to_vec(),
        |frame, tid| check_read_response(frame, tid, &HEALTHY_VALUES),
    );
    let secs = t0.elapsed().as_secs_f64();
    let mut row = Row::new("1 pipelining streamer");
    row.figure = format!(
        "streamer {} req/s (depth {DEPTH}), {} stalls",
        si(stats.completed as f64 / secs),
        stats.stalls
    );
    pipe_problems(&mut row, "the streamer", &stats);
    let h = session.finish(&mut row);
    let p99 = h.p99_ms.unwrap_or(f64::INFINITY);
    let why = format!(
        "healthy p99 {p99:.2} ms (< 5), {} failures (0)",
        h.failures()
    );
    row.target = if p99 < 5.0 && h.failures() == 0 {
        Target::Pass(why)
    } else {
        Target::Fail(why)
    };
    Ok(vec![row])
}
