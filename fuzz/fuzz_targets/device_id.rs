//! Device identification with arbitrary objects: every read code and object
//! id encodes to a response of at most 253 bytes that lists the objects it
//! claims, and paging through each stream terminates and yields exactly the
//! stream's objects, each once, in order.
//!
//! Input layout: a sequence of `[id] [len] [len bytes of value]` records
//! (the last value truncated to what is left).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modbus_device::wire::MAX_PDU_LEN;
use modbus_device::ResponseWriter;
use modbus_device::{DeviceIdentification, ExceptionCode};

fn encode(
    id: &DeviceIdentification,
    code: u8,
    object: u8,
    buf: &mut [u8; 300],
) -> Result<usize, ExceptionCode> {
    let mut w = ResponseWriter::new(buf);
    id.encode_response(code, object, &mut w)?;
    Ok(w.len())
}

/// Checks one response and returns (more_follows, next_id, objects).
fn check_response<'a>(
    id: &DeviceIdentification,
    code: u8,
    pdu: &'a [u8],
) -> (u8, u8, Vec<(u8, &'a [u8])>) {
    assert!(pdu.len() <= MAX_PDU_LEN, "response of {} bytes", pdu.len());
    assert!(pdu.len() >= 7);
    assert_eq!(&pdu[..3], &[0x2B, 0x0E, code]);
    assert_eq!(pdu[3], id.conformity_level());
    let (more, next, count) = (pdu[4], pdu[5], pdu[6]);
    assert!(more == 0 || more == 0xFF, "more follows {more:02X}");
    if more == 0 {
        assert_eq!(next, 0);
    }
    let mut objects = Vec::new();
    let mut rest = &pdu[7..];
    for _ in 0..count {
        let (&object, after) = rest.split_first().expect("object id");
        let (&len, after) = after.split_first().expect("object length");
        let value = after.get(..usize::from(len)).expect("object value");
        assert_eq!(id.get(object), Some(value), "object {object:02X}");
        objects.push((object, value));
        rest = &after[usize::from(len)..];
    }
    assert!(rest.is_empty(), "bytes after the objects");
    assert!(
        objects.windows(2).all(|w| w[0].0 < w[1].0),
        "objects in increasing id order"
    );
    (more, next, objects)
}

fuzz_target!(|data: &[u8]| {
    let mut id = DeviceIdentification::new();
    let mut rest = data;
    // Each record consumes at least one byte: bounded by the input length.
    while let Some((&object, after)) = rest.split_first() {
        let len = after.first().map_or(0, |&l| usize::from(l));
        let after = after.get(1..).unwrap_or(&[]);
        let value = &after[..len.min(after.len())];
        rest = &after[value.len()..];
        let before = id.clone();
        match id.set(object, value) {
            Ok(()) => assert_eq!(id.get(object), Some(value)),
            Err(_) => assert_eq!(id, before, "a failed set changed nothing"),
        }
        // Every other record removes an object, so removals are fuzzed too.
        if object & 0x40 != 0 && value.is_empty() {
            id.remove(object);
            assert_eq!(id.get(object).is_some(), object <= 2);
        }
    }

    let mut buf = [0u8; 300];
    for code in 0..=5u8 {
        for object in 0..=u8::MAX {
            match encode(&id, code, object, &mut buf) {
                Ok(len) => {
                    assert!((1..=4).contains(&code));
                    let (_, _, objects) = check_response(&id, code, &buf[..len]);
                    if code == 4 {
                        assert_eq!(objects.len(), 1);
                        assert_eq!(objects[0].0, object);
                    }
                }
                Err(ExceptionCode::IllegalDataValue) => assert!(!(1..=4).contains(&code)),
                Err(ExceptionCode::IllegalDataAddress) => {
                    assert_eq!(code, 4);
                    assert!(id.get(object).is_none());
                }
                Err(other) => panic!("code {code} object {object}: {other:?}"),
            }
        }
    }

    // Paging through each stream from its start.
    for (code, last) in [(1u8, 0x02u8), (2, 0x7F), (3, 0xFF)] {
        let expected: Vec<(u8, Vec<u8>)> = id
            .iter()
            .filter(|(object, _)| *object <= last)
            .map(|(object, value)| (object, value.to_vec()))
            .collect();
        let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut object = 0u8;
        let mut finished = false;
        // Each page carries at least one object: at most 256 pages.
        for _ in 0..=256 {
            let len = encode(&id, code, object, &mut buf).expect("stream read");
            let (more, next, objects) = check_response(&id, code, &buf[..len]);
            assert!(!objects.is_empty(), "an empty page");
            got.extend(objects.iter().map(|(o, v)| (*o, v.to_vec())));
            if more == 0 {
                finished = true;
                break;
            }
            assert!(next > object, "paging goes forward");
            object = next;
        }
        assert!(finished, "paging did not terminate");
        assert_eq!(got, expected, "stream {code}");
    }
});
