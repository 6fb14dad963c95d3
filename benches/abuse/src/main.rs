//! `modbus-abuse`: hostile loopback clients against the simulator
//! (examples/server), each attack measured through a healthy client that
//! polls FC3 x10 every 10 ms on its own connection.
//!
//! ```text
//! cargo run --release --manifest-path benches/abuse/Cargo.toml -- [--short] [--strict]
//!     [--json FILE] [--runtime async-std|smol|tokio] [--server-bin PATH] [--only 1,4,..]
//! ```
//!
//! Exit codes: 0 the suite ran (timing targets are only reported unless
//! `--strict`); 1 a correctness failure (a wrong answer, the server
//! exited); 2 the suite could not run (usage, build, the server did not
//! start); 3 `--strict` and a target failed.

mod attacks;
mod client;
mod report;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use attacks::Ctx;
use report::{Row, Target};
use server::Runtime;

const USAGE: &str = "usage: modbus-abuse [--short] [--strict] [--json FILE] [--runtime async-std|smol|tokio] [--server-bin PATH] [--only 0,1,..,7]
  --short        a few seconds per attack (the CI run)
  --strict       exit 3 when a target fails (p99, 100 ms, CPU, log throughput)
  --json FILE    also write the results as JSON
  --runtime R    the simulator on async-std (examples/server, default), smol (examples/smol_server)
                 or tokio (examples/server --runtime tokio)
  --server-bin P use this simulator binary instead of building it
  --only LIST    run only these attacks (0 is the baseline)";

/// Open files this process and the server (which inherits the limit) need:
/// 1,100 drip connections at both ends, and headroom.
const NOFILE: u64 = 8192;

struct Options {
    short: bool,
    strict: bool,
    json: Option<PathBuf>,
    runtime: Runtime,
    server_bin: Option<PathBuf>,
    only: Option<Vec<u8>>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        short: false,
        strict: false,
        json: None,
        runtime: Runtime::AsyncStd,
        server_bin: None,
        only: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--short" => o.short = true,
            "--strict" => o.strict = true,
            "--json" => o.json = Some(value(arg)?.into()),
            "--runtime" => {
                let v = value(arg)?;
                o.runtime = Runtime::parse(&v)
                    .ok_or(format!("--runtime: {v} is not async-std, smol or tokio"))?;
            }
            "--server-bin" => o.server_bin = Some(value(arg)?.into()),
            "--only" => {
                let list = value(arg)?
                    .split(',')
                    .map(|n| n.trim().parse::<u8>().ok().filter(|n| *n <= 7))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or("--only: a list of attack numbers 0..=7")?;
                o.only = Some(list);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

type Attack = fn(&Ctx) -> Result<Vec<Row>, String>;

const ATTACKS: [(u8, &str, Attack); 8] = [
    (0, "baseline", attacks::baseline),
    (1, "pipelining streamer", attacks::streamer::run),
    (2, "change-log throttling", attacks::change_log::run),
    (3, "unread stderr", attacks::full_stderr::run),
    (4, "slow drip", attacks::slow_drip::run),
    (5, "accept churn", attacks::accept_churn::run),
    (6, "never-reading pipeliners", attacks::never_read::run),
    (7, "log flooding", attacks::log_flood::run),
];

fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(NOFILE) {
        Ok(got) if got < NOFILE => {
            eprintln!(
                "warning: open-file limit is {got}, wanted {NOFILE}: the slow drip needs ~2,300"
            )
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    raise_open_file_limit();
    let bin = match &options.server_bin {
        Some(bin) => bin.clone(),
        None => match server::build(options.runtime) {
            Ok(bin) => bin,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let ctx = Ctx {
        bin,
        runtime: options.runtime,
        short: options.short,
    };
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut could_not_run = Vec::new();
    for (number, name, attack) in ATTACKS {
        if options.only.as_ref().is_some_and(|o| !o.contains(&number)) {
            continue;
        }
        let t = Instant::now();
        eprintln!("attack {number}: {name} ...");
        match attack(&ctx) {
            Ok(r) => {
                for row in &r {
                    eprintln!("  {}: {}", row.attack, row.figure);
                }
                rows.extend(r);
            }
            Err(e) => {
                eprintln!("  could not run: {e}");
                let mut row = Row::new(format!("{number} {name}"));
                row.figure = "COULD NOT RUN".into();
                row.notes.push(e.clone());
                rows.push(row);
                could_not_run.push(format!("{number} {name}: {e}"));
            }
        }
        eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "\nmodbus-abuse{}: the simulator on {} (one executor thread), {wall:.1} s\n",
        if options.short { " --short" } else { "" },
        options.runtime.name()
    );
    print!("{}", report::table(&rows));
    if let Some(path) = &options.json {
        let text = report::json(&rows, options.runtime.name(), options.short, wall);
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let broken: Vec<String> = rows
        .iter()
        .flat_map(|r| r.broken.iter().map(move |b| format!("{}: {b}", r.attack)))
        .collect();
    let failed_targets = rows
        .iter()
        .filter(|r| matches!(r.target, Target::Fail(_)))
        .count();
    if !could_not_run.is_empty() {
        eprintln!("\nthe suite could not run: {}", could_not_run.join("; "));
        return ExitCode::from(2);
    }
    if !broken.is_empty() {
        eprintln!("\ncorrectness failures:\n  {}", broken.join("\n  "));
        return ExitCode::from(1);
    }
    if options.strict && failed_targets > 0 {
        eprintln!("\n--strict: {failed_targets} targets failed");
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&args(
            "--short --strict --only 1,4 --runtime smol --json x.json",
        ))
        .unwrap();
        assert!(o.short && o.strict);
        assert_eq!(o.only, Some(vec![1, 4]));
        assert_eq!(o.runtime, Runtime::Smol);
        assert_eq!(o.json, Some(PathBuf::from("x.json")));
        assert!(parse_options(&args("--only 9")).is_err());
        assert_eq!(
            parse_options(&args("--runtime tokio")).unwrap().runtime,
            Runtime::Tokio
        );
        assert!(parse_options(&args("--runtime uring")).is_err());
        assert!(parse_options(&args("--bogus")).is_err());
    }

    #[test]
    fn every_config_parses_as_the_simulator_expects() {
        let c = attacks::config(&attacks::server_section(&[("max_connections", "16")]));
        assert!(c.starts_with("[server]\nmax_connections = 16\n"));
        assert!(c.contains("[data_bank.holding_registers]\n0 = [4660, 22136,"));
    }
}
