//! Engine micro-benchmark: request bytes in, response bytes out, through
//! `Engine::handle_input` / `poll_output` and a `RefCell<Service>`, for heap
//! and fixed tables. No criterion: a calibrated loop, a warm-up, several
//! timed repetitions, and the median in ns per request.
//!
//! Run: `cargo bench --bench engine` (optionally a filter substring, e.g.
//! `cargo bench --bench engine -- "FC3 x10"`). For instruction-level
//! profiles (`valgrind --tool=callgrind`), `ENGINE_BENCH_ITERS=N` replaces
//! the timed repetitions with one run of exactly N requests per case.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant as Clock};

use modbus_device::{
    DataBank, Engine, EngineConfig, FixedStorage, HeapStorage, Instant, Respond, Service, Storage,
};
// FC 20, 21, 24
use modbus_device::FileStorage;

/// Bits for 2000 coils, 128 holding registers: what the cases address.
type Fixed = FixedStorage<{ FixedStorage::<0, 0, 0, 0>::bit_bytes(2000) }, 0, 128, 0>;

/// How long each timed repetition runs, about.
const REPETITION: Duration = Duration::from_millis(200);
const REPETITIONS: usize = 7;

struct Case {
    name: &'static str,
    /// One request ADU.
    request: Vec<u8>,
    /// Length of its (normal, non-exception) response ADU.
    response_len: usize,
}

fn adu(pdu: &[u8]) -> Vec<u8> {
    let mut adu = vec![0x00, 0x01, 0x00, 0x00];
    adu.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    adu.push(1);
    adu.extend_from_slice(pdu);
    adu
}

fn cases() -> Vec<Case> {
    let mut fc16 = vec![0x10, 0x00, 0x00, 0x00, 0x0A, 0x14];
    fc16.extend((0..10u16).flat_map(|i| (i * 257).to_be_bytes()));
    vec![
        Case {
            name: "FC3 x10",
            request: adu(&[0x03, 0x00, 0x00, 0x00, 0x0A]),
            response_len: 7 + 2 + 20,
        },
        Case {
            name: "FC3 x125",
            request: adu(&[0x03, 0x00, 0x00, 0x00, 0x7D]),
            response_len: 7 + 2 + 250,
        },
        Case {
            name: "FC16 x10",
            request: adu(&fc16),
            response_len: 7 + 5,
        },
        Case {
            name: "FC1 x2000",
            request: adu(&[0x01, 0x00, 0x00, 0x07, 0xD0]),
            response_len: 7 + 2 + 250,
        },
    ]
    .into_iter()
    .chain(files_and_fifo_cases())
    .collect()
}

// FC 20, 21, 24
/// Files for the FC 20 / 21 cases: 2 files of 128 records, fixed or heap.
type FixedFiles = modbus_device::FixedFiles<2, 128>;

fn heap_files() -> modbus_device::HeapFiles {
    modbus_device::HeapFiles::new(2, 128).unwrap()
}

fn files_and_fifo_cases() -> Vec<Case> {
    let mut fc21 = vec![0x15, 0x1B, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0A];
    fc21.extend((0..10u16).flat_map(|i| (i * 257).to_be_bytes()));
    vec![
        Case {
            name: "FC20 x10",
            request: adu(&[0x14, 0x07, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0A]),
            response_len: 7 + 2 + 2 + 20,
        },
        Case {
            name: "FC21 x10",
            request: adu(&fc21),
            response_len: 7 + fc21.len(),
        },
        Case {
            name: "FC24 x10",
            // The queue at register 100 is set up in `measure`.
            request: adu(&[0x18, 0x00, 0x64]),
            response_len: 7 + 5 + 20,
        },
    ]
}

/// One request through the engine; returns the response length.
#[inline(always)]
fn round_trip<X: Respond>(
    engine: &mut Engine<260, 260>,
    service: &RefCell<X>,
    request: &[u8],
) -> usize {
    engine.input_buffer()[..request.len()].copy_from_slice(request);
    engine.handle_input(request.len(), Instant::ZERO);
    match engine.poll_output(service) {
        Ok(out) => black_box(out).len(),
        Err(e) => panic!("engine closed: {e}"),
    }
}

/// Nanoseconds per request over the timed repetitions. The minimum shows
/// how much the median suffers from other load on the machine.
struct Sample {
    median: f64,
    min: f64,
}

/// Median and fastest ns per request over `REPETITIONS` timed runs.
fn measure<S: Storage, F: FileStorage>(storage: S, files: F, case: &Case) -> Sample {
    let mut bank = DataBank::new(storage).with_files(files);
    bank.set_fifo_queue(100, &[7; 10]).unwrap();
    let service = RefCell::new(Service::new(bank));
    let mut engine = Engine::<260, 260>::new(EngineConfig::default(), None, Instant::ZERO);
    let request = black_box(case.request.as_slice());
    assert_eq!(
        round_trip(&mut engine, &service, request),
        case.response_len,
        "{}: not the normal response",
        case.name
    );
    if let Some(iters) = fixed_iterations() {
        let start = Clock::now();
        for _ in 0..iters {
            black_box(round_trip(&mut engine, &service, request));
        }
        let ns = start.elapsed().as_nanos() as f64 / iters as f64;
        return Sample {
            median: ns,
            min: ns,
        };
    }
    // Warm-up and calibration: how many requests fill one repetition.
    let mut batch = 1000u64;
    loop {
        let start = Clock::now();
        for _ in 0..batch {
            black_box(round_trip(&mut engine, &service, request));
        }
        let took = start.elapsed();
        if took >= REPETITION / 4 || batch >= 1 << 32 {
            batch = (batch as f64 * REPETITION.as_secs_f64() / took.as_secs_f64()) as u64;
            break;
        }
        batch *= 4;
    }
    let batch = batch.max(1);
    let mut samples: Vec<f64> = (0..REPETITIONS)
        .map(|_| {
            let start = Clock::now();
            for _ in 0..batch {
                black_box(round_trip(&mut engine, &service, request));
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    Sample {
        median: samples[REPETITIONS / 2],
        min: samples[0],
    }
}

/// `ENGINE_BENCH_ITERS`, for profiling runs with a known request count.
fn fixed_iterations() -> Option<u64> {
    std::env::var("ENGINE_BENCH_ITERS").ok()?.parse().ok()
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters case names.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "{:<10} {:>22} {:>22}",
        "case", "HeapStorage", "FixedStorage"
    );
    println!(
        "{:<10} {:>22} {:>22}",
        "", "median (min) ns", "median (min) ns"
    );
    for case in cases() {
        if !filter.is_empty() && !filter.iter().any(|f| case.name.contains(f.as_str())) {
            continue;
        }
        let heap = measure(HeapStorage::with_defaults(), heap_files(), &case);
        let fixed = measure(Fixed::new(), FixedFiles::new(), &case);
        println!(
            "{:<10} {:>13.1} ({:>6.1}) {:>13.1} ({:>6.1})",
            case.name, heap.median, heap.min, fixed.median, fixed.min
        );
    }
}
