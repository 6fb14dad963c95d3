//! Attack 6: pipeliners that never read. 500 clients (short: 100) write
//! FC3 x125 requests (the largest answers) as fast as their sockets take
//! them and never read an answer. Once everything has stalled, a server
//! that stops reading from a client whose answers cannot leave should be
//! idle: target CPU < 10 % of one core over the measured window, with
//! resident memory bounded (reported before and after the window).

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{config, si, Ctx, Session};
use crate::client::{connect, read_request, TIMEOUT};
use crate::report::{Row, Target};
use crate::server::{Spec, Stderr};

/// Requests per write.
const BATCH: usize = 64;

/// One pass of writes over every socket until each would block; bytes sent.
fn push(conns: &mut [TcpStream], batch: &[u8]) -> u64 {
    let mut sent = 0u64;
    for c in conns.iter_mut() {
        // Bounded: a socket that keeps taking data gets 64 batches a pass.
        for _ in 0..64 {
            match c.write(batch) {
                Ok(n) if n > 0 => sent += n as u64,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Would block, closed or reset: leave it for the next pass.
                _ => break,
            }
        }
    }
    sent
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let spec = Spec {
        config: config(""),
        log: None,
        stderr: Stderr::Drain,
    };
    let session = Session::start(ctx, "never-read", spec)?;
    let addr = session.server.addr;
    let n = ctx.count(100, 500);
    let mut conns: Vec<TcpStream> = Vec::with_capacity(n);
    let mut connect_failures = 0;
    for _ in 0..n {
        match connect(addr, None, TIMEOUT).and_then(|c| c.set_nonblocking(true).map(|()| c)) {
            Ok(c) => conns.push(c),
            Err(_) => connect_failures += 1,
        }
    }
    let batch: Vec<u8> = (0..BATCH)
        .flat_map(|i| read_request(i as u16, 0, 125))
        .collect();
    // Stall phase: write until the sockets stop taking data.
    let stall = ctx.secs(3.0, 5.0);
    let t0 = Instant::now();
    let mut before = 0u64;
    while t0.elapsed() < stall {
        before += push(&mut conns, &batch);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Measured window: the attackers keep trying; the server should idle.
    let rss_before = session.server.rss_kib().ok();
    let cpu = session.server.cpu_meter();
    let window = ctx.secs(3.0, 5.0);
    let t1 = Instant::now();
    let mut during = 0u64;
    while t1.elapsed() < window {
        during += push(&mut conns, &batch);
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu_pct = cpu.percent(&session.server);
    let queues = session.server.socket_queues();
    let rss_after = session.server.rss_kib().ok();
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0));

    let mut row = Row::new(format!("6 never-reading pipeliners x{n}"));
    row.cpu_pct = cpu_pct;
    row.rss_mib = rss_after.map(|k| k as f64 / 1024.0);
    row.figure = format!(
        "rss {} -> {} MiB in the window; attackers sent {}B before it, {}B in it",
        mib(rss_before),
        mib(rss_after),
        si(before as f64),
        si(during as f64)
    );
    if let Some(q) = queues {
        row.notes.push(format!(
            "server sockets after the window: {} with {}B received and unread, {}B of answers unsent",
            q.sockets,
            si(q.unread as f64),
            si(q.unsent as f64)
        ));
    }
    if connect_failures > 0 {
        row.notes
            .push(format!("{connect_failures} attackers could not connect"));
    }
    let c = cpu_pct.unwrap_or(f64::INFINITY);
    let why = format!(
        "cpu {c:.1} % (< 10) once stalled; rss {} MiB (reported)",
        mib(rss_after)
    );
    row.target = if c < 10.0 {
        Target::Pass(why)
    } else {
        Target::Fail(why)
    };
    session.finish(&mut row);
    drop(conns);
    Ok(vec![row])
}
