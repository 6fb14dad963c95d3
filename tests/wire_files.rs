//! Round trips of FC 20, 21 and 24 requests and responses through
//! `wire::Request` / `wire::Response` (parse, then emit, gives the same
//! bytes; emit, then parse, gives the same fields), on the examples of the
//! Modbus Application Protocol Specification V1.1b3 (sections 6.14, 6.15,
//! 6.18) and on generated sub-requests; and the malformed responses a
//! client must refuse.

mod common;

use common::{assert_hex, hex};
use modbus_device::wire::{
    emit_read_fifo_queue, FileRecord, FileRecordReads, FileRecordWrites, ReadFileRecordWriter,
    Request, Response, ResponseError,
};
use modbus_device::{ExceptionCode, ResponseWriter};
use proptest::prelude::*;

fn emit_request(request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; 300];
    let mut w = ResponseWriter::new(&mut buf);
    request.emit(&mut w).unwrap();
    assert_eq!(w.len(), request.pdu_len());
    w.written().to_vec()
}

fn emit_response(response: &Response<'_>) -> Vec<u8> {
    let mut buf = [0u8; 300];
    let mut w = ResponseWriter::new(&mut buf);
    response.emit(&mut w).unwrap();
    assert_eq!(w.len(), response.pdu_len());
    w.written().to_vec()
}

const FC14_REQUEST: &str = "14 0E  06 0004 0001 0002  06 0003 0009 0002";
const FC14_RESPONSE: &str = "14 0C  05 06 0DFE 0020  05 06 33CD 0040";
const FC15_REQUEST: &str = "15 0D  06 0004 0007 0003 06AF 04BE 100D";
const FC18_REQUEST: &str = "18 04DE";
const FC18_RESPONSE: &str = "18 0006 0002 01B8 1284";

#[test]
fn fc14_spec_request_round_trips() {
    let bytes = hex(FC14_REQUEST);
    let request = Request::parse(&bytes).unwrap();
    let Request::ReadFileRecord { records } = request else {
        panic!("not FC 0x14: {request:?}")
    };
    let subs: Vec<FileRecord> = records.iter().collect();
    assert_eq!(
        subs,
        [
            FileRecord {
                file: 4,
                record: 1,
                length: 2
            },
            FileRecord {
                file: 3,
                record: 9,
                length: 2
            }
        ]
    );
    assert_eq!(records.len(), 2);
    assert_eq!(records.response_len(), hex(FC14_RESPONSE).len());
    assert_eq!(emit_request(&request), bytes);
    // The same request, built from fields.
    let mut buf = [0u8; 14];
    let built = FileRecordReads::encode_into(&subs, &mut buf).unwrap();
    assert_eq!(
        emit_request(&Request::ReadFileRecord { records: built }),
        bytes
    );
}

#[test]
fn fc14_spec_response_round_trips_and_matches_the_server_emitter() {
    let bytes = hex(FC14_RESPONSE);
    let response = Response::parse(&bytes).unwrap();
    let Response::ReadFileRecord { records } = response else {
        panic!("not FC 0x14: {response:?}")
    };
    let data: Vec<Vec<u16>> = records.iter().map(|w| w.iter().collect()).collect();
    assert_eq!(data, [vec![0x0DFE, 0x0020], vec![0x33CD, 0x0040]]);
    assert_eq!(emit_response(&response), bytes);

    let mut buf = [0u8; 260];
    let mut out = ResponseWriter::new(&mut buf);
    let mut writer = ReadFileRecordWriter::new(&mut out).unwrap();
    writer.push(&[0x0DFE, 0x0020]).unwrap();
    writer.push(&[0x33CD, 0x0040]).unwrap();
    writer.finish().unwrap();
    assert_eq!(out.written(), bytes);
}

#[test]
fn read_file_record_writer_stops_at_the_pdu_limit() {
    let mut buf = [0u8; 300];
    let mut out = ResponseWriter::new(&mut buf);
    let mut writer = ReadFileRecordWriter::new(&mut out).unwrap();
    writer.push(&[0; 124]).unwrap(); // 2 + 2 + 248 = 252
    assert!(writer.push(&[]).is_err(), "253 + 1 bytes");
    writer.finish().unwrap();
    assert_eq!(out.len(), 252);
    assert_eq!(&out.written()[..4], &hex("14 FA F9 06"));
}

#[test]
fn fc15_spec_request_and_echo_round_trip() {
    let bytes = hex(FC15_REQUEST);
    let request = Request::parse(&bytes).unwrap();
    let Request::WriteFileRecord { records } = request else {
        panic!("not FC 0x15: {request:?}")
    };
    let subs: Vec<(u16, u16, Vec<u16>)> = records
        .iter()
        .map(|s| (s.file, s.record, s.values.iter().collect()))
        .collect();
    assert_eq!(subs, [(4, 7, vec![0x06AF, 0x04BE, 0x100D])]);
    assert_eq!(records.total_words(), 3);
    assert_eq!(emit_request(&request), bytes);
    // The normal response is an echo of the request.
    let response = Response::parse(&bytes).unwrap();
    assert_eq!(response, Response::WriteFileRecord { records });
    assert_eq!(emit_response(&response), bytes);
    // Built from fields.
    let mut buf = [0u8; 32];
    let values = [0x06AF, 0x04BE, 0x100D];
    let built = FileRecordWrites::encode_into(&[(4, 7, &values[..])], &mut buf).unwrap();
    assert_eq!(
        emit_request(&Request::WriteFileRecord { records: built }),
        bytes
    );
}

