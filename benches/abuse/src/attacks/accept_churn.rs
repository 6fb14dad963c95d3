//! Attack 5: accept churn. One client, one connection at a time: connect,
//! one FC3 request, close; 5,000 times (short: 1,000). The server always
//! has free slots, so every refusal or failure is a slot it has not yet
//! given back. Then the burst variant: 1,024 clients connect and close at
//! once, and right after, connections that ask one question each show how
//! many slots the burst left occupied.

use std::time::{Duration, Instant};

use super::{config, probe, si, Ctx, Session};
use crate::client::{connect, Outcome, TIMEOUT};
use crate::report::Row;
use crate::server::{Spec, Stderr};

const BURST: usize = 1024;
const BURST_THREADS: usize = 4;
const AFTER_BURST: usize = 200;

fn session(ctx: &Ctx, name: &str) -> Result<Session, String> {
    let spec = Spec {
        config: config(""),
        log: None,
        stderr: Stderr::Drain,
    };
    Session::start(ctx, name, spec)
}

/// "3 refused (closed), 1 timeout" from outcomes.
fn failures(outcomes: &[(Duration, Outcome)]) -> (usize, String) {
    let (mut closed, mut timeouts, mut other, mut wrong) = (0, 0, 0, 0);
    for (_, o) in outcomes {
        match o {
            Outcome::Ok => {}
            Outcome::Timeout => timeouts += 1,
            Outcome::Error(e)
                if e.contains("closed") || e.contains("reset") || e.contains("refused") =>
            {
                closed += 1
            }
            Outcome::Wrong(_) => wrong += 1,
            _ => other += 1,
        }
    }
    let total = closed + timeouts + other + wrong;
    (
        total,
        format!("{closed} refused/closed, {timeouts} timeouts, {other} other, {wrong} wrong"),
    )
}

fn check_wrong(row: &mut Row, outcomes: &[(Duration, Outcome)], who: &str) {
    let wrong = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Wrong(_)))
        .count();
    if wrong > 0 {
        row.broken.push(format!("{who} got {wrong} wrong answers"));
    }
}

fn sequential(ctx: &Ctx) -> Result<Row, String> {
    let session = session(ctx, "churn")?;
    let addr = session.server.addr;
    let n = ctx.count(1000, 5000);
    let limit = Instant::now() + ctx.secs(30.0, 90.0);
    let t0 = Instant::now();
    let mut outcomes = Vec::with_capacity(n);
    for i in 0..n {
        if Instant::now() > limit {
            break;
        }
        let mut conn = None;
        let t = Instant::now();
        let o = crate::client::ask_once(&mut conn, addr, None, i as u16);
        outcomes.push((t.elapsed(), o));
        // A plain close (FIN), as an ordinary client does.
        drop(conn);
    }
    let secs = t0.elapsed().as_secs_f64();
    let (failed, detail) = failures(&outcomes);
    let mut row = Row::new("5 accept churn, sequential");
    row.figure = format!(
        "{failed}/{} connect+ask+close failed, {} conn/s",
        outcomes.len(),
        si(outcomes.len() as f64 / secs)
    );
    if failed > 0 {
        row.notes.push(detail);
    }
    check_wrong(&mut row, &outcomes, "the churning client");
    session.finish(&mut row);
    Ok(row)
}

fn burst(ctx: &Ctx) -> Result<Row, String> {
    let session = session(ctx, "burst")?;
    let addr = session.server.addr;
    // 1,024 connect-and-close from a few threads at once.
    let threads: Vec<_> = (0..BURST_THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut failed = 0;
                let limit = Instant::now() + Duration::from_secs(30);
                for _ in 0..BURST / BURST_THREADS {
                    if Instant::now() > limit {
                        failed += 1;
                        continue;
                    }
                    // Connect and close at once (a FIN right after the handshake).
                    match connect(addr, None, TIMEOUT) {
                        Ok(c) => drop(c),
                        Err(_) => failed += 1,
                    }
                }
                failed
            })
        })
        .collect();
    let burst_failed: usize = threads.into_iter().map(|t| t.join().unwrap_or(BURST)).sum();
    let outcomes = probe(addr, None, AFTER_BURST, Duration::ZERO);
    let (failed, detail) = failures(&outcomes);
    let mut row = Row::new("5 accept churn, 1024 burst");
    row.figure = format!(
        "after the burst {failed}/{AFTER_BURST} connect+ask failed; {burst_failed} burst connects failed"
    );
    if failed > 0 {
        row.notes.push(detail);
        if let Some(first_ok) = outcomes.iter().position(|(_, o)| *o == Outcome::Ok) {
            row.notes.push(format!(
                "first answered connection after the burst: #{first_ok}"
            ));
        }
    }
    check_wrong(&mut row, &outcomes, "the client after the burst");
    session.finish(&mut row);
    Ok(row)
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    Ok(vec![sequential(ctx)?, burst(ctx)?])
}
