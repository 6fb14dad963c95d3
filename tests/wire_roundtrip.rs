//! Every request and response PDU of `wire`: the examples of the Modbus
//! Application Protocol Specification V1.1b3 (sections 6 and 7) parse to
//! the fields they describe and are emitted back byte for byte, and
//! emit → parse round-trips, for hand-picked and generated values.

mod common;

use common::hex;
use common::requests::{request_pdu, Sizes};
use modbus_device::wire::{
    emit_read_bits, emit_read_words, Bits, DeviceObjects, Request, Response, ResponseError, Words,
};
use modbus_device::wire::{limits::MAX_READ_BITS, MAX_PDU_LEN};
use modbus_device::{ExceptionCode, FunctionCode, ResponseWriter};
// FC 8, 11, 17
use modbus_device::{ServerId, MAX_SERVER_ID_BYTES};
use proptest::prelude::*;

/// Runs `emit` into a fresh buffer of `capacity` bytes and returns what it wrote.
fn emitted<E: std::fmt::Debug>(
    capacity: usize,
    emit: impl FnOnce(&mut ResponseWriter<'_>) -> Result<(), E>,
) -> Vec<u8> {
    let mut buf = vec![0xA5; capacity];
    let mut out = ResponseWriter::new(&mut buf);
    emit(&mut out).expect("emit");
    out.written().to_vec()
}

fn emit_request(request: &Request<'_>) -> Vec<u8> {
    let bytes = emitted(MAX_PDU_LEN, |out| request.emit(out));
    assert_eq!(bytes.len(), request.pdu_len(), "pdu_len of {request:?}");
    bytes
}

fn emit_response(response: &Response<'_>) -> Vec<u8> {
    let bytes = emitted(MAX_PDU_LEN, |out| response.emit(out));
    assert_eq!(bytes.len(), response.pdu_len(), "pdu_len of {response:?}");
    bytes
}

/// A spec example request: parses to `expected`, and `expected` emits it.
fn request_example(pdu: &str, expected: Request<'_>) {
    let bytes = hex(pdu);
    assert_eq!(Request::parse(&bytes), Ok(expected), "parse {pdu}");
    assert_eq!(emit_request(&expected), bytes, "emit {expected:?}");
}

/// A spec example response: parses to `expected`, and `expected` emits it.
fn response_example(pdu: &str, expected: Response<'_>) {
    let bytes = hex(pdu);
    assert_eq!(Response::parse(&bytes), Ok(expected), "parse {pdu}");
    assert_eq!(emit_response(&expected), bytes, "emit {expected:?}");
}

fn bits(bytes: &[u8], quantity: usize) -> Bits<'_> {
    Bits::new(bytes, quantity).unwrap()
}

fn words(bytes: &[u8]) -> Words<'_> {
    Words::new(bytes).unwrap()
}

#[test]
fn read_examples() {
    // Sections 6.1-6.4.
    request_example(
        "01 0013 0013",
        Request::ReadCoils {
            address: 0x13,
            quantity: 0x13,
        },
    );
    response_example(
        "01 03 CD 6B 05",
        Response::ReadCoils {
            values: bits(&[0xCD, 0x6B, 0x05], 24),
        },
    );
    request_example(
        "02 00C4 0016",
        Request::ReadDiscreteInputs {
            address: 0xC4,
            quantity: 0x16,
        },
    );
    response_example(
        "02 03 AC DB 35",
        Response::ReadDiscreteInputs {
            values: bits(&[0xAC, 0xDB, 0x35], 24),
        },
    );
    request_example(
        "03 006B 0003",
        Request::ReadHoldingRegisters {
            address: 0x6B,
            quantity: 3,
        },
    );
    response_example(
        "03 06 022B 0000 0064",
        Response::ReadHoldingRegisters {
            values: words(&[0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]),
        },
    );
    request_example(
        "04 0008 0001",
        Request::ReadInputRegisters {
            address: 8,
            quantity: 1,
        },
    );
    response_example(
        "04 02 000A",
        Response::ReadInputRegisters {
            values: words(&[0x00, 0x0A]),
        },
    );
}

