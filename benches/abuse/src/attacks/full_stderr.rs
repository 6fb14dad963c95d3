//! Attack 3: stderr nobody reads. The simulator's stderr is a pipe whose
//! read end the suite holds open and never reads (a terminal paused with
//! Ctrl-S, a stuck log collector); log level info. Connection churn and
//! writes generate log lines until the pipe's buffer is full; a server that
//! logs from its executor thread then blocks there, and stops serving.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{config, Ctx, Session};
use crate::client::{check_write_response, connect, read_frame, write_request, TIMEOUT};
use crate::report::Row;
use crate::server::{Spec, Stderr};

const ADDRESS: u16 = 6000;
/// Bound on the churn loop besides its deadline.
const MAX_CHURN: u64 = 200_000;

pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let spec = Spec {
        config: config(""),
        log: None,
        stderr: Stderr::Unread,
    };
    let session = Session::start(ctx, "full-stderr", spec)?;
    let addr = session.server.addr;
    let deadline = Instant::now() + ctx.secs(4.0, 20.0);
    let (mut connects, mut answered, mut failed) = (0u64, 0u64, 0u64);
    let mut tid: u16 = 0;
    while Instant::now() < deadline && connects < MAX_CHURN {
        let Ok(mut stream) = connect(addr, None, TIMEOUT) else {
            failed += 1;
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        connects += 1;
        tid = tid.wrapping_add(1);
        let values: Vec<u16> = (0..20).map(|i| tid.wrapping_add(i)).collect();
        let ok = stream
            .write_all(&write_request(tid, ADDRESS, &values))
            .is_ok()
            && read_frame(&mut stream, Instant::now() + Duration::from_millis(300))
                .ok()
                .is_some_and(|f| check_write_response(&f, tid, ADDRESS, 20).is_ok());
        if ok {
            answered += 1;
        } else {
            failed += 1;
        }
        // A plain close: the server logs the disconnect.
        drop(stream);
    }
    let mut row = Row::new("3 unread stderr pipe");
    row.figure = format!("churn: {connects} connects, {answered} writes answered, {failed} failed");
    let blocked: Vec<String> = session
        .server
        .thread_waits()
        .into_iter()
        .filter(|(_, wchan)| wchan.contains("pipe"))
        .map(|(name, wchan)| format!("{name} in {wchan}"))
        .collect();
    if !blocked.is_empty() {
        row.notes.push(format!(
            "server threads blocked on the pipe: {}",
            blocked.join(", ")
        ));
    }
    session.finish(&mut row);
    Ok(vec![row])
}
