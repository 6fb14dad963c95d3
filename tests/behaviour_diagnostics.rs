//! FC 8 (diagnostics), FC 11 (get comm event counter) and FC 17 (report
//! server id), byte for byte through the real `Engine` and `Service` (no
//! network), as `tests/behaviour.rs`: expected responses are spaced hex,
//! `transaction protocol length unit  function data...`.
//!
//! The reference is the Modbus Application Protocol Specification V1.1b3,
//! sections 6.8, 6.9 and 6.13; the TCP-specific choices are documented in
//! `src/diagnostics.rs`.

mod common;

use std::sync::Mutex;

use common::{ask, assert_hex, exchange, hex, server, DefaultConn};
use modbus_device::diagnostics::{CommCounters, CommEventCounter, DiagnosticsData};
use modbus_device::{
    object_id, Bank, DataBank, DataHandler, DeviceIdentification, EngineConfig, ExceptionCode,
    ExtResponse, FixedStorage, Instant, ResponseWriter, ServerId, Service, SessionInfo, UnitFilter,
    UnitIdentity, UnitRouter, UnitSet, MAX_SERVER_ID_BYTES,
};

/// FC 8 sub-function `sub` (data 0x0000) and its one-word answer.
#[track_caller]
fn counter<X>(shared: &X, sub: u8) -> u16
where
    X: modbus_device::Shared + ?Sized,
    X::Target: modbus_device::Respond,
{
    let sent = ask(
        shared,
        &format!("00 09  00 00  00 06  01  08 00 {sub:02X} 00 00"),
    );
    assert_eq!(sent.len(), 12, "one word: {sent:02X?}");
    assert_eq!(
        sent[..10],
        hex(&format!("00 09 00 00 00 06 01 08 00 {sub:02X}"))[..]
    );
    u16::from_be_bytes([sent[10], sent[11]])
}

// ===================================================================
// FC 8 sub-function 0x00: return query data
// ===================================================================

/// Section 6.8.2's example (A5 37), and any length that fits: none, odd, and
/// the most a 253-byte PDU carries (250 bytes). The response is the request.
#[test]
fn return_query_data_echoes_any_data() {
    let srv = server();
    let example = "00 01  00 00  00 06  01  08 00 00 A5 37";
    assert_hex(&ask(&srv, example), example);
    let empty = "00 02  00 00  00 04  01  08 00 00";
    assert_hex(&ask(&srv, empty), empty);
    let odd = "00 03  00 00  00 07  01  08 00 00 01 02 03";
    assert_hex(&ask(&srv, odd), odd);
    let mut longest = hex("00 04  00 00  00 FE  01  08 00 00");
    longest.extend((0..250).map(|i| i as u8));
    let (sent, closed) = exchange(&srv, &longest);
    assert_eq!((sent, closed), (longest, None));
}

// ===================================================================
// FC 8 counters (0x0B..=0x12), FC 11
// ===================================================================

/// Each counter and the comm event count after a known sequence: a counter
/// read counts itself as a message; exceptions count as bus exception
/// errors and not as events; FC 11 is not an event.
#[test]
fn counters_follow_the_requests() {
    let srv = server();
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  01  03 00 00 00 01"),
        "00 01  00 00  00 05  01  03 02 00 00",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  01  03 FF FF 00 02"),
        "00 02  00 00  00 03  01  83 02",
    );
    // Bus message count: the two above and this one.
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  08 00 0B 00 00"),
        "00 03  00 00  00 06  01  08 00 0B 00 03",
    );
    // Bus exception error count: one.
    assert_hex(
        &ask(&srv, "00 04  00 00  00 06  01  08 00 0D 00 00"),
        "00 04  00 00  00 06  01  08 00 0D 00 01",
    );
    assert_eq!(counter(&srv, 0x0E), 5, "server message count");
    assert_eq!(counter(&srv, 0x0F), 0, "server no response count");
    assert_eq!(counter(&srv, 0x10), 0, "server NAK count");
    assert_eq!(counter(&srv, 0x11), 0, "server busy count");
    // Normal responses so far: FC 3 and the six counter reads.
    assert_hex(
        &ask(&srv, "00 05  00 00  00 02  01  0B"),
        "00 05  00 00  00 06  01  0B 00 00 00 07",
    );
    // FC 11 itself is not an event (section 6.9).
    assert_hex(
        &ask(&srv, "00 06  00 00  00 02  01  0B"),
        "00 06  00 00  00 06  01  0B 00 00 00 07",
    );
    let s = srv.lock().unwrap();
    let c = s.counters();
    assert_eq!(
        (
            c.bus_message_count(),
            c.server_message_count(),
            c.comm_event_count()
        ),
        (10, 10, 7)
    );
}

