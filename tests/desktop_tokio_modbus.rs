//! The desktop server (async-std, smol and tokio) against an independent client,
//! tokio-modbus, over loopback: every function code it speaks (including
//! 22, 23 and 43 with paging), the shared table of exception cases, and
//! unit ids.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use desktop_common::exceptions::EXCEPTION_CASES;
use desktop_common::*;
use modbus_device::runtimes::Runtime;
use modbus_device::{object_id, DataBank, DeviceIdentification, HeapStorage, Service};
use tokio_modbus::client::{tcp, Client, Context, Reader, Writer};
use tokio_modbus::prelude::{ReadCode, SlaveContext};
use tokio_modbus::{ExceptionCode, ExceptionResponse, ProtocolError, Request, Response, Slave};

all_runtimes!(
    every_function_code,
    exception_table,
    device_identification_with_paging,
    unit_ids_are_echoed,
);

/// Runs an async client body on a fresh single-threaded tokio runtime,
/// bounded in time.
fn client<T>(body: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(30), body)
                .await
                .expect("client finished in time")
        })
}

async fn connect(addr: SocketAddr) -> Context {
    tcp::connect(addr).await.expect("tokio-modbus connects")
}

fn every_function_code<R: Runtime>() {
    let mut service = Service::new(DataBank::default());
    service
        .data_bank
        .set_discrete_inputs(3, &[true, false, true])
        .unwrap();
    service
        .data_bank
        .set_input_registers(5, &[0xA1, 0xB2, 0xC3])
        .unwrap();
    let (server, addr) = start::<R, _, _>(loopback_config(), service);
    client(async {
        let mut ctx = connect(addr).await;
        // FC 5, 15, 1
        ctx.write_single_coil(2, true).await.unwrap().unwrap();
        let coils = [true, false, true, true, false, false, true, false, true];
        ctx.write_multiple_coils(10, &coils).await.unwrap().unwrap();
        assert_eq!(ctx.read_coils(10, 9).await.unwrap().unwrap(), coils);
        assert_eq!(
            ctx.read_coils(0, 4).await.unwrap().unwrap(),
            [false, false, true, false]
        );
        // 2000 coils: the largest read.
        assert_eq!(ctx.read_coils(0, 2000).await.unwrap().unwrap().len(), 2000);
        // FC 2
        assert_eq!(
            ctx.read_discrete_inputs(2, 5).await.unwrap().unwrap(),
            [false, true, false, true, false]
        );
        // FC 4
        assert_eq!(
            ctx.read_input_registers(5, 3).await.unwrap().unwrap(),
            [0xA1, 0xB2, 0xC3]
        );
        // FC 6, 16, 3
        ctx.write_single_register(0, 0x1234).await.unwrap().unwrap();
        let words: Vec<u16> = (0..123).map(|i| i * 7).collect();
        ctx.write_multiple_registers(100, &words)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ctx.read_holding_registers(100, 123).await.unwrap().unwrap(),
            words
        );
        assert_eq!(
            ctx.read_holding_registers(0, 1).await.unwrap().unwrap(),
            [0x1234]
        );
        // FC 22: (0x12 AND 0xF2) OR (0x25 AND NOT 0xF2) = 0x17 (the Modbus
        // application protocol specification's example).
        ctx.write_single_register(4, 0x12).await.unwrap().unwrap();
        ctx.masked_write_register(4, 0xF2, 0x25)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ctx.read_holding_registers(4, 1).await.unwrap().unwrap(),
            [0x17]
        );
        // FC 23: the write happens first, and the read sees it.
        let read = ctx
            .read_write_multiple_registers(99, 3, 100, &[11, 22])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, [0, 11, 22]);
        ctx.disconnect().await.unwrap();
    });
    // The server's own view agrees with what the client wrote.
    server.with_data_bank(|bank| {
        let mut out = [0u16; 3];
        bank.get_holding_registers(100, &mut out).unwrap();
        assert_eq!(out, [11, 22, 14]);
        let mut bits = [false; 3];
        bank.get_coils(1, &mut bits).unwrap();
        assert_eq!(bits, [false, true, false]);
    });
    server.stop();
}

