//! `modbus-load`: a loopback load benchmark of modbus-device against the
//! best a Modbus TCP server of the same design can do (an echo limit) and
//! against tokio-modbus.
//!
//! ```text
//! cargo run --release --manifest-path benches/load/Cargo.toml -- [--quick] [--duration-ms N]
//!     [--servers smol,async-std,tokio,echo-limit,echo-smol,tokio-modbus] [--idle N] [--idle-only] [--repeat N]
//!     [--point CxD,..] [--client spin|wait] [--client-threads N]
//! modbus-load tls [--duration-ms N]   (TLS beside plain: src/tls.rs)
//! modbus-load serve <smol|async-std|echo-limit|echo-smol|tokio-modbus> <port>   (internal)
//! ```
//!
//! Each server runs as a child process, started fresh for every point so
//! its peak resident memory (VmHWM) belongs to that point alone. Points run
//! server after server, so background noise on the machine hits all alike.
//! `--quick` is the CI smoke run: short points, a subset of the matrix, and
//! a non-zero exit if any response was wrong or any server failed.

mod child;
mod client;
mod idle;
mod proto;
mod report;
mod servers;
mod tls;

use std::process::ExitCode;
use std::time::Duration;

use client::{Client, Load, Op};
use report::{IdleResult, PointResult};
use servers::Kind;

struct Options {
    quick: bool,
    duration: Duration,
    servers: Vec<Kind>,
    idle: usize,
    /// `--client`; a spinning client's thread count is `client_threads`.
    client: Client,
    client_threads: usize,
    idle_only: bool,
    /// `--point`: only these (connections, depth) shapes of the matrix.
    only: Vec<(usize, usize)>,
    repeat: usize,
}

const USAGE: &str = "usage: modbus-load [--quick] [--duration-ms N] [--servers a,b,..] [--idle N] [--idle-only] [--repeat N] [--point CxD,..] [--client spin|wait] [--client-threads N]\n       modbus-load serve <kind> <port>";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        duration: Duration::from_secs(3),
        servers: Kind::ALL.to_vec(),
        idle: 1000,
        client: Client::Spin { threads: 1 },
        client_threads: 1,
        idle_only: false,
        only: Vec::new(),
        repeat: 1,
    };
    let mut duration_set = false;
    let mut idle_set = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => o.quick = true,
            "--point" => {
                for shape in value(arg)?.split(',') {
                    o.only.push(parse_shape(shape).ok_or(format!(
                        "--point: {shape} is not CONNECTIONSxDEPTH, e.g. 1x16"
                    ))?);
                }
            }
            "--idle-only" => o.idle_only = true,
            "--repeat" => {
                o.repeat = value(arg)?
                    .parse::<usize>()
                    .map_err(|e| format!("--repeat: {e}"))?
                    .max(1);
            }
            "--duration-ms" => {
                let ms: u64 = value(arg)?
                    .parse()
                    .map_err(|e| format!("--duration-ms: {e}"))?;
                o.duration = Duration::from_millis(ms.max(1));
                duration_set = true;
            }
            "--servers" => {
                o.servers = value(arg)?
                    .split(',')
                    .map(|n| Kind::parse(n).ok_or(format!("unknown server {n}")))
                    .collect::<Result<_, _>>()?;
            }
            "--idle" => {
                o.idle = value(arg)?.parse().map_err(|e| format!("--idle: {e}"))?;
                idle_set = true;
            }
            "--client" => {
                o.client = match value(arg)?.as_str() {
                    "spin" => Client::Spin { threads: 1 },
                    "wait" => Client::Wait,
                    other => return Err(format!("--client: {other} is not spin or wait")),
                };
            }
            "--client-threads" => {
                o.client_threads = value(arg)?
                    .parse::<usize>()
                    .map_err(|e| format!("--client-threads: {e}"))?
                    .max(1);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.quick && !duration_set {
        o.duration = Duration::from_millis(300);
    }
    if o.quick && !idle_set {
        o.idle = 200;
    }
    if let Client::Spin { threads } = &mut o.client {
        *threads = o.client_threads;
    }
    Ok(o)
}