#[test]
fn fc18_spec_request_and_response_round_trip() {
    let bytes = hex(FC18_REQUEST);
    let request = Request::parse(&bytes).unwrap();
    assert_eq!(request, Request::ReadFifoQueue { pointer: 0x04DE });
    assert_eq!(emit_request(&request), bytes);

    let bytes = hex(FC18_RESPONSE);
    let response = Response::parse(&bytes).unwrap();
    let Response::ReadFifoQueue { values } = response else {
        panic!("not FC 0x18: {response:?}")
    };
    assert_eq!(values.iter().collect::<Vec<_>>(), [440, 4740]);
    assert_eq!(emit_response(&response), bytes);

    let mut buf = [0u8; 80];
    let mut out = ResponseWriter::new(&mut buf);
    emit_read_fifo_queue(&mut out, &[440, 4740]).unwrap();
    assert_hex(out.written(), FC18_RESPONSE);
}

#[test]
fn malformed_responses_are_refused() {
    for (what, pdu) in [
        ("FC 0x18 byte count not 2 + 2N", "18 0008 0002 01B8 1284"),
        ("FC 0x18 values missing", "18 0006 0002 01B8"),
        ("FC 0x18 count above 31", "18 0042 0020"),
        ("FC 0x14 reference type 5", "14 04  03 05 0000"),
        ("FC 0x14 even sub-response length", "14 04  02 06 0000"),
        (
            "FC 0x14 sub-response past the byte count",
            "14 04  05 06 0000",
        ),
        ("FC 0x14 byte count past the PDU", "14 06  03 06 0000"),
        (
            "FC 0x15 echo with a record length of 0",
            "15 09  06 0001 0000 0000 0000",
        ),
    ] {
        assert_eq!(
            Response::parse(&hex(pdu)),
            Err(ResponseError::Malformed),
            "{what}"
        );
    }
}

#[test]
fn views_refuse_what_the_parser_refuses() {
    let sub = hex("06 0001 0000 0001");
    assert!(FileRecordReads::new(&sub).is_ok());
    assert_eq!(
        FileRecordReads::new(&sub[..6]),
        Err(ExceptionCode::IllegalDataValue)
    );
    assert_eq!(
        FileRecordReads::new(&hex("06 0000 0000 0001")),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        FileRecordWrites::new(&hex("06 0001 0000 0001 12")),
        Err(ExceptionCode::IllegalDataValue)
    );
    // Encoding refuses a buffer too short and fields the parser refuses.
    let subs = [FileRecord {
        file: 1,
        record: 0,
        length: 1,
    }];
    assert!(FileRecordReads::encode_into(&subs, &mut [0u8; 6]).is_none());
    let bad = [FileRecord {
        file: 0,
        record: 0,
        length: 1,
    }];
    assert!(FileRecordReads::encode_into(&bad, &mut [0u8; 7]).is_none());
}

fn sub_request() -> impl Strategy<Value = FileRecord> {
    (1u16..=0xFFFF, 0u16..=0x2700, 1u16..=8).prop_map(|(file, record, length)| FileRecord {
        file,
        record,
        length,
    })
}

proptest! {
    #[test]
    fn generated_reads_round_trip(subs in prop::collection::vec(sub_request(), 1..=20)) {
        let mut buf = [0u8; 256];
        let Some(records) = FileRecordReads::encode_into(&subs, &mut buf) else {
            // Only when the response would not fit a PDU.
            let words: usize = subs.iter().map(|s| usize::from(s.length)).sum();
            prop_assert!(2 + 2 * subs.len() + 2 * words > 253);
            return Ok(());
        };
        let bytes = emit_request(&Request::ReadFileRecord { records });
        let parsed = Request::parse(&bytes).unwrap();
        let Request::ReadFileRecord { records } = parsed else {
            panic!("not FC 0x14")
        };
        prop_assert_eq!(records.iter().collect::<Vec<_>>(), subs);
        prop_assert_eq!(emit_request(&parsed), bytes);
    }

    #[test]
    fn generated_writes_round_trip(
        subs in prop::collection::vec(
            (sub_request(), prop::collection::vec(any::<u16>(), 1..=8)),
            1..=8,
        )
    ) {
        let fields: Vec<(u16, u16, &[u16])> =
            subs.iter().map(|(s, v)| (s.file, s.record, v.as_slice())).collect();
        let mut buf = [0u8; 512];
        let Some(records) = FileRecordWrites::encode_into(&fields, &mut buf) else {
            let len: usize = subs.iter().map(|(_, v)| 7 + 2 * v.len()).sum();
            prop_assert!(len > 0xFB);
            return Ok(());
        };
        let bytes = emit_request(&Request::WriteFileRecord { records });
        let parsed = Request::parse(&bytes).unwrap();
        let Request::WriteFileRecord { records } = parsed else {
            panic!("not FC 0x15")
        };
        let back: Vec<(u16, u16, Vec<u16>)> = records
            .iter()
            .map(|s| (s.file, s.record, s.values.iter().collect()))
            .collect();
        let expected: Vec<(u16, u16, Vec<u16>)> =
            subs.iter().map(|(s, v)| (s.file, s.record, v.clone())).collect();
        prop_assert_eq!(back, expected);
        prop_assert_eq!(emit_request(&parsed), bytes.clone());
        // The echo response has the request's bytes.
        prop_assert_eq!(emit_response(&Response::parse(&bytes).unwrap()), bytes);
    }
}