/// 0x0C (CRC errors) and 0x12 (character overruns) cannot happen on TCP:
/// 0 whatever the traffic, even after frames the service refuses.
#[test]
fn serial_only_counters_are_zero() {
    let srv = server();
    ask(&srv, "00 01  00 00  00 02  01  41");
    ask(&srv, "00 02  00 00  00 06  01  03 00 00 00 00");
    assert_eq!(counter(&srv, 0x0C), 0);
    assert_eq!(counter(&srv, 0x12), 0);
    assert_eq!(counter(&srv, 0x0D), 2);
}

/// 0x0A clears every counter and echoes; the clearing request itself is not
/// counted, so the next counter read sees only itself.
#[test]
fn clear_counters_clears_everything() {
    let srv = server();
    ask(&srv, "00 01  00 00  00 06  01  03 FF FF 00 02");
    ask(&srv, "00 02  00 00  00 06  01  03 00 00 00 01");
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  08 00 0A 00 00"),
        "00 03  00 00  00 06  01  08 00 0A 00 00",
    );
    assert_eq!(*srv.lock().unwrap().counters(), CommCounters::new());
    assert_eq!(counter(&srv, 0x0B), 1);
    assert_eq!(counter(&srv, 0x0D), 0);
    assert_hex(
        &ask(&srv, "00 04  00 00  00 02  01  0B"),
        "00 04  00 00  00 06  01  0B 00 00 00 02",
    );
    // Only data 0x0000: the counters stay, exception 3 counts.
    assert_hex(
        &ask(&srv, "00 05  00 00  00 06  01  08 00 0A FF 00"),
        "00 05  00 00  00 03  01  88 03",
    );
    assert_eq!(counter(&srv, 0x0D), 1);
}

/// 0x01 restart communications: data 0x0000 or 0xFF00 echo and clear the
/// counters; the connection stays open (the response is the request).
#[test]
fn restart_communications_echoes_and_clears() {
    let srv = server();
    for (tid, data) in [(1, "00 00"), (2, "FF 00")] {
        ask(&srv, "00 09  00 00  00 06  01  03 00 00 00 01");
        let request = format!("00 0{tid}  00 00  00 06  01  08 00 01 {data}");
        assert_hex(&ask(&srv, &request), &request);
        assert_eq!(*srv.lock().unwrap().counters(), CommCounters::new());
    }
    assert_hex(
        &ask(&srv, "00 03  00 00  00 06  01  08 00 01 00 FF"),
        "00 03  00 00  00 03  01  88 03",
    );
    assert_hex(
        &ask(&srv, "00 04  00 00  00 04  01  08 00 01"),
        "00 04  00 00  00 03  01  88 03",
    );
}

