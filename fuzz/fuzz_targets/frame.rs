//! MBAP framing and request parsing on arbitrary bytes: never a panic, and
//! the views agree with each other (a frame's length, its PDU, the parsed
//! request's function code).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modbus_device::wire::{Frame, Request, HEADER_LEN, MAX_ADU_LEN};
use modbus_device::ExceptionCode;

fuzz_target!(|data: &[u8]| {
    let len = Frame::<&[u8]>::frame_len(data);
    match Frame::new_checked(data) {
        Ok(Some(frame)) => {
            let total = len.expect("frame_len agrees with new_checked").unwrap();
            assert_eq!(frame.len(), total);
            assert!((HEADER_LEN + 1..=MAX_ADU_LEN).contains(&total));
            assert!(total <= data.len());
            assert_eq!(frame.pdu(), &data[HEADER_LEN..total]);
            assert_eq!(frame.unit_id(), data[6]);
            assert_eq!(
                frame.transaction_id(),
                u16::from_be_bytes([data[0], data[1]])
            );
            check_parse(frame.pdu());
        }
        Ok(None) => assert_eq!(len, Ok(None)),
        Err(e) => assert_eq!(len, Err(e)),
    }
    // The parser alone, on PDUs of any length (the engine never gives it
    // more than 253 bytes, but the API accepts any slice).
    check_parse(data);
});

fn check_parse(pdu: &[u8]) {
    match Request::parse(pdu) {
        Ok(request) => assert_eq!(u8::from(request.function()), pdu[0]),
        Err(code) => {
            // Only the codes the parser is documented to answer.
            assert!(matches!(
                code,
                ExceptionCode::IllegalFunction
                    | ExceptionCode::IllegalDataValue
                    | ExceptionCode::IllegalDataAddress
            ));
            if pdu.is_empty() || pdu[0] >= 0x80 {
                assert_eq!(code, ExceptionCode::IllegalFunction);
            }
        }
    }
}