#[test]
fn read_response_values_decode_as_in_the_examples() {
    // Section 6.1: coils 27..20 are CD (1100 1101), LSB first.
    let pdu = hex("01 03 CD 6B 05");
    let Ok(Response::ReadCoils { values }) = Response::parse(&pdu) else {
        panic!("FC 01 response")
    };
    let first: Vec<bool> = values.iter().take(8).collect();
    assert_eq!(
        first,
        [true, false, true, true, false, false, true, true],
        "coils 20..=27"
    );
    // Section 6.3: register 108 holds 0x022B (555), 110 holds 0x0064 (100).
    let pdu = hex("03 06 022B 0000 0064");
    let Ok(Response::ReadHoldingRegisters { values }) = Response::parse(&pdu) else {
        panic!("FC 03 response")
    };
    assert_eq!(values.iter().collect::<Vec<_>>(), [555, 0, 100]);
}

#[test]
fn single_write_examples_are_echoed() {
    // Sections 6.5, 6.6: the response is the request.
    let coil = Request::WriteSingleCoil {
        address: 0xAC,
        value: true,
    };
    request_example("05 00AC FF00", coil);
    let echo = Response::write_echo(&coil).unwrap();
    response_example("05 00AC FF00", echo);
    request_example(
        "05 00AC 0000",
        Request::WriteSingleCoil {
            address: 0xAC,
            value: false,
        },
    );
    let register = Request::WriteSingleRegister {
        address: 1,
        value: 3,
    };
    request_example("06 0001 0003", register);
    response_example("06 0001 0003", Response::write_echo(&register).unwrap());
}

#[test]
fn multiple_write_examples() {
    // Sections 6.11, 6.12: the response echoes address and quantity.
    let coils_bytes = [0xCD, 0x01];
    let coils = Request::WriteMultipleCoils {
        address: 0x13,
        values: bits(&coils_bytes, 10),
    };
    request_example("0F 0013 000A 02 CD 01", coils);
    let echo = Response::write_echo(&coils).unwrap();
    assert_eq!(
        echo,
        Response::WriteMultipleCoils {
            address: 0x13,
            quantity: 10
        }
    );
    response_example("0F 0013 000A", echo);

    let registers_bytes = [0x00, 0x0A, 0x01, 0x02];
    let registers = Request::WriteMultipleRegisters {
        address: 1,
        values: words(&registers_bytes),
    };
    request_example("10 0001 0002 04 000A 0102", registers);
    let echo = Response::write_echo(&registers).unwrap();
    assert_eq!(
        echo,
        Response::WriteMultipleRegisters {
            address: 1,
            quantity: 2
        }
    );
    response_example("10 0001 0002", echo);
}

#[test]
fn mask_write_and_read_write_examples() {
    // Section 6.16.
    let mask = Request::MaskWriteRegister {
        address: 4,
        and_mask: 0xF2,
        or_mask: 0x25,
    };
    request_example("16 0004 00F2 0025", mask);
    response_example("16 0004 00F2 0025", Response::write_echo(&mask).unwrap());
    // Section 6.17.
    let written = hex("00FF 00FF 00FF");
    request_example(
        "17 0003 0006 000E 0003 06 00FF 00FF 00FF",
        Request::ReadWriteMultipleRegisters {
            read_address: 3,
            read_quantity: 6,
            write_address: 0x0E,
            values: words(&written),
        },
    );
    let read = hex("00FE 0ACD 0001 0003 000D 00FF");
    response_example(
        "17 0C 00FE 0ACD 0001 0003 000D 00FF",
        Response::ReadWriteMultipleRegisters {
            values: words(&read),
        },
    );
}

#[test]
fn device_identification_example() {
    // Section 6.21: a basic stream of three objects in one response.
    request_example(
        "2B 0E 01 00",
        Request::ReadDeviceIdentification {
            read_code: 1,
            object_id: 0,
        },
    );
    let mut pdu = hex("2B 0E 01 01 00 00 03");
    for (id, value) in [
        (0u8, &b"Company identification"[..]),
        (1, b"Product code XX"),
        (2, b"V2.11"),
    ] {
        pdu.extend([id, value.len() as u8]);
        pdu.extend(value);
    }
    let Ok(response) = Response::parse(&pdu) else {
        panic!("FC 2B response")
    };
    let Response::ReadDeviceIdentification {
        read_code: 1,
        conformity_level: 0x01,
        next_object_id: None,
        objects,
    } = response
    else {
        panic!("fields of {response:?}")
    };
    let objects: Vec<_> = objects.iter().collect();
    assert_eq!(
        objects,
        [
            (0, &b"Company identification"[..]),
            (1, b"Product code XX"),
            (2, b"V2.11")
        ]
    );
    assert_eq!(emit_response(&response), pdu);
    // More follows: the next request starts at the announced object.
    let paged = hex("2B 0E 03 83 FF 81 01 80 02 6F 6B");
    let Ok(Response::ReadDeviceIdentification {
        next_object_id: Some(0x81),
        ..
    }) = Response::parse(&paged)
    else {
        panic!("more follows")
    };
}