/// `16x4` -> (16, 4).
fn parse_shape(shape: &str) -> Option<(usize, usize)> {
    let (connections, depth) = shape.split_once('x')?;
    let (connections, depth) = (connections.parse().ok()?, depth.parse().ok()?);
    (connections > 0 && depth > 0).then_some((connections, depth))
}

/// The points of the run: the brief's matrix, or the smoke subset.
fn points(o: &Options) -> Vec<Load> {
    if o.idle_only {
        return Vec::new();
    }
    let shapes: &[(usize, usize)] = if o.quick {
        &[(1, 1), (4, 16), (16, 1)]
    } else {
        &[(1, 1), (1, 16), (16, 1), (64, 4), (256, 1)]
    };
    let client = o.client;
    let load = |(connections, depth): (usize, usize), op| Load {
        connections,
        depth,
        op,
        duration: o.duration,
        client,
    };
    let mut points = Vec::new();
    for op in [Op::ReadHolding, Op::WriteHolding] {
        points.extend(shapes.iter().map(|&s| load(s, op)));
    }
    // The other two operations, pipelined over a few connections.
    points.push(load((16, 4), Op::ReadCoils));
    points.push(load((16, 4), Op::Mixed));
    // `--point` repeats chosen shapes of the matrix, e.g. one that looked off.
    if !o.only.is_empty() {
        points.retain(|p| o.only.contains(&(p.connections, p.depth)));
    }
    points
}

