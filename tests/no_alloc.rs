//! The request path does not touch the heap: a counting global allocator
//! sees zero allocations per request (FC 1, 2, 3, 4, 5, 6, 15, 16, 20, 21,
//! 22, 23, 24, 43, FC 8, 11, 17, exceptions, pipelined batches, split
//! frames) once the service (heap tables, files, device identification,
//! server id) and the engine are set up.
//!
//! Only allocations made by the current thread while counting is switched
//! on are counted, so the test harness's own threads do not interfere.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;

use common::exceptions::mbap_frame;
use common::hex;
use modbus_device::{
    ChangeCallbacks, DataBank, DeviceIdentification, Engine, EngineConfig, HeapStorage, Instant,
    Service, SessionInfo,
};
// FC 20, 21, 24
use modbus_device::HeapFiles;
// FC 8, 11, 17
use modbus_device::ServerId;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Forwards to the system allocator, counting allocations of threads that
/// switched counting on.
struct CountingAllocator;

fn note_allocation() {
    // `try_with`: never panic inside the allocator (thread teardown). The
    // thread-locals are const-initialised `Cell`s: reading them does not
    // allocate.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only
// const-initialised thread-locals and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Heap allocations made by this thread while running `f`.
fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

/// Change callbacks that do work without allocating.
#[derive(Default)]
struct Counter(usize);

impl ChangeCallbacks for Counter {
    fn on_coils_change(&mut self, _: u16, _: &[bool], to: &[bool], _: &SessionInfo) {
        self.0 += to.len();
    }
    fn on_holding_registers_change(&mut self, _: u16, _: &[u16], to: &[u16], _: &SessionInfo) {
        self.0 += to.len();
    }
    fn on_file_records_change(&mut self, _: u16, _: u16, _: &[u16], to: &[u16], _: &SessionInfo) {
        self.0 += to.len();
    }
}

type Shared = Mutex<Service<DataBank<HeapStorage, Counter, HeapFiles>>>;

fn setup() -> (Shared, Engine<1024, 2048>) {
    let mut id = DeviceIdentification::new();
    id.set_vendor_name(b"Vendor").unwrap();
    id.set_product_code(b"P-1").unwrap();
    id.set(0x80, &[0x55; 200]).unwrap();
    let mut bank = DataBank::with_callbacks(HeapStorage::default(), Counter::default())
        .with_files(HeapFiles::new(4, 10_000).unwrap());
    // FC 24: a full queue at register 0x1000.
    let queue: Vec<u16> = (1..=31).collect();
    bank.set_fifo_queue(0x1000, &queue).unwrap();
    let service = Service::new(bank)
        .with_device_identification(id)
        // FC 8, 11, 17
        .with_server_id(
            ServerId::new(&[0x2A])
                .unwrap()
                .with_additional_data(&[0x66; 240])
                .unwrap(),
        );
    let engine = Engine::new(EngineConfig::default(), None, Instant::ZERO);
    (Mutex::new(service), engine)
}

/// Feeds `bytes` (pre-built) in reads of at most `chunk` bytes and drains
/// the output; returns the number of response bytes. Allocates nothing itself.
fn serve(shared: &Shared, engine: &mut Engine<1024, 2048>, bytes: &[u8], chunk: usize) -> usize {
    let mut sent = 0;
    for piece in bytes.chunks(chunk) {
        engine.input_buffer()[..piece.len()].copy_from_slice(piece);
        engine.handle_input(piece.len(), Instant::ZERO);
        for _ in 0..100 {
            match engine.poll_output(shared) {
                Ok([]) => break,
                Ok(out) => sent += out.len(),
                Err(_) => panic!("closed"),
            }
        }
    }
    sent
}

/// One request per function, each with the length of its (non-exception)
/// response, so the test also shows the request was served.
fn requests() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut write_regs = hex("10 00 00 00 7B F6");
    write_regs.extend((0..123u16).flat_map(|v| v.to_be_bytes()));
    let mut write_coils = hex("0F 00 00 07 B0 F6");
    write_coils.extend([0xA5; 246]);
    let mut read_write = hex("17 00 00 00 7D 00 10 00 79 F2");
    read_write.extend((0..121u16).flat_map(|v| (v ^ 0xFFFF).to_be_bytes()));
    // FC 8, 11, 17
    let mut echo = hex("08 00 00");
    echo.extend([0x5A; 250]);
    let diagnostics = [
        ("FC 8 echo", echo, 7 + 253),
        ("FC 8 bus message count", hex("08 00 0B 00 00"), 12),
        ("FC 8 clear counters", hex("08 00 0A 00 00"), 12),
        ("FC 11", hex("0B"), 12),
        ("FC 17", hex("11"), 7 + 2 + 1 + 1 + 240),
    ];
    [
        ("FC 1", hex("01 00 00 07 D0"), 9 + 250),
        ("FC 2", hex("02 00 00 07 D0"), 9 + 250),
        ("FC 3", hex("03 00 00 00 7D"), 9 + 250),
        ("FC 4", hex("04 00 00 00 7D"), 9 + 250),
        ("FC 5", hex("05 00 07 FF 00"), 12),
        ("FC 6", hex("06 00 07 12 34"), 12),
        ("FC 15", write_coils, 12),
        ("FC 16", write_regs, 12),
        ("FC 22", hex("16 00 04 00 F2 00 25"), 14),
        ("FC 23", read_write, 9 + 250),
        ("FC 43 stream", hex("2B 0E 03 00"), 7 + 7 + 8 + 5 + 2 + 202),
        ("FC 43 one object", hex("2B 0E 04 80"), 7 + 7 + 202),
        ("exception 1", hex("41 00"), 9),
        ("exception 2", hex("03 FF FF 00 02"), 9),
        ("exception 3", hex("03 00 00 00 00"), 9),
    ]
    .into_iter()
    .chain(files_and_fifo_requests())
    .chain(diagnostics)
    .map(|(name, pdu, response)| (name, mbap_frame(7, 1, &pdu), response))
    .collect()
}