#[test]
fn exception_example() {
    // Section 7: read coils refused with "illegal data address".
    response_example(
        "81 02",
        Response::Exception {
            function: FunctionCode::ReadCoils,
            code: ExceptionCode::IllegalDataAddress,
        },
    );
    response_example(
        "AB 01",
        Response::Exception {
            function: FunctionCode::EncapsulatedInterfaceTransport,
            code: ExceptionCode::IllegalFunction,
        },
    );
}

#[test]
fn server_emitters_match_the_examples() {
    // What `Service` writes, from the handler's values.
    let coils = [
        true, false, true, true, false, false, true, true, // CD
        true, true, false, true, false, true, true, false, // 6B
        true, false, true, // 05
    ];
    let bytes = emitted(MAX_PDU_LEN, |out| {
        emit_read_bits(out, FunctionCode::ReadCoils, &coils)
    });
    assert_eq!(bytes, hex("01 03 CD 6B 05"));
    let bytes = emitted(MAX_PDU_LEN, |out| {
        emit_read_words(out, FunctionCode::ReadHoldingRegisters, &[0x022B, 0, 0x64])
    });
    assert_eq!(bytes, hex("03 06 022B 0000 0064"));
    let bytes = emitted(MAX_PDU_LEN, |out| {
        emit_read_words(
            out,
            FunctionCode::ReadWriteMultipleRegisters,
            &[0xFE, 0x0ACD, 1, 3, 0x0D, 0xFF],
        )
    });
    assert_eq!(bytes, hex("17 0C 00FE 0ACD 0001 0003 000D 00FF"));
}

#[test]
fn reads_have_no_write_echo() {
    for pdu in [
        "01 0000 0001",
        "03 0000 0001",
        "17 0000 0001 0000 0001 02 0000",
        "2B 0E 01 00",
    ] {
        let bytes = hex(pdu);
        let request = Request::parse(&bytes).unwrap();
        assert_eq!(Response::write_echo(&request), None, "{pdu}");
    }
}

#[test]
fn malformed_responses_are_refused() {
    let malformed = [
        "01",                            // no byte count
        "01 03 CD 6B",                   // fewer bytes than counted
        "03 03 00 01 02",                // odd register byte count
        "05 00AC 1234",                  // a coil value other than FF00 / 0000
        "06 0001",                       // no value
        "10 0001 00",                    // short quantity
        "16 0004 00F2 00",               // short OR mask
        "2B 0E 01 01 7F 00 00",          // more follows neither 00 nor FF
        "2B 0E 01 01 00 00 01 00 05 41", // object shorter than its length
        "2B 0E 01 01 00 00",             // no object count
        "81",                            // exception without a code
    ];
    for pdu in malformed {
        assert_eq!(
            Response::parse(&hex(pdu)),
            Err(ResponseError::Malformed),
            "{pdu}"
        );
    }
    assert_eq!(
        Response::parse(&[]),
        Err(ResponseError::Unsupported { function: 0 })
    );
    assert_eq!(
        Response::parse(&hex("07 00")),
        Err(ResponseError::Unsupported { function: 0x07 })
    );
    assert_eq!(
        Response::parse(&hex("2B 0D 01 01 00 00 00")),
        Err(ResponseError::Unsupported { function: 0x2B })
    );
}

#[test]
fn emit_refuses_whole_when_out_of_room() {
    let request = Request::ReadHoldingRegisters {
        address: 0,
        quantity: 1,
    };
    let mut buf = [0xA5; 4];
    let mut out = ResponseWriter::new(&mut buf);
    assert_eq!(request.emit(&mut out).unwrap_err().required_size, 1);
    assert!(out.is_empty());
    let mut out = ResponseWriter::new(&mut buf);
    let response = Response::WriteSingleRegister {
        address: 1,
        value: 2,
    };
    assert_eq!(response.emit(&mut out).unwrap_err().required_size, 1);
    assert!(out.is_empty());
    // Longer than a PDU, whatever the buffer: 126 registers.
    let mut big = [0u8; 512];
    let too_many = [0u8; 252];
    let mut out = ResponseWriter::new(&mut big);
    let response = Response::ReadHoldingRegisters {
        values: words(&too_many),
    };
    assert_eq!(response.emit(&mut out).unwrap_err().required_size, 1);
    assert!(emit_read_words(&mut out, FunctionCode::ReadHoldingRegisters, &[0; 126]).is_err());
    assert!(out.is_empty());
}

