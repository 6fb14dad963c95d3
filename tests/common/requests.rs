//! Proptest strategies for request PDUs: every supported function code with
//! valid and invalid quantities, byte counts and addresses (biased towards
//! the edges of the tables), unknown function codes, truncated PDUs and
//! trailing bytes.

use proptest::prelude::*;

/// The sizes of the four tables the requests aim at (to hit their edges).
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub coils: usize,
    pub d_inputs: usize,
    pub holding: usize,
    pub input: usize,
}

impl Sizes {
    pub const FULL: Sizes = Sizes {
        coils: 0x10000,
        d_inputs: 0x10000,
        holding: 0x10000,
        input: 0x10000,
    };
}

/// The function codes the server supports.
pub const SUPPORTED: [u8; 11] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x2B,
];

// FC 20, 21, 24
/// The file record and FIFO function codes (kept apart from `SUPPORTED`).
pub const SUPPORTED_FILES_FIFO: [u8; 3] = [0x14, 0x15, 0x18];
// FC 8, 11, 17
/// The function codes of diagnostics, get comm event counter and report
/// server id (supported too).
pub const SUPPORTED_DIAGNOSTICS: [u8; 3] = [0x08, 0x0B, 0x11];

/// FC 8: the served sub-functions (and some others), with the data they
/// need (0x0000, restart's 0xFF00) or anything.
fn diagnostics() -> BoxedStrategy<Vec<u8>> {
    let sub_function = prop_oneof![
        6 => prop::sample::select(vec![0x00u16, 0x01, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12]),
        1 => prop::sample::select(vec![0x02u16, 0x03, 0x04, 0x13, 0x14]),
        1 => any::<u16>(),
    ];
    let data = prop_oneof![
        4 => Just(vec![0x00, 0x00]),
        1 => Just(vec![0xFF, 0x00]),
        2 => (any::<u64>(), 0usize..12).prop_map(|(seed, len)| bytes_from(seed, len)),
    ];
    (sub_function, data)
        .prop_map(|(sub, data)| {
            let mut pdu = vec![0x08];
            push_u16(&mut pdu, sub);
            pdu.extend(data);
            pdu
        })
        .boxed()
}

/// FC 11 and FC 17: the function code alone.
fn function_only() -> BoxedStrategy<Vec<u8>> {
    prop::sample::select(vec![0x0Bu8, 0x11])
        .prop_map(|f| vec![f])
        .boxed()
}

/// A quantity: mostly small and valid, sometimes 0, the maximum, one past
/// it, or anything.
fn quantity(max: u16) -> BoxedStrategy<u16> {
    prop_oneof![
        6 => 1..=max.min(20),
        3 => 1..=max,
        1 => Just(0u16),
        1 => Just(max),
        1 => Just(max + 1),
        1 => any::<u16>(),
    ]
    .boxed()
}

/// An address for `count` entries of a table of `size`: inside, at the
/// edge (the last fitting address and one past it), or anywhere.
fn address(size: usize, count: u16) -> BoxedStrategy<u16> {
    let size = size as i64;
    let edge = move |delta: i64| (size - i64::from(count) + delta).clamp(0, 0xFFFF) as u16;
    prop_oneof![
        4 => (0..=size.clamp(0, 0xFFFF)).prop_map(|a| a as u16),
        2 => (-1i64..=1).prop_map(edge),
        1 => any::<u16>(),
    ]
    .boxed()
}

