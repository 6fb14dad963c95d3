//! Attack 4: slow drip. 1,100 connections from 127.0.0.1 (more than the
//! simulator's default limit of 1,024) each send one byte of a valid FC3
//! request every 0.4 s, so a frame completes every ~4.8 s (inside the 5 s
//! frame timeout) and the next one starts; a connection the server closes
//! comes back. Then a client from 127.0.0.2 asks FC3 x10, 20 times, each on
//! a new connection: target answered within 100 ms every time. Repeated
//! with the evict-oldest-idle limit policy when the simulator's config has
//! one.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{config, probe, server_section, try_start, Ctx, Session};
use crate::client::{connect, read_request, Outcome, HEALTHY_ADDRESS};
use crate::report::{Row, Target};
use crate::server::{Spec, Stderr};

const CONNECTIONS: usize = 1100;
const TICK: Duration = Duration::from_millis(400);
const PROBES: usize = 20;
const PROBE_LIMIT: Duration = Duration::from_millis(100);
pub const PROBE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The simulator's evict policy (examples/server/sample.toml).
const EVICT: &str = "\"evict-least-active\"";

/// Counters the drip thread shares with the report.
#[derive(Default)]
struct Drip {
    open: AtomicU64,
    closed_by_server: AtomicU64,
    reconnects: AtomicU64,
    answer_bytes: AtomicU64,
}

struct Dripper {
    stream: Option<TcpStream>,
    frame: [u8; 12],
    pos: usize,
    tid: u16,
}

/// Drips until `stop` (or `limit`, whichever first).
fn drip(addr: SocketAddr, stop: &AtomicBool, limit: Instant, drip: &Drip) {
    let open = |d: &mut Dripper, timeout| {
        d.stream = connect(addr, None, timeout).ok().and_then(|s| {
            s.set_nonblocking(true).ok()?;
            Some(s)
        });
        d.pos = 0;
        d.stream.is_some()
    };
    let mut conns: Vec<Dripper> = (0..CONNECTIONS)
        .map(|i| Dripper {
            stream: None,
            frame: read_request(0, HEALTHY_ADDRESS, 10),
            pos: 0,
            tid: (i as u16) << 4,
        })
        .collect();
    for d in &mut conns {
        if stop.load(Ordering::Relaxed) || Instant::now() > limit {
            return;
        }
        open(d, Duration::from_secs(1));
    }
    let mut buf = [0u8; 4096];
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) && Instant::now() < limit {
        let mut reconnects = 0;
        let mut live = 0;
        for d in &mut conns {
            let Some(stream) = d.stream.as_mut() else {
                // Come back, a bounded number per tick.
                if reconnects < 200 {
                    reconnects += 1;
                    drip.reconnects.fetch_add(1, Ordering::Relaxed);
                    open(d, Duration::from_millis(100));
                }
                continue;
            };
            let mut alive = true;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        alive = false;
                        break;
                    }
                    Ok(n) => {
                        drip.answer_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        alive = false;
                        break;
                    }
                }
            }
            if alive {
                if d.pos == 0 {
                    d.tid = d.tid.wrapping_add(1);
                    d.frame[..2].copy_from_slice(&d.tid.to_be_bytes());
                }
                match stream.write(&d.frame[d.pos..=d.pos]) {
                    Ok(1) => d.pos = (d.pos + 1) % d.frame.len(),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    _ => alive = false,
                }
            }
            if alive {
                live += 1;
            } else {
                d.stream = None;
                drip.closed_by_server.fetch_add(1, Ordering::Relaxed);
            }
        }
        drip.open.store(live, Ordering::Relaxed);
        next += TICK;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

fn one(ctx: &Ctx, server_keys: &str, name: &str, label: &str) -> Result<Option<Row>, String> {
    let spec = Spec {
        config: config(server_keys),
        log: None,
        stderr: Stderr::Drain,
    };
    let Some(server) = try_start(ctx, name, spec, "on_limit")? else {
        return Ok(None);
    };
    let session = Session::with_server(server)?;
    let addr = session.server.addr;
    let warmup = ctx.secs(3.0, 10.0);
    let gap = ctx.secs(0.1, 0.5);
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Drip::default());
    let thread = {
        let (stop, counters) = (stop.clone(), counters.clone());
        let limit = Instant::now() + warmup + Duration::from_secs(120);
        std::thread::spawn(move || drip(addr, &stop, limit, &counters))
    };
    std::thread::sleep(warmup);
    let open_at_probe = counters.open.load(Ordering::Relaxed);
    let probes = probe(addr, Some(PROBE_SOURCE), PROBES, gap);
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();

    let mut row = Row::new(label);
    let answered = probes.iter().filter(|(_, o)| *o == Outcome::Ok).count();
    let fast = probes
        .iter()
        .filter(|(t, o)| *o == Outcome::Ok && *t < PROBE_LIMIT)
        .count();
    let worst = probes.iter().map(|(t, _)| *t).max().unwrap_or_default();
    row.figure = format!(
        "127.0.0.2 answered {answered}/{PROBES}, {fast} < 100 ms, worst {:.1} ms; {open_at_probe} drips open",
        worst.as_secs_f64() * 1e3
    );
    let list: Vec<String> = probes
        .iter()
        .map(|(t, o)| match o {
            Outcome::Ok => format!("{:.1}", t.as_secs_f64() * 1e3),
            other => format!("{:.0}:{}", t.as_secs_f64() * 1e3, short(other)),
        })
        .collect();
    row.notes
        .push(format!("127.0.0.2 connect+answer ms: {}", list.join(" ")));
    row.notes.push(format!(
        "drip: {} closed by the server, {} reconnects, {} answer bytes",
        counters.closed_by_server.load(Ordering::Relaxed),
        counters.reconnects.load(Ordering::Relaxed),
        counters.answer_bytes.load(Ordering::Relaxed)
    ));
    if let Some((_, first)) = probes.iter().find(|(_, o)| *o != Outcome::Ok) {
        row.notes
            .push(format!("127.0.0.2 first failure: {first:?}"));
    }
    let wrong: Vec<&Outcome> = probes
        .iter()
        .map(|(_, o)| o)
        .filter(|o| matches!(o, Outcome::Wrong(_)))
        .collect();
    if !wrong.is_empty() {
        row.broken
            .push(format!("the 127.0.0.2 client got wrong answers: {wrong:?}"));
    }
    let why = format!("{fast}/{PROBES} answered within 100 ms (all)");
    row.target = if fast == PROBES {
        Target::Pass(why)
    } else {
        Target::Fail(why)
    };
    session.finish(&mut row);
    Ok(Some(row))
}

fn short(o: &Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Timeout => "timeout",
        Outcome::Error(_) => "error",
        Outcome::Exception(_) => "exception",
        Outcome::Wrong(_) => "WRONG",
    }
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    if let Some(row) = one(ctx, "", "drip-refuse", "4 slow drip x1100, refuse")? {
        rows.push(row);
    }
    let keys = server_section(&[("on_limit", EVICT)]);
    match one(ctx, &keys, "drip-evict", "4 slow drip x1100, evict")? {
        Some(row) => rows.push(row),
        None => return Err(format!("the simulator refused on_limit = {EVICT}")),
    }
    Ok(rows)
}
