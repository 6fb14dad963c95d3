//! Command line shared by the single-file examples (included with `#[path]`;
//! not an example itself): `[--host HOST] [--port PORT] [--seconds N]`.

use std::process::exit;
use std::sync::mpsc;
use std::time::Duration;

/// What every example takes.
pub struct Args {
    /// Listen address (default 127.0.0.1).
    pub host: String,
    /// TCP port (default 1502; 0 picks a free port, printed at start).
    pub port: u16,
    /// Stop after this long; `None` runs until Ctrl-C.
    pub run_for: Option<Duration>,
    /// Receives on Ctrl-C. The handler is installed by `parse`, before the
    /// example starts its server and prints "listening": a Ctrl-C right
    /// after that line stops the example cleanly instead of killing it.
    ctrl_c: Option<mpsc::Receiver<()>>,
}

impl Args {
    /// Parses the process arguments; a bad one prints a one-line error and exits with 2.
    pub fn parse() -> Args {
        let mut args = Self::try_parse(std::env::args().skip(1)).unwrap_or_else(|e| {
            eprintln!("error: {e}\nusage: [--host HOST] [--port PORT] [--seconds N]");
            exit(2)
        });
        let (tx, rx) = mpsc::channel();
        match ctrlc::set_handler(move || {
            let _ = tx.send(());
        }) {
            Ok(()) => args.ctrl_c = Some(rx),
            Err(e) => eprintln!("warning: no Ctrl-C handler: {e}"),
        }
        args
    }

    fn try_parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            host: "127.0.0.1".into(),
            port: 1502,
            run_for: None,
            ctrl_c: None,
        };
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--host" => args.host = value()?,
                "--port" => {
                    let v = value()?;
                    args.port = v.parse().map_err(|_| format!("bad --port {v:?}"))?;
                }
                "--seconds" => {
                    let v = value()?;
                    let s: f64 = v.parse().map_err(|_| format!("bad --seconds {v:?}"))?;
                    if !(0.0..=86_400.0).contains(&s) {
                        return Err(format!("--seconds {v} is outside 0..=86400"));
                    }
                    args.run_for = Some(Duration::from_secs_f64(s));
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(args)
    }

    /// Blocks until `--seconds` have passed, or until Ctrl-C.
    pub fn wait(&self) {
        match (&self.ctrl_c, self.run_for) {
            (Some(ctrl_c), Some(limit)) => {
                let _ = ctrl_c.recv_timeout(limit);
            }
            (Some(ctrl_c), None) => {
                let _ = ctrl_c.recv();
            }
            (None, Some(limit)) => std::thread::sleep(limit),
            // No handler: Ctrl-C ends the process, as it does by default.
            (None, None) => loop {
                std::thread::park();
            },
        }
    }
}