/// Bytes from a seed (a tiny xorshift), so that data of any length costs
/// one generated value.
pub fn bytes_from(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn push_u16(pdu: &mut Vec<u8>, v: u16) {
    pdu.extend_from_slice(&v.to_be_bytes());
}

/// A byte count: usually the right one, sometimes off by one or two.
fn byte_count_delta() -> BoxedStrategy<i32> {
    prop_oneof![8 => Just(0), 1 => -1i32..=2, 1 => any::<u8>().prop_map(i32::from)].boxed()
}

fn read(function: u8, size: usize, max: u16) -> BoxedStrategy<Vec<u8>> {
    quantity(max)
        .prop_flat_map(move |q| (Just(q), address(size, q)))
        .prop_map(move |(q, a)| {
            let mut pdu = vec![function];
            push_u16(&mut pdu, a);
            push_u16(&mut pdu, q);
            pdu
        })
        .boxed()
}

fn write_single(function: u8, size: usize, value: BoxedStrategy<u16>) -> BoxedStrategy<Vec<u8>> {
    (address(size, 1), value)
        .prop_map(move |(a, v)| {
            let mut pdu = vec![function];
            push_u16(&mut pdu, a);
            push_u16(&mut pdu, v);
            pdu
        })
        .boxed()
}

fn write_coils(size: usize) -> BoxedStrategy<Vec<u8>> {
    quantity(1968)
        .prop_flat_map(move |q| (Just(q), address(size, q), byte_count_delta(), any::<u64>()))
        .prop_map(|(q, a, delta, seed)| {
            let needed = (i32::from(q) + 7) / 8;
            let count = (needed + delta).clamp(0, 255) as u8;
            let mut pdu = vec![0x0F];
            push_u16(&mut pdu, a);
            push_u16(&mut pdu, q);
            pdu.push(count);
            pdu.extend(bytes_from(seed, usize::from(count)));
            pdu
        })
        .boxed()
}

fn write_registers(size: usize) -> BoxedStrategy<Vec<u8>> {
    quantity(123)
        .prop_flat_map(move |q| (Just(q), address(size, q), byte_count_delta(), any::<u64>()))
        .prop_map(|(q, a, delta, seed)| {
            let count = (2 * i32::from(q) + delta).clamp(0, 255) as u8;
            let mut pdu = vec![0x10];
            push_u16(&mut pdu, a);
            push_u16(&mut pdu, q);
            pdu.push(count);
            pdu.extend(bytes_from(seed, usize::from(count)));
            pdu
        })
        .boxed()
}

fn read_write(size: usize) -> BoxedStrategy<Vec<u8>> {
    (quantity(125), quantity(121))
        .prop_flat_map(move |(rq, wq)| {
            (
                Just(rq),
                address(size, rq),
                Just(wq),
                address(size, wq),
                byte_count_delta(),
                any::<u64>(),
            )
        })
        .prop_map(|(rq, ra, wq, wa, delta, seed)| {
            let count = (2 * i32::from(wq) + delta).clamp(0, 255) as u8;
            let mut pdu = vec![0x17];
            push_u16(&mut pdu, ra);
            push_u16(&mut pdu, rq);
            push_u16(&mut pdu, wa);
            push_u16(&mut pdu, wq);
            pdu.push(count);
            pdu.extend(bytes_from(seed, usize::from(count)));
            pdu
        })
        .boxed()
}

fn mask_write(size: usize) -> BoxedStrategy<Vec<u8>> {
    (address(size, 1), any::<u16>(), any::<u16>())
        .prop_map(|(a, and, or)| {
            let mut pdu = vec![0x16];
            push_u16(&mut pdu, a);
            push_u16(&mut pdu, and);
            push_u16(&mut pdu, or);
            pdu
        })
        .boxed()
}

fn device_id() -> BoxedStrategy<Vec<u8>> {
    (
        prop_oneof![4 => Just(0x0Eu8), 1 => any::<u8>()],
        0u8..=6,
        any::<u8>(),
    )
        .prop_map(|(mei, code, object)| vec![0x2B, mei, code, object])
        .boxed()
}

fn unknown() -> BoxedStrategy<Vec<u8>> {
    (
        any::<u8>().prop_filter("unsupported", |f| {
            !SUPPORTED.contains(f)
                && !SUPPORTED_FILES_FIFO.contains(f)
                && !SUPPORTED_DIAGNOSTICS.contains(f)
        }),
        any::<u64>(),
        0usize..8,
    )
        .prop_map(|(f, seed, len)| {
            let mut pdu = vec![f];
            pdu.extend(bytes_from(seed, len));
            pdu
        })
        .boxed()
}

/// Cuts the PDU short, appends junk, or leaves it; never longer than 253
/// bytes, never empty.
fn mangle(pdu: Vec<u8>) -> BoxedStrategy<Vec<u8>> {
    let len = pdu.len();
    let keep = pdu.clone();
    let cut = pdu.clone();
    prop_oneof![
        10 => Just(keep),
        1 => (1..=len.max(1)).prop_map(move |n| cut[..n.min(cut.len())].to_vec()),
        1 => (any::<u64>(), 1usize..6).prop_map(move |(seed, n)| {
            let mut longer = pdu.clone();
            longer.extend(bytes_from(seed, n));
            longer
        }),
    ]
    .prop_map(|mut pdu| {
        pdu.truncate(253);
        pdu
    })
    .boxed()
}

/// Any request PDU (1..=253 bytes) aimed at tables of `sizes`.
pub fn request_pdu(sizes: Sizes) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        // FC 8, 11, 17
        3 => diagnostics(),
        1 => function_only(),
        3 => read(0x01, sizes.coils, 2000),
        3 => read(0x02, sizes.d_inputs, 2000),
        3 => read(0x03, sizes.holding, 125),
        3 => read(0x04, sizes.input, 125),
        2 => write_single(
            0x05,
            sizes.coils,
            prop_oneof![3 => Just(0xFF00u16), 3 => Just(0u16), 1 => any::<u16>()].boxed()
        ),
        2 => write_single(0x06, sizes.holding, any::<u16>().boxed()),
        3 => write_coils(sizes.coils),
        3 => write_registers(sizes.holding),
        2 => mask_write(sizes.holding),
        3 => read_write(sizes.holding),
        1 => device_id(),
        1 => unknown(),
    ]
    .prop_flat_map(mangle)
    .boxed()
}

