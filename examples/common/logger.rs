//! The examples' `log` back end (included with `#[path]`; not an example
//! itself): a logger that never blocks the caller.
//!
//! Log calls run on the runtime's executor threads, some under the service
//! lock. Writing stderr there (unbuffered: a write(2) per formatted piece)
//! costs more than serving the request, and a stderr pipe that nobody drains
//! blocks the thread, and with it every client. So a call only formats its
//! line and hands it to a bounded queue; one writer thread owns a buffered
//! stderr. When the queue is full the line is dropped and counted, and the
//! count is reported once the writer has caught up.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

/// Lines waiting for the writer; beyond this they are dropped.
const QUEUE_LINES: usize = 4096;

/// How long the writer waits after each batch, so that lines gather: a busy
/// server then costs one wake-up and one write(2) per pause, not per line.
const PAUSE: Duration = Duration::from_millis(5);

/// Lines dropped since the last report.
static DROPPED: AtomicU64 = AtomicU64::new(0);

enum Message {
    Line(String),
    /// Write out everything queued before, then answer.
    Flush(SyncSender<()>),
}

struct Logger {
    level: log::LevelFilter,
    /// Records this program does not want (besides those above `level`).
    skip: fn(&log::Metadata) -> bool,
    queue: SyncSender<Message>,
}

/// Installs the logger: records up to `level`, except those `skip` selects.
pub fn init(level: log::LevelFilter, skip: fn(&log::Metadata) -> bool) {
    let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
    let logger = Logger { level, skip, queue };
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(level);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(lines))
            .expect("spawn the log writer thread");
    }
}

/// Counts `n` lines lost elsewhere (a caller's own full queue), so they are
/// reported with the logger's.
pub fn count_dropped(n: u64) {
    DROPPED.fetch_add(n, Ordering::Relaxed);
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level && !(self.skip)(metadata)
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("[{}] {}\n", record.level(), record.args());
            if self.queue.try_send(Message::Line(line)).is_err() {
                count_dropped(1);
            }
        }
    }

    /// Waits (at most a second: stderr may be stuck) until the lines queued
    /// so far are written; for the end of the program.
    fn flush(&self) {
        let (done, written) = mpsc::sync_channel(1);
        if self.queue.try_send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// The writer thread: the only place that touches stderr, so a stuck stderr
/// blocks it alone.
fn write_lines(queue: Receiver<Message>) {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stderr());
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = queue.try_recv().ok();
        }
        // The queue is empty: the sink has caught up. Lines are dropped only
        // when a queue is full, so under overload this reports once per
        // queue's worth of lines, not once per line.
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(out, "[WARN] {dropped} log lines dropped (stderr too slow)");
        }
        let _ = out.flush();
        std::thread::sleep(PAUSE);
    }
}