/// Unit ids the filter does not serve count as bus messages only (silent)
/// or as bus exceptions (0x0B), never as server messages; a served request
/// that gets no response counts as a server no response.
#[test]
fn filtered_and_unanswered_requests() {
    struct Silent;
    impl DataHandler for Silent {
        fn ext_engine(
            &mut self,
            _: &mut dyn Bank,
            pdu: &[u8],
            _: &SessionInfo,
            _: &mut ResponseWriter<'_>,
        ) -> ExtResponse {
            match pdu {
                [0x41, ..] => ExtResponse::NoResponse,
                _ => ExtResponse::Dispatch,
            }
        }
    }
    let silent = Mutex::new(
        Service::with_handler(DataBank::default(), Silent)
            .with_unit_filter(UnitFilter::OnlySilent(UnitSet::of(&[1]))),
    );
    assert!(ask(&silent, "00 01  00 00  00 06  07  03 00 00 00 01").is_empty());
    assert!(ask(&silent, "00 02  00 00  00 02  01  41").is_empty());
    assert_eq!(counter(&silent, 0x0B), 3);
    // The FC 0x41 and the two counter reads.
    assert_eq!(counter(&silent, 0x0E), 3);
    assert_eq!(counter(&silent, 0x0F), 1);

    let gateway = Mutex::new(
        Service::new(DataBank::default())
            .with_unit_filter(UnitFilter::OnlyWithException(UnitSet::of(&[1]))),
    );
    assert_hex(
        &ask(&gateway, "00 01  00 00  00 06  07  03 00 00 00 01"),
        "00 01  00 00  00 03  07  83 0B",
    );
    assert_eq!(counter(&gateway, 0x0D), 1);
    // The two counter reads.
    assert_eq!(counter(&gateway, 0x0E), 2);
    assert_eq!(counter(&gateway, 0x0F), 0);
}

/// Exception 6 counts as busy, exception 7 as NAK, both as bus exceptions;
/// a handler that writes nothing is answered with exception 4 and counted.
#[test]
fn busy_nak_and_empty_responses_are_counted() {
    struct Refusing;
    impl DataHandler for Refusing {
        fn ext_engine(
            &mut self,
            _: &mut dyn Bank,
            pdu: &[u8],
            _: &SessionInfo,
            _: &mut ResponseWriter<'_>,
        ) -> ExtResponse {
            match pdu {
                [0x41, ..] => ExtResponse::Exception(ExceptionCode::ServerDeviceBusy),
                [0x42, ..] => ExtResponse::Exception(ExceptionCode::from(0x07)),
                [0x43, ..] => ExtResponse::Respond,
                _ => ExtResponse::Dispatch,
            }
        }
    }
    let srv = Mutex::new(Service::with_handler(DataBank::default(), Refusing));
    assert_hex(
        &ask(&srv, "00 01 00 00 00 02 01 41"),
        "00 01 00 00 00 03 01 C1 06",
    );
    assert_hex(
        &ask(&srv, "00 02 00 00 00 02 01 42"),
        "00 02 00 00 00 03 01 C2 07",
    );
    assert_hex(
        &ask(&srv, "00 03 00 00 00 02 01 43"),
        "00 03 00 00 00 03 01 C3 04",
    );
    assert_eq!(counter(&srv, 0x11), 1, "busy");
    assert_eq!(counter(&srv, 0x10), 1, "NAK");
    assert_eq!(counter(&srv, 0x0D), 3, "bus exceptions");
    assert_hex(
        &ask(&srv, "00 04  00 00  00 02  01  0B"),
        "00 04  00 00  00 06  01  0B 00 00 00 03",
    );
}

/// The counters are the server's: two connections and two unit ids add up.
#[test]
fn counters_are_per_server() {
    let srv = server();
    let mut a = DefaultConn::new(EngineConfig::default());
    let mut b = DefaultConn::new(EngineConfig::default());
    a.feed(
        &srv,
        &hex("00 01 00 00 00 06 01 03 00 00 00 01"),
        Instant::ZERO,
    );
    b.feed(
        &srv,
        &hex("00 01 00 00 00 06 02 03 00 00 00 01"),
        Instant::ZERO,
    );
    a.feed(
        &srv,
        &hex("00 02 00 00 00 06 05 08 00 0B 00 00"),
        Instant::ZERO,
    );
    assert_hex(
        &a.take_sent()[11..],
        "00 02  00 00  00 06  05  08 00 0B 00 03",
    );
}

// ===================================================================
// FC 17: report server id
// ===================================================================