/// Every case of the shared table, sent by tokio-modbus as a raw request
/// (its `Custom` request carries any PDU).
fn exception_table<R: Runtime>() {
    let (server, addr) = start::<R, _, _>(loopback_config(), Service::new(DataBank::default()));
    client(async {
        let mut ctx = connect(addr).await;
        for case in EXCEPTION_CASES {
            let request = Request::Custom(case.pdu[0], Cow::Borrowed(&case.pdu[1..]));
            let (function, exception) = match ctx.call(request).await {
                // An unknown function code: tokio-modbus matches the exception itself.
                Ok(Err(exception)) => (case.pdu[0] & 0x7F, exception),
                // A known function code sent raw: tokio-modbus decodes the
                // exception as the standard function's, so it reports a
                // function code mismatch with the decoded response inside.
                Err(tokio_modbus::Error::Protocol(ProtocolError::FunctionCodeMismatch {
                    result:
                        Err(ExceptionResponse {
                            function,
                            exception,
                        }),
                    ..
                })) => (function.value(), exception),
                other => panic!(
                    "{}: expected exception {}, got {other:?}",
                    case.name, case.exception
                ),
            };
            assert_eq!(function, case.response_function() & 0x7F, "{}", case.name);
            assert_eq!(u8::from(exception), case.exception, "{}", case.name);
        }
        // The connection survived all of them.
        assert_eq!(
            ctx.read_holding_registers(0, 1).await.unwrap().unwrap(),
            [0]
        );
        // Typed requests with out-of-range addresses, through the normal API.
        assert_eq!(
            ctx.read_holding_registers(0xFFFF, 2).await.unwrap(),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            ctx.masked_write_register(0xFFFF, 0, 0).await.unwrap(),
            Ok(()),
            "0xFFFF is the last register of a full-size table"
        );
        assert_eq!(
            ctx.read_device_identification(ReadCode::Basic, 0)
                .await
                .unwrap()
                .err(),
            Some(ExceptionCode::IllegalDataAddress),
            "no identification configured"
        );
    });
    server.stop();
}

/// Objects totalling more than one response PDU come back over several
/// pages; each stream category and individual access work.
fn device_identification_with_paging<R: Runtime>() {
    let big_a = vec![b'a'; 120];
    let big_b = vec![b'b'; 100];
    let extended = vec![b'x'; 90];
    let id = DeviceIdentification::from_objects([
        (object_id::VENDOR_NAME, &b"Seed"[..]),
        (object_id::PRODUCT_CODE, b"MS-1"),
        (object_id::MAJOR_MINOR_REVISION, b"1.0"),
        (object_id::VENDOR_URL, &big_a),
        (object_id::PRODUCT_NAME, &big_b),
        (0x80, &extended),
    ])
    .unwrap();
    let expected: Vec<(u8, Vec<u8>)> = id.iter().map(|(k, v)| (k, v.to_vec())).collect();
    let total: usize = expected.iter().map(|(_, v)| v.len() + 2).sum();
    assert!(total > 253, "the objects need paging ({total} bytes)");
    let service = Service::new(DataBank::default()).with_device_identification(id);
    let (server, addr) = start::<R, _, _>(loopback_config(), service);
    client(async {
        let mut ctx = connect(addr).await;
        // Basic stream: one page, three objects.
        let basic = ctx
            .read_device_identification(ReadCode::Basic, 0)
            .await
            .unwrap()
            .unwrap();
        assert!(!basic.more_follows);
        let ids: Vec<u8> = basic.device_id_objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(basic.conformity_level.value(), 0x83);
        // Extended stream: follow the pages.
        let mut objects = Vec::new();
        let mut next = 0;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 10, "paging ends");
            let page = ctx
                .read_device_identification(ReadCode::Extended, next)
                .await
                .unwrap()
                .unwrap();
            assert!(!page.device_id_objects.is_empty(), "no empty page");
            objects.extend(
                page.device_id_objects
                    .iter()
                    .map(|o| (o.id, o.value.to_vec())),
            );
            if !page.more_follows {
                break;
            }
            next = page.next_object_id;
        }
        assert!(pages >= 2, "{pages} pages");
        assert_eq!(objects, expected);
        // Regular stream: up to 0x7F, so without the extended object.
        let regular = ctx
            .read_device_identification(ReadCode::Regular, 0)
            .await
            .unwrap()
            .unwrap();
        assert!(regular.device_id_objects.iter().all(|o| o.id < 0x80));
        // Individual access.
        let one = ctx
            .read_device_identification(ReadCode::Specific, 0x80)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one.device_id_objects.len(), 1);
        assert_eq!(one.device_id_objects[0].value.to_vec(), extended);
        assert_eq!(
            ctx.read_device_identification(ReadCode::Specific, 0x06)
                .await
                .unwrap()
                .err(),
            Some(ExceptionCode::IllegalDataAddress),
            "a missing object"
        );
    });
    server.stop();
}

/// Every unit id is answered and echoed (tokio-modbus checks the header).
fn unit_ids_are_echoed<R: Runtime>() {
    let (server, addr) =
        start::<R, DataBank<HeapStorage>, _>(loopback_config(), Service::new(DataBank::default()));
    client(async {
        let mut ctx = connect(addr).await;
        for unit in [0u8, 1, 17, 247, 255] {
            ctx.set_slave(Slave(unit));
            ctx.write_single_register(u16::from(unit), u16::from(unit) + 1)
                .await
                .unwrap()
                .unwrap();
            let got = ctx
                .read_holding_registers(u16::from(unit), 1)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, [u16::from(unit) + 1]);
        }
        let echoed = ctx
            .call(Request::ReadHoldingRegisters(0, 1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echoed, Response::ReadHoldingRegisters(vec![1]));
    });
    server.stop();
}