#[test]
fn objects_view_matches_the_list() {
    let list = hex("80 02 6F 6B 81 00");
    let objects = DeviceObjects::new(&list, 2).unwrap();
    assert_eq!(objects.len(), 2);
    assert_eq!(
        objects.iter().collect::<Vec<_>>(),
        [(0x80, &b"ok"[..]), (0x81, &b""[..])]
    );
    assert!(DeviceObjects::new(&list, 3).is_none());
}

/// Any response a server could emit from the handler's values.
fn read_values() -> impl Strategy<Value = (u8, Vec<u16>, Vec<bool>)> {
    (
        prop::sample::select(vec![0x01u8, 0x02, 0x03, 0x04, 0x17]),
        prop::collection::vec(any::<u16>(), 0..=125),
        prop::collection::vec(any::<bool>(), 0..=usize::from(MAX_READ_BITS)),
    )
}

/// Bytes that start like a response of a supported function (or an
/// exception), so that most of them get past the function code.
fn response_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, 0x2B, 0x83, 0x07,
        ]),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
    )
        .prop_map(|(function, mut rest, device_id)| {
            if function == 0x2B && device_id && rest.len() > 5 {
                // Mostly a well-formed header: MEI 0x0E, more follows 00/FF, few objects.
                rest[0] = 0x0E;
                rest[3] = if rest[3] & 1 == 0 { 0x00 } else { 0xFF };
                rest[5] %= 4;
            }
            let mut pdu = vec![function];
            pdu.extend(rest);
            pdu
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// A request that parses is emitted back as the bytes it came from
    /// (up to the trailing bytes the parser ignores).
    #[test]
    fn parsed_requests_emit_their_bytes(pdu in request_pdu(Sizes::FULL)) {
        if let Ok(request) = Request::parse(&pdu) {
            let bytes = emit_request(&request);
            prop_assert_eq!(&bytes[..], &pdu[..bytes.len()]);
            prop_assert_eq!(Request::parse(&bytes), Ok(request));
        }
    }

    /// What the server emits from a handler's values parses back to them.
    #[test]
    fn server_reads_round_trip((function, registers, coils) in read_values()) {
        let function = FunctionCode::from(function);
        let pdu = if matches!(function, FunctionCode::ReadCoils | FunctionCode::ReadDiscreteInputs) {
            emitted(MAX_PDU_LEN, |out| emit_read_bits(out, function, &coils))
        } else {
            emitted(MAX_PDU_LEN, |out| emit_read_words(out, function, &registers))
        };
        match Response::parse(&pdu) {
            Ok(Response::ReadCoils { values } | Response::ReadDiscreteInputs { values }) => {
                let parsed: Vec<bool> = values.iter().collect();
                prop_assert_eq!(&parsed[..coils.len()], &coils[..]);
                prop_assert!(parsed[coils.len()..].iter().all(|&padding| !padding));
                prop_assert_eq!(parsed.len(), coils.len().div_ceil(8) * 8);
            }
            Ok(
                Response::ReadHoldingRegisters { values }
                | Response::ReadInputRegisters { values }
                | Response::ReadWriteMultipleRegisters { values },
            ) => prop_assert_eq!(values.iter().collect::<Vec<_>>(), registers),
            other => prop_assert!(false, "{:?} parsed as {:?}", pdu, other),
        }
        prop_assert_eq!(Response::parse(&pdu).map(|r| r.function()), Ok(function));
    }

    /// A response that parses emits bytes that parse to the same fields.
    #[test]
    fn parsed_responses_round_trip(pdu in response_like()) {
        if let Ok(response) = Response::parse(&pdu) {
            let bytes = emit_response(&response);
            prop_assert_eq!(Response::parse(&bytes), Ok(response));
            // Byte for byte, except the next object id that no more follows voids.
            if !matches!(response, Response::ReadDeviceIdentification { next_object_id: None, .. }) {
                prop_assert_eq!(&bytes[..], &pdu[..bytes.len()]);
            }
        }
    }
}

// ===================================================================
// FC 8, 11, 17
// ===================================================================

/// Section 6.8.2's example (return query data A5 37), a counter response,
/// section 6.9's example (status FF FF, 264 events), and report server id
/// (section 6.13, a device-specific layout: id 2A, ON, "MB").
#[test]
fn diagnostics_event_counter_and_server_id_examples() {
    let echo = Request::Diagnostics {
        sub_function: 0x0000,
        data: &[0xA5, 0x37],
    };
    request_example("08 00 00 A5 37", echo);
    response_example(
        "08 00 00 A5 37",
        Response::Diagnostics {
            sub_function: 0x0000,
            data: &[0xA5, 0x37],
        },
    );
    response_example(
        "08 00 0B 01 08",
        Response::Diagnostics {
            sub_function: 0x000B,
            data: &[0x01, 0x08],
        },
    );
    request_example("0B", Request::GetCommEventCounter);
    response_example(
        "0B FF FF 01 08",
        Response::GetCommEventCounter {
            status: 0xFFFF,
            event_count: 0x0108,
        },
    );
    request_example("11", Request::ReportServerId);
    response_example(
        "11 04 2A FF 4D 42",
        Response::ReportServerId {
            data: &[0x2A, 0xFF, 0x4D, 0x42],
        },
    );
    let id = ServerId::new(&[0x2A])
        .unwrap()
        .with_additional_data(b"MB")
        .unwrap();
    assert_eq!(
        ServerId::parse(&hex("2A FF 4D 42"), 1),
        Ok(Some(id.clone()))
    );
    assert_eq!(
        emit_response(&Response::ReportServerId {
            data: id.as_bytes()
        }),
        hex("11 04 2A FF 4D 42")
    );
    for (request, function) in [
        (echo, FunctionCode::Diagnostics),
        (
            Request::GetCommEventCounter,
            FunctionCode::GetCommEventCounter,
        ),
        (Request::ReportServerId, FunctionCode::ReportServerId),
    ] {
        assert_eq!(request.function(), function);
        assert_eq!(Response::write_echo(&request), None);
    }
}

#[test]
fn malformed_diagnostics_responses_are_refused() {
    for pdu in [
        "08",
        "08 00",
        "0B",
        "0B 00 00 00",
        "11",
        "11 00",
        "11 03 2A FF",
    ] {
        assert_eq!(
            Response::parse(&hex(pdu)),
            Err(ResponseError::Malformed),
            "{pdu}"
        );
    }
    assert_eq!(
        Response::parse(&hex("88 01")),
        Ok(Response::Exception {
            function: FunctionCode::Diagnostics,
            code: ExceptionCode::IllegalFunction
        })
    );
    // A request with more data than a PDU holds is not emitted.
    let data = [0; MAX_PDU_LEN - 2];
    let too_long = Request::Diagnostics {
        sub_function: 0,
        data: &data,
    };
    let mut buf = [0; 300];
    let mut out = ResponseWriter::new(&mut buf);
    assert_eq!(too_long.emit(&mut out).unwrap_err().required_size, 1);
    assert!(out.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any diagnostics request and response, any event counter and any
    /// server id emit and parse back to the same fields.
    #[test]
    fn diagnostics_round_trip(
        sub_function in any::<u16>(),
        data in prop::collection::vec(any::<u8>(), 0..=MAX_PDU_LEN - 3),
        status in any::<u16>(),
        event_count in any::<u16>(),
        id in prop::collection::vec(any::<u8>(), 0..=20),
        run in any::<bool>(),
        additional in prop::collection::vec(any::<u8>(), 0..=MAX_SERVER_ID_BYTES - 21),
    ) {
        let request = Request::Diagnostics { sub_function, data: &data };
        let bytes = emit_request(&request);
        prop_assert_eq!(Request::parse(&bytes), Ok(request));
        let response = Response::Diagnostics { sub_function, data: &data };
        let bytes = emit_response(&response);
        prop_assert_eq!(Response::parse(&bytes), Ok(response));
        let response = Response::GetCommEventCounter { status, event_count };
        let bytes = emit_response(&response);
        prop_assert_eq!(Response::parse(&bytes), Ok(response));
        let server_id = ServerId::new(&id).unwrap().with_run_indicator(run).with_additional_data(&additional).unwrap();
        let response = Response::ReportServerId { data: server_id.as_bytes() };
        let bytes = emit_response(&response);
        prop_assert_eq!(Response::parse(&bytes), Ok(response));
        prop_assert_eq!(ServerId::parse(server_id.as_bytes(), id.len()), Ok(Some(server_id.clone())));
        prop_assert_eq!(
            (server_id.server_id(), server_id.run_indicator(), server_id.additional_data()),
            (&id[..], run, &additional[..])
        );
    }
}