/// The configured server id: byte count, id, run indicator, additional data.
#[test]
fn report_server_id_answers_the_configured_id() {
    let id = ServerId::new(&[0x2A])
        .unwrap()
        .with_additional_data(b"MB")
        .unwrap();
    let srv = Mutex::new(Service::new(DataBank::default()).with_server_id(id));
    assert_hex(
        &ask(&srv, "00 01  00 00  00 02  01  11"),
        "00 01  00 00  00 07  01  11 04 2A FF 4D 42",
    );
    srv.lock()
        .unwrap()
        .server_id
        .as_mut()
        .unwrap()
        .set_run_indicator(false);
    assert_hex(
        &ask(&srv, "00 02  00 00  00 02  01  11"),
        "00 02  00 00  00 07  01  11 04 2A 00 4D 42",
    );
    // The largest: 251 bytes after the byte count, a 253-byte PDU.
    let big = ServerId::new(&[0x55; MAX_SERVER_ID_BYTES - 1]).unwrap();
    srv.lock().unwrap().server_id = Some(big);
    let sent = ask(&srv, "00 03  00 00  00 02  01  11");
    assert_eq!(sent.len(), 7 + 253);
    assert_eq!(sent[4..9], [0x00, 0xFE, 0x01, 0x11, 0xFB]);
    assert_eq!(sent[sent.len() - 1], 0xFF);
}

/// Without a server id: exception 1, as pyModbusTCP (no FC 17 at all).
#[test]
fn report_server_id_without_one_is_exception_1() {
    assert_hex(
        &ask(&server(), "00 01  00 00  00 02  01  11"),
        "00 01  00 00  00 03  01  91 01",
    );
}

// ===================================================================
// Per unit id: UnitRouter identities
// ===================================================================

/// A unit with an identity of its own answers FC 17 and FC 43 with it; the
/// other units fall back to the service's, or to the exceptions of a
/// service without (1 for FC 17, 2 for FC 43).
#[test]
fn router_units_have_their_own_identity() {
    type Tables = FixedStorage<0, 0, 4, 0>;
    let mut own = DeviceIdentification::new();
    own.set_vendor_name(b"U2").unwrap();
    let router = UnitRouter::<Tables, _, 1, 2>::new(DataBank::new(Tables::new()))
        .identify(
            2,
            UnitIdentity::new()
                .with_server_id(ServerId::new(&[0x02]).unwrap())
                .with_device_identification(own),
        )
        .unwrap()
        // A unit with only a server id keeps the service's identification.
        .identify(
            3,
            UnitIdentity::new().with_server_id(ServerId::new(&[0x03]).unwrap()),
        )
        .unwrap();
    let srv = Mutex::new(Service::new(router));
    assert_hex(
        &ask(&srv, "00 01  00 00  00 02  02  11"),
        "00 01  00 00  00 05  02  11 02 02 FF",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 02  09  11"),
        "00 02  00 00  00 03  09  91 01",
    );
    assert_hex(
        &ask(&srv, "00 03  00 00  00 05  02  2B 0E 04 00"),
        "00 03  00 00  00 0C  02  2B 0E 04 81 00 00 01 00 02 55 32",
    );
    assert_hex(
        &ask(&srv, "00 04  00 00  00 05  03  2B 0E 04 00"),
        "00 04  00 00  00 03  03  AB 02",
    );
    // The service's own, for every unit without one.
    let mut shared = DeviceIdentification::new();
    shared.set(object_id::VENDOR_NAME, b"S").unwrap();
    {
        let mut s = srv.lock().unwrap();
        s.device_identification = Some(shared);
        s.server_id = Some(ServerId::new(&[0x53]).unwrap());
    }
    assert_hex(
        &ask(&srv, "00 05  00 00  00 02  09  11"),
        "00 05  00 00  00 05  09  11 02 53 FF",
    );
    assert_hex(
        &ask(&srv, "00 06  00 00  00 05  03  2B 0E 04 00"),
        "00 06  00 00  00 0B  03  2B 0E 04 81 00 00 01 00 01 53",
    );
    assert_hex(
        &ask(&srv, "00 07  00 00  00 02  03  11"),
        "00 07  00 00  00 05  03  11 02 03 FF",
    );
    // Changed while serving.
    srv.lock()
        .unwrap()
        .data_bank
        .identity_mut(3)
        .unwrap()
        .server_id = None;
    assert_hex(
        &ask(&srv, "00 08  00 00  00 02  03  11"),
        "00 08  00 00  00 05  03  11 02 53 FF",
    );
}

