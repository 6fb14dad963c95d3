//! A byte stream of arbitrary content, delivered in arbitrary read sizes,
//! through `Engine` + `Service`: never a panic, every response a well-formed
//! MBAP frame that answers the matching request in order, and the bytes sent
//! do not depend on how the stream was split or how large the buffers are.
//!
//! Input layout: `[k] [k read sizes] [stream...]`. Read size `i` is
//! `sizes[i % k] + 1` bytes (clamped to the free input space); `k == 0`
//! delivers everything the buffer takes at once.
#![no_main]

use core::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use modbus_device::wire::{Frame, Request, HEADER_LEN, MAX_PDU_LEN};
use modbus_device::{
    CloseReason, DataBank, DeviceIdentification, Engine, EngineConfig, FixedStorage, HeapFiles,
    HeapStorage, HeapStorageConfig, Instant, Respond, ServerId, Service,
};

/// Small tables, so that most fuzzed addresses are out of range.
type Small = FixedStorage<2, 2, 16, 16>;

/// What one connection sent before it stopped (all input consumed, or an
/// error closed it).
#[derive(Debug, PartialEq)]
struct Transcript {
    sent: Vec<u8>,
    closed: Option<CloseReason>,
}

fn device_identification() -> DeviceIdentification {
    let long = [b'x'; 200];
    DeviceIdentification::from_objects([
        (0x00, &b"vendor"[..]),
        (0x01, b"code"),
        (0x02, b"1.0"),
        (0x04, &long[..100]),
        (0x80, &long[..]),
    ])
    .expect("valid objects")
}

/// Feeds `stream` through one engine in reads of the sizes `sizes` gives,
/// draining the output after every read as the calling contract says.
fn run<const IN: usize, const OUT: usize, X>(
    service: &RefCell<X>,
    stream: &[u8],
    mut sizes: impl FnMut() -> usize,
) -> Transcript
where
    X: Respond,
{
    let mut engine = Engine::<IN, OUT>::new(EngineConfig::default(), None, Instant::ZERO);
    let mut sent = Vec::new();
    let mut rest = stream;
    let mut clock = 0u64;
    // Every round consumes at least one byte: bounded by the stream length.
    while !rest.is_empty() {
        let free = engine.input_buffer();
        assert!(!free.is_empty(), "input buffer full after a drained poll");
        let n = sizes().clamp(1, free.len()).min(rest.len());
        free[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        clock += 1;
        engine.handle_input(n, Instant::from_millis(clock));
        // Each non-empty poll consumes at least one frame of the input, so
        // draining ends within IN / 8 + 1 polls.
        let mut drained = false;
        for _ in 0..=IN / 8 + 1 {
            match engine.poll_output(service) {
                Ok([]) => {
                    drained = true;
                    break;
                }
                Ok(out) => {
                    assert!(out.len() <= OUT);
                    sent.extend_from_slice(out);
                }
                Err(reason) => {
                    return Transcript {
                        sent,
                        closed: Some(reason),
                    }
                }
            }
        }
        assert!(drained, "poll_output did not drain");
        assert!(engine.pending_input() < IN);
    }
    Transcript { sent, closed: None }
}

/// The requests a correct server answers: the complete frames in order,
/// until the first broken header (or the end of the stream).
fn expected_requests(stream: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        match Frame::new_checked(rest) {
            Ok(Some(frame)) => {
                let len = frame.len();
                frames.push(&rest[..len]);
                rest = &rest[len..];
            }
            Ok(None) => return (frames, false),
            Err(_) => return (frames, true),
        }
    }
}

/// Checks that `sent` is exactly one well-formed response per request.
fn check_responses(sent: &[u8], requests: &[&[u8]]) {
    let mut rest = sent;
    for request in requests {
        let frame = match Frame::new_checked(rest) {
            Ok(Some(frame)) => frame,
            other => panic!("response is not a complete frame: {other:?}, {rest:02X?}"),
        };
        // Protocol id 0 and a length in range are checked by new_checked;
        // the length must also match what follows it exactly.
        let len = frame.len();
        assert_eq!(
            usize::from(u16::from_be_bytes([rest[4], rest[5]])),
            len - 6,
            "MBAP length"
        );
        assert_eq!(&rest[2..4], &[0, 0], "protocol id");
        assert_eq!(&rest[..2], &request[..2], "transaction id echoed");
        assert_eq!(rest[6], request[6], "unit id echoed");
        let (pdu, request_pdu) = (frame.pdu(), &request[HEADER_LEN..]);
        assert!(!pdu.is_empty() && pdu.len() <= MAX_PDU_LEN);
        let function = request_pdu[0];
        let parsed = Request::parse(request_pdu);
        if pdu[0] == function | 0x80 {
            // An exception: the request's function with bit 0x80, one code.
            assert_eq!(pdu.len(), 2, "exception length");
            assert!(
                (1..=0x0B).contains(&pdu[1]),
                "exception code {:02X}",
                pdu[1]
            );
            if let Err(code) = parsed {
                assert_eq!(pdu[1], u8::from(code), "the parser's exception is sent");
            }
        } else {
            assert_eq!(pdu[0], function, "response function");
            assert!(parsed.is_ok(), "normal response to a bad request");
        }
        rest = &rest[len..];
    }
    assert!(
        rest.is_empty(),
        "bytes after the last response: {rest:02X?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, data)) = data.split_first() else {
        return;
    };
    let k = usize::from(k % 16).min(data.len());
    let (sizes, stream) = data.split_at(k);
    let mut index = 0usize;
    let mut fuzzed_sizes = || {
        let size = sizes
            .get(index % sizes.len().max(1))
            .map_or(usize::MAX, |&s| usize::from(s) + 1);
        index += 1;
        size
    };

    let (requests, broken) = expected_requests(stream);

    // Heap tables, files (FC 20/21), a server id (FC 17), smallest
    // buffers, the fuzzer's read sizes.
    let heap_service = || {
        let bank = DataBank::new(HeapStorage::new(HeapStorageConfig::default()).unwrap())
            .with_files(HeapFiles::new(3, 40).unwrap());
        RefCell::new(
            Service::new(bank)
                .with_device_identification(device_identification())
                .with_server_id(ServerId::new(b"fuzz").unwrap()),
        )
    };
    let heap = heap_service();
    let small_reads = run::<260, 260, _>(&heap, stream, &mut fuzzed_sizes);
    check_responses(&small_reads.sent, &requests);
    assert_eq!(
        small_reads.closed.is_some(),
        broken,
        "closed iff a header is broken"
    );

    // The same requests in one large read with large buffers: the same bytes.
    let heap2 = heap_service();
    let large_reads = run::<2048, 4096, _>(&heap2, stream, || usize::MAX);
    assert_eq!(small_reads, large_reads, "output depends on read sizes");

    // Small fixed tables (most addresses out of range), no identification.
    let fixed = RefCell::new(Service::new(DataBank::new(Small::new())));
    let fixed_reads = run::<260, 600, _>(&fixed, stream, &mut fuzzed_sizes);
    check_responses(&fixed_reads.sent, &requests);
    assert_eq!(fixed_reads.closed.is_some(), broken);
});