// FC 20, 21, 24
/// The largest requests and responses of FC 20, 21 and 24.
fn files_and_fifo_requests() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut write_file = hex("15 FB 06 0002 0000 007A");
    write_file.extend((0..122u16).flat_map(|v| (v ^ 0x5A5A).to_be_bytes()));
    let mut read_groups = hex("14 F5");
    for file in 0..35u16 {
        read_groups.extend(hex("06 0001"));
        read_groups.extend((file * 3).to_be_bytes());
        read_groups.extend(hex("0001"));
    }
    vec![
        ("FC 20 one group", hex("14 07 06 0002 0000 007C"), 7 + 252),
        ("FC 20 35 groups", read_groups, 7 + 2 + 35 * 4),
        ("FC 21", write_file, 7 + 253),
        ("FC 24", hex("18 1000"), 7 + 5 + 62),
    ]
}

#[test]
fn no_heap_allocation_per_request() {
    let (shared, mut engine) = setup();
    let requests = requests();
    for (name, frame, response_len) in &requests {
        // Several rounds, so that a write that changes values (callbacks)
        // and one that does not are both covered.
        for round in 0..3 {
            let mut sent = 0;
            let n = allocations_during(|| sent = serve(&shared, &mut engine, frame, frame.len()));
            assert_eq!(n, 0, "{name}, round {round}: {n} heap allocations");
            assert_eq!(sent, *response_len, "{name}: unexpected response length");
        }
    }
    assert!(
        shared.lock().unwrap().data_bank.callbacks().0 > 0,
        "callbacks ran"
    );
}

#[test]
fn no_heap_allocation_for_pipelined_and_split_frames() {
    let (shared, mut engine) = setup();
    let requests = requests();
    let stream: Vec<u8> = requests.iter().flat_map(|(_, f, _)| f.clone()).collect();
    let expected: usize = requests.iter().map(|(_, _, len)| len).sum();
    for chunk in [stream.len().min(1024), 300, 7, 1] {
        let mut sent = 0;
        let n = allocations_during(|| sent = serve(&shared, &mut engine, &stream, chunk));
        assert_eq!(n, 0, "reads of {chunk} bytes: {n} heap allocations");
        assert_eq!(sent, expected, "reads of {chunk} bytes");
    }
}

/// The counter works: without this, a broken allocator hook would make the
/// tests above pass vacuously.
#[test]
fn the_counter_sees_allocations() {
    let n = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(16));
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}