// ===================================================================
// DataHandler methods and ext_engine
// ===================================================================

/// Overrides of the three methods: a diagnostic register (0x02), a busy
/// status word, a run indicator that follows the application.
#[test]
fn handler_methods_can_be_overridden() {
    struct Custom {
        id: ServerId,
        seen: Vec<(u16, Vec<u8>, u8)>,
    }
    impl DataHandler for Custom {
        fn diagnostics(
            &mut self,
            sub_function: u16,
            data: &[u8],
            counters: &mut CommCounters,
            srv_info: &SessionInfo,
        ) -> Result<DiagnosticsData, ExceptionCode> {
            self.seen
                .push((sub_function, data.to_vec(), srv_info.unit_id));
            match sub_function {
                0x02 => Ok(DiagnosticsData::Word(0x1234)),
                _ => counters.diagnostics(sub_function, data),
            }
        }
        fn get_comm_event_counter(
            &mut self,
            counters: &CommCounters,
            _: &SessionInfo,
        ) -> Result<CommEventCounter, ExceptionCode> {
            Ok(CommEventCounter {
                status: 0xFFFF,
                event_count: counters.comm_event_count() + 0x100,
            })
        }
        fn report_server_id<'a>(
            &'a mut self,
            _: Option<&'a ServerId>,
            _: &SessionInfo,
        ) -> Result<&'a ServerId, ExceptionCode> {
            self.id.set_run_indicator(false);
            Ok(&self.id)
        }
    }
    let handler = Custom {
        id: ServerId::new(b"C").unwrap(),
        seen: Vec::new(),
    };
    let srv = Mutex::new(Service::with_handler(DataBank::default(), handler));
    assert_hex(
        &ask(&srv, "00 01  00 00  00 06  04  08 00 02 00 00"),
        "00 01  00 00  00 06  04  08 00 02 12 34",
    );
    assert_hex(
        &ask(&srv, "00 02  00 00  00 06  04  08 00 04 00 00"),
        "00 02  00 00  00 03  04  88 01",
    );
    assert_hex(
        &ask(&srv, "00 03  00 00  00 02  04  0B"),
        "00 03  00 00  00 06  04  0B FF FF 01 01",
    );
    assert_hex(
        &ask(&srv, "00 04  00 00  00 02  04  11"),
        "00 04  00 00  00 05  04  11 02 43 00",
    );
    let s = srv.lock().unwrap();
    assert_eq!(
        s.data_hdl.seen,
        [(0x02, vec![0, 0], 4), (0x04, vec![0, 0], 4)]
    );
}

/// `ext_engine` sees FC 8, 11 and 17 before the per-function methods.
#[test]
fn ext_engine_sees_the_new_functions_first() {
    struct Hook;
    impl DataHandler for Hook {
        fn ext_engine(
            &mut self,
            _: &mut dyn Bank,
            pdu: &[u8],
            _: &SessionInfo,
            response: &mut ResponseWriter<'_>,
        ) -> ExtResponse {
            match pdu {
                [f @ (0x08 | 0x0B | 0x11), ..] => match response.extend(&[*f, 0xEE]) {
                    Ok(()) => ExtResponse::Respond,
                    Err(_) => ExtResponse::Exception(ExceptionCode::ServerDeviceFailure),
                },
                _ => ExtResponse::Dispatch,
            }
        }
    }
    let srv = Mutex::new(Service::with_handler(DataBank::default(), Hook));
    for f in ["08 00 00", "0B", "11"] {
        let len = hex(f).len() + 1;
        let sent = ask(&srv, &format!("00 01  00 00  00 {len:02X}  01  {f}"));
        assert_eq!(sent[7..], hex(&format!("{} EE", &f[..2]))[..], "{f}");
    }
}