/// Lets this process (and the servers it starts, which inherit the limit)
/// hold every connection of the idle test at both ends.
fn raise_open_file_limit(needed: u64) {
    match rlimit::increase_nofile_limit(needed) {
        Ok(got) if got < needed => {
            eprintln!("warning: open-file limit is {got}, wanted {needed}")
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("tls") {
        // `tls [--duration-ms N]`: see src/tls.rs.
        let ms = args
            .iter()
            .position(|a| a == "--duration-ms")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(3000);
        return match tls::run(Duration::from_millis(ms)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tls: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    raise_open_file_limit(options.idle as u64 * 2 + 1024);
    // The waiting client's connections run on this runtime; the spinning
    // client has threads of its own and leaves it the idle test.
    let workers = match options.client {
        Client::Wait => options.client_threads,
        Client::Spin { .. } => 1,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failures = runtime.block_on(bench(&options));
    if options.quick && failures > 0 {
        eprintln!("quick run: {failures} failure(s)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn serve(args: &[String]) -> ExitCode {
    let (Some(kind), Some(port)) = (
        args.first().and_then(|k| Kind::parse(k)),
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
    ) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    raise_open_file_limit(8192);
    match servers::serve(kind, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve {}: {e}", kind.name());
            ExitCode::FAILURE
        }
    }
}

/// Runs everything, prints the tables, returns the number of failures
/// (wrong responses, broken connections, servers that did not run).
async fn bench(o: &Options) -> usize {
    let mut failures = 0;
    let mut results = Vec::new();
    for load in points(o) {
        let kinds: Vec<Kind> = o
            .servers
            .iter()
            .copied()
            .filter(|k| load.op != Op::Mixed || k.stores_writes())
            .collect();
        // Repetitions interleave the servers, so a burst of background load
        // on the shared machine hits them all, and the median run is kept.
        let mut runs: Vec<Vec<PointRun>> = kinds.iter().map(|_| Vec::new()).collect();
        for _ in 0..o.repeat {
            for (i, &kind) in kinds.iter().enumerate() {
                let outcome = run_point(kind, load).await;
                match &outcome {
                    Ok((out, mem)) => {
                        eprintln!(
                            "{:>12} {:>4} conn depth {:>2} {:<9} {:>9.0} req/s  p50 {:>6.1} µs  p99 {:>7.1} µs  errors {}  peak {} KiB",
                            kind.name(),
                            load.connections,
                            load.depth,
                            load.op.label(),
                            out.requests_per_second(),
                            out.latency.value_at_quantile(0.5) as f64 / 1000.0,
                            out.latency.value_at_quantile(0.99) as f64 / 1000.0,
                            out.errors,
                            mem.peak_kib
                        );
                        if let Some(e) = &out.first_error {
                            eprintln!("             first error: {e}");
                        }
                        if out.errors > 0 || out.completed == 0 {
                            failures += 1;
                        }
                    }
                    Err(e) => {
                        eprintln!("{:>12} {}: {e}", kind.name(), load.op.label());
                        failures += 1;
                    }
                }
                runs[i].push(outcome);
            }
        }
        for (kind, runs) in kinds.into_iter().zip(runs) {
            results.push(PointResult {
                load,
                kind,
                outcome: median_run(runs),
            });
        }
    }

    let mut idle_results = Vec::new();
    if o.idle > 0 {
        for &kind in o.servers.iter().filter(|k| k.in_idle_test()) {
            let outcome = run_idle(kind, o.idle).await;
            match &outcome {
                Ok(i) => {
                    eprintln!(
                        "{:>12} idle {} ({}): connected after {:?}, accepted after {:?}, {:.0} B/conn, answered {}",
                        kind.name(),
                        i.connections,
                        i.server,
                        i.connect_time,
                        i.accept_time,
                        i.bytes_per_connection(),
                        i.answered
                    );
                    if let Some(e) = &i.first_error {
                        eprintln!("             first error: {e}");
                    }
                    if i.answered != i.connections || i.accept_time.is_none() {
                        failures += 1;
                    }
                }
                Err(e) => {
                    eprintln!("{:>12} idle: {e}", kind.name());
                    failures += 1;
                }
            }
            idle_results.push(IdleResult { kind, outcome });
        }
    }

    println!(
        "\nLoopback, {} ms per point, median of {} run(s), client: {}, {} core(s); \
         tokio reference servers: 2 workers; ours on tokio: start() outside a runtime, the adapter's \
         runtime with one worker per core but one; smol: the adapter's executor, one thread per core but one; \
         async-std: ASYNC_STD_THREAD_COUNT={}. Server CPU: utime+stime of the server process over the point \
         (10 ms resolution) per completed request.\n",
        o.duration.as_millis(),
        o.repeat,
        o.client.label(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::env::var("ASYNC_STD_THREAD_COUNT").unwrap_or_else(|_| format!(
            "{} (runtimes::recommended_threads, as the server example)",
            modbus_device::runtimes::recommended_threads()
        )),
    );
    println!("{}", report::load_table(&results));
    if !idle_results.is_empty() {
        println!("{}", report::idle_table(&idle_results));
    }
    failures
}

type PointRun = Result<(client::Outcome, child::Memory), String>;

/// The run with the median request rate, carrying the errors of all runs
/// and the highest peak memory; any failed run makes the point failed.
fn median_run(runs: Vec<PointRun>) -> PointRun {
    let mut ok = Vec::with_capacity(runs.len());
    for run in runs {
        ok.push(run?);
    }
    let errors: u64 = ok.iter().map(|(o, _)| o.errors).sum();
    let peak_kib = ok.iter().map(|(_, m)| m.peak_kib).max().unwrap_or(0);
    let first_error = ok.iter().find_map(|(o, _)| o.first_error.clone());
    ok.sort_by(|a, b| {
        a.0.requests_per_second()
            .total_cmp(&b.0.requests_per_second())
    });
    let middle = ok.len() / 2;
    let (mut outcome, mut memory) = ok.into_iter().nth(middle).ok_or("no run")?;
    outcome.errors = errors;
    outcome.first_error = first_error;
    memory.peak_kib = peak_kib;
    Ok((outcome, memory))
}

async fn run_point(kind: Kind, load: Load) -> Result<(client::Outcome, child::Memory), String> {
    let mut server = child::ServerProcess::start(kind)?;
    let cpu_before = server.cpu_micros()?;
    let outcome = client::run(server.addr, load).await;
    let mut memory = server.memory_kib()?;
    memory.cpu_micros = server.cpu_micros()?.saturating_sub(cpu_before);
    if !server.alive() {
        return Err("server process died".into());
    }
    Ok((outcome, memory))
}

async fn run_idle(kind: Kind, connections: usize) -> Result<idle::IdleOutcome, String> {
    let server = child::ServerProcess::start(kind)?;
    idle::run(&server, connections).await
}