/// A request PDU with a random transaction id and unit id.
pub fn request(sizes: Sizes) -> impl Strategy<Value = (u16, u8, Vec<u8>)> {
    (any::<u16>(), any::<u8>(), request_pdu(sizes))
}

// FC 20, 21, 24

/// The files the FC 20 / 21 requests aim at: files `1..=files` of `records`
/// records each (0 files: a bank without files).
#[derive(Debug, Clone, Copy)]
pub struct FileSizes {
    pub files: u16,
    pub records: u16,
}

/// A file sub-request header with fields at and around the edges: file 0,
/// the last file and one past it; records at the file's end, at 0x270F.
fn file_header(files: FileSizes, length: u16) -> BoxedStrategy<Vec<u8>> {
    let reference = prop_oneof![12 => Just(6u8), 1 => any::<u8>()];
    let file = prop_oneof![
        6 => 1..=files.files.max(1),
        1 => Just(0u16),
        1 => Just(files.files.saturating_add(1)),
        1 => any::<u16>(),
    ];
    let end = i64::from(files.records) - i64::from(length);
    let record = prop_oneof![
        6 => (0..=i64::from(files.records)).prop_map(|r| r.clamp(0, 0xFFFF) as u16),
        2 => (-1i64..=1).prop_map(move |d| (end + d).clamp(0, 0xFFFF) as u16),
        1 => 0x270Fu16 - 2..=0x2711,
        1 => any::<u16>(),
    ];
    (reference, file, record)
        .prop_map(move |(t, f, r)| {
            let mut sub = vec![t];
            push_u16(&mut sub, f);
            push_u16(&mut sub, r);
            push_u16(&mut sub, length);
            sub
        })
        .boxed()
}

/// A record length: mostly small, sometimes 0 or large.
fn record_length() -> BoxedStrategy<u16> {
    prop_oneof![8 => 1u16..=12, 1 => Just(0u16), 1 => 60u16..=130].boxed()
}

fn read_file(files: FileSizes) -> BoxedStrategy<Vec<u8>> {
    let sub = record_length().prop_flat_map(move |n| file_header(files, n));
    (proptest::collection::vec(sub, 1..=6), byte_count_delta())
        .prop_map(|(subs, delta)| {
            let bytes: Vec<u8> = subs.concat();
            let count = (bytes.len() as i32 + delta).clamp(0, 255) as u8;
            let mut pdu = vec![0x14, count];
            pdu.extend(bytes);
            pdu
        })
        .boxed()
}

fn write_file(files: FileSizes) -> BoxedStrategy<Vec<u8>> {
    let sub = (record_length(), any::<u64>()).prop_flat_map(move |(n, seed)| {
        file_header(files, n).prop_map(move |mut sub| {
            sub.extend(bytes_from(seed, 2 * usize::from(n.min(20))));
            sub
        })
    });
    (proptest::collection::vec(sub, 1..=4), byte_count_delta())
        .prop_map(|(subs, delta)| {
            let bytes: Vec<u8> = subs.concat();
            let count = (bytes.len() as i32 + delta).clamp(0, 255) as u8;
            let mut pdu = vec![0x15, count];
            pdu.extend(bytes);
            pdu
        })
        .boxed()
}

/// A FIFO pointer: a multiple of 5 (where the model keeps small counts),
/// the table's edges, or anything.
fn read_fifo(holding: usize) -> BoxedStrategy<Vec<u8>> {
    let fives = (holding / 5).clamp(1, 0x3333);
    prop_oneof![
        4 => (0..fives).prop_map(|k| (k * 5) as u16),
        2 => address(holding, 1),
        1 => any::<u16>(),
    ]
    .prop_map(|pointer| {
        let mut pdu = vec![0x18];
        push_u16(&mut pdu, pointer);
        pdu
    })
    .boxed()
}

/// Any request PDU, FC 20, 21 and 24 included, aimed at tables of `sizes`
/// and files of `files`.
pub fn request_pdu_with_files(sizes: Sizes, files: FileSizes) -> BoxedStrategy<Vec<u8>> {
    let files_fifo = prop_oneof![
        2 => read_file(files),
        2 => write_file(files),
        2 => read_fifo(sizes.holding),
    ]
    .prop_flat_map(mangle);
    prop_oneof![6 => request_pdu(sizes), 2 => files_fifo].boxed()
}

/// [`request_pdu_with_files`] with a random transaction id and unit id.
pub fn request_with_files(
    sizes: Sizes,
    files: FileSizes,
) -> impl Strategy<Value = (u16, u8, Vec<u8>)> {
    (
        any::<u16>(),
        any::<u8>(),
        request_pdu_with_files(sizes, files),
    )
}
