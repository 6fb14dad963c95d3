//! Reassembly: a stream of several requests fed in chunks split at every
//! byte boundary (and at random sets of boundaries) yields exactly the same
//! output bytes, close reason and leftover input as feeding it at once, for
//! small and large engine buffers.

mod common;

use std::cell::RefCell;

use common::exceptions::mbap_frame;
use common::requests::{request, Sizes};
use common::{to_hex, Conn};
use modbus_device::{CloseReason, DataBank, EngineConfig, FixedStorage, Instant, Service};
use proptest::prelude::*;

type Tables = FixedStorage<2, 3, 20, 10>;
const SIZES: Sizes = Sizes {
    coils: 16,
    d_inputs: 24,
    holding: 20,
    input: 10,
};

/// What a run produced: the bytes sent, the close (if any), bytes left over
/// (an incomplete frame).
type Outcome = (Vec<u8>, Option<CloseReason>, usize);

/// Feeds `chunks` in order to a fresh engine and service; each chunk is
/// one segment (more reads if the input buffer is smaller).
fn run<const IN: usize, const OUT: usize>(stream: &[u8], cuts: &[usize]) -> Outcome {
    let service = RefCell::new(Service::new(DataBank::new(Tables::filled(
        true, false, 0x1234, 0x5678,
    ))));
    let mut conn: Conn<IN, OUT> = Conn::new(EngineConfig::default());
    let mut from = 0;
    for &to in cuts.iter().chain([&stream.len()]) {
        conn.feed(&service, &stream[from..to], Instant::ZERO);
        from = to;
    }
    // After a close the adapter drops the connection: what was still
    // unread then depends on the chunking and does not matter.
    let pending = match conn.closed {
        Some(_) => 0,
        None => conn.engine.pending_input(),
    };
    (conn.sent, conn.closed, pending)
}

/// A stream: several requests, then maybe a partial request or a broken
/// header (followed by a request that must never be answered).
fn stream() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(request(SIZES), 1..8),
        0u8..3,
        1usize..12,
    )
        .prop_map(|(requests, ending, partial)| {
            let mut stream: Vec<u8> = requests
                .iter()
                .flat_map(|(tid, unit, pdu)| mbap_frame(*tid, *unit, pdu))
                .collect();
            let last = mbap_frame(0xEEEE, 1, &[0x03, 0, 0, 0, 1]);
            match ending {
                1 => stream.extend_from_slice(&last[..partial]),
                2 => {
                    stream.extend_from_slice(&[0xAB, 0xCD, 0x00, 0x01, 0x00, 0x06]);
                    stream.extend_from_slice(&last);
                }
                _ => {}
            }
            stream
        })
}

fn describe(outcome: &Outcome) -> String {
    format!(
        "sent {} / closed {:?} / pending {}",
        to_hex(&outcome.0),
        outcome.1,
        outcome.2
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Two chunks, split at every byte boundary; small and large buffers.
    #[test]
    fn every_single_split_gives_the_same_output(stream in stream()) {
        let whole = run::<4096, 8192>(&stream, &[]);
        prop_assert!(!whole.0.is_empty(), "the stream must produce responses");
        for cut in 0..=stream.len() {
            let small = run::<260, 260>(&stream, &[cut]);
            prop_assert!(small == whole, "cut at {}: {} vs {}", cut, describe(&small), describe(&whole));
            let large = run::<1024, 2048>(&stream, &[cut]);
            prop_assert!(large == whole, "cut at {}: {} vs {}", cut, describe(&large), describe(&whole));
        }
        // One byte per segment.
        let cuts: Vec<usize> = (1..stream.len()).collect();
        let bytewise = run::<260, 260>(&stream, &cuts);
        prop_assert!(bytewise == whole, "{} vs {}", describe(&bytewise), describe(&whole));
    }

    /// Many random cut points.
    #[test]
    fn random_multi_splits_give_the_same_output(
        (stream, mut cuts) in stream().prop_flat_map(|s| {
            let len = s.len();
            (Just(s), proptest::collection::vec(0..=len, 0..24))
        })
    ) {
        cuts.sort_unstable();
        let whole = run::<4096, 8192>(&stream, &[]);
        let split = run::<260, 260>(&stream, &cuts);
        prop_assert!(split == whole, "cuts {:?}: {} vs {}", cuts, describe(&split), describe(&whole));
        let split = run::<600, 300>(&stream, &cuts);
        prop_assert!(split == whole, "cuts {:?}: {} vs {}", cuts, describe(&split), describe(&whole));
    }
}
