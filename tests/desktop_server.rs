//! The desktop server (async-std, smol and tokio) over loopback, driven by a raw
//! client: pipelining, IPv6, stop and restart, connection limits, timeouts,
//! change callbacks, atomicity under concurrency, a panicking handler and a
//! flood of garbage. Every test runs once per runtime.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::runtimes::{
    ConnectionEvent, DisconnectReason, LimitPolicy, ModbusServer, Runtime, ServerConfig,
    ServerError,
};
use modbus_device::{
    Bank, ChangeCallbacks, DataBank, DataHandler, EngineConfig, ExceptionCode, HeapStorage,
    Service, SessionInfo,
};

all_runtimes!(
    pipelining_answers_in_order,
    ipv6_loopback,
    dual_stack_bind_reached_over_ipv4,
    stop_closes_clients_fast_and_restart_reuses_the_port,
    max_connections_refuse,
    max_connections_evict_least_active,
    idle_connection_is_dropped,
    client_stalled_mid_frame_is_dropped,
    change_callbacks_see_the_client,
    concurrent_writers_never_tear_reads,
    application_writes_while_clients_read,
    panicking_handler_closes_only_its_connection,
    garbage_flood_does_not_disturb_a_healthy_client,
    blocking_start_serves_until_stop,
    start_reports_errors,
);

fn default_service() -> Service<DataBank<HeapStorage>> {
    Service::new(DataBank::default())
}

/// 16 requests in one write: 16 responses, in order, each correct.
fn pipelining_answers_in_order<R: Runtime>() {
    let mut service = default_service();
    let values: Vec<u16> = (0..16).map(|i| 1000 + i).collect();
    service.data_bank.set_holding_registers(0, &values).unwrap();
    let (server, addr) = start::<R, _, _>(loopback_config(), service);
    let mut client = RawClient::connect(addr);
    let mut batch = Vec::new();
    for i in 0..16u16 {
        // Read register i alone, with transaction id 0x100 + i and unit i.
        batch.extend(mbap_frame(0x100 + i, i as u8, &[0x03, 0, i as u8, 0, 1]));
    }
    client.stream.write_all(&batch).unwrap();
    for i in 0..16u16 {
        let ((tid, unit), pdu) = read_frame(&mut client.stream).unwrap();
        assert_eq!((tid, unit), (0x100 + i, i as u8), "response {i} in order");
        assert_eq!(words_of(&pdu, 0x03, 1), [1000 + i]);
    }
    server.stop();
}

/// A server on `::1` answers an IPv6 client.
fn ipv6_loopback<R: Runtime>() {
    if !ipv6_available() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback");
        return;
    }
    let config = ServerConfig {
        host: "::1".into(),
        ..loopback_config()
    };
    let (server, addr) = start::<R, _, _>(config, default_service());
    assert!(addr.is_ipv6(), "bound {addr}");
    let mut client = RawClient::connect(addr);
    client.write_holding(7, &[0xBEEF]).unwrap();
    assert_eq!(client.read_holding(7, 1).unwrap(), [0xBEEF]);
    server.stop();
    // `ipv6: true` resolves "localhost" to ::1, where the system's resolver
    // knows that name (some containers map localhost to 127.0.0.1 only).
    let resolves_v6 = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 0))
        .map(|mut addrs| addrs.any(|a| a.is_ipv6()))
        .unwrap_or(false);
    if !resolves_v6 {
        eprintln!("SKIPPED (part): \"localhost\" has no IPv6 address on this machine");
        return;
    }
    let config = ServerConfig {
        host: "localhost".into(),
        ipv6: true,
        ..loopback_config()
    };
    let (server, addr) = start::<R, _, _>(config, default_service());
    assert!(addr.ip().is_loopback() && addr.is_ipv6(), "bound {addr}");
    assert_eq!(RawClient::connect(addr).read_holding(0, 1).unwrap(), [0]);
    server.stop();
}

/// A server on `::` is reached from 127.0.0.1 (dual stack) and from ::1.
fn dual_stack_bind_reached_over_ipv4<R: Runtime>() {
    if !ipv6_available() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback");
        return;
    }
    let config = ServerConfig {
        host: "::".into(),
        ..loopback_config()
    };
    let (server, addr) = start::<R, _, _>(config, default_service());
    let v4: SocketAddr = ([127, 0, 0, 1], addr.port()).into();
    let v6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, addr.port()).into();
    let mut over_v4 = RawClient::connect(v4);
    let mut over_v6 = RawClient::connect(v6);
    over_v4.write_holding(1, &[41]).unwrap();
    assert_eq!(over_v6.read_holding(1, 1).unwrap(), [41]);
    over_v6.write_holding(1, &[42]).unwrap();
    assert_eq!(over_v4.read_holding(1, 1).unwrap(), [42]);
    server.stop();
}

/// `stop()` returns and closes every client well under a second; the
/// server starts again on the same port with the same data.
fn stop_closes_clients_fast_and_restart_reuses_the_port<R: Runtime>() {
    let (server, addr) = start::<R, _, _>(loopback_config(), default_service());
    let mut clients: Vec<RawClient> = (0..4).map(|_| RawClient::connect(addr)).collect();
    clients[0].write_holding(3, &[33]).unwrap();
    for c in &mut clients {
        assert_eq!(c.read_holding(3, 1).unwrap(), [33]);
    }
    let began = Instant::now();
    server.stop();
    let stop_took = began.elapsed();
    assert!(!server.is_run());
    assert!(
        stop_took < Duration::from_millis(500),
        "stop() took {stop_took:?}"
    );
    for c in &mut clients {
        assert!(
            c.closed_within(Duration::from_millis(500)),
            "client closed by stop()"
        );
    }
    assert!(began.elapsed() < Duration::from_secs(1));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "nothing listens after stop()"
    );

    server.configure(|c| c.port = addr.port());
    server.start().expect("restart on the same port");
    assert!(server.is_run());
    assert_eq!(server.local_addr(), Some(addr));
    assert_eq!(RawClient::connect(addr).read_holding(3, 1).unwrap(), [33]);
    server.stop();
    server.stop(); // twice is harmless
}

/// Beyond `max_connections`, new connections are closed; the open ones work.
fn max_connections_refuse<R: Runtime>() {
    let config = ServerConfig {
        max_connections: 2,
        on_limit: LimitPolicy::Refuse,
        ..loopback_config()
    };
    let (server, addr) = start::<R, _, _>(config, default_service());
    let refused = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&refused);
    server.on_event(move |e| {
        if let ConnectionEvent::Refused { client } = e {
            seen.lock().unwrap().push(*client);
        }
    });
    let mut a = RawClient::connect(addr);
    let mut b = RawClient::connect(addr);
    // Both admitted once they have been answered.
    a.read_holding(0, 1).unwrap();
    b.read_holding(0, 1).unwrap();
    let mut c = RawClient::connect(addr);
    let c_addr = c.stream.local_addr().unwrap();
    let _ = c.stream.write_all(&mbap_frame(1, 1, &[0x03, 0, 0, 0, 1]));
    assert!(
        c.closed_within(Duration::from_secs(2)),
        "third connection closed"
    );
    // The event follows the close: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while refused.lock().unwrap().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(*refused.lock().unwrap(), [c_addr]);
    a.read_holding(0, 1).unwrap();
    b.read_holding(0, 1).unwrap();
    // A slot freed by a client that leaves is usable again.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.connection_count() > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(RawClient::connect(addr).read_holding(0, 1).unwrap(), [0]);
    server.stop();
}

/// Beyond `max_connections`, the connection answered longest ago makes room.
fn max_connections_evict_least_active<R: Runtime>() {
    let config = ServerConfig {
        max_connections: 2,
        on_limit: LimitPolicy::EvictLeastActive,
        ..loopback_config()
    };
    let (server, addr) = start::<R, _, _>(config, default_service());
    let evicted = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&evicted);
    server.on_event(move |e| {
        if let ConnectionEvent::Disconnected {
            client,
            reason: DisconnectReason::Evicted,
        } = e
        {
            seen.lock().unwrap().push(*client);
        }
    });
    let mut idle = RawClient::connect(addr);
    idle.read_holding(0, 1).unwrap();
    thread::sleep(Duration::from_millis(50));
    let mut busy = RawClient::connect(addr);
    busy.read_holding(0, 1).unwrap();
    thread::sleep(Duration::from_millis(50));
    busy.read_holding(0, 1).unwrap();
    let mut newcomer = RawClient::connect(addr);
    assert_eq!(newcomer.read_holding(0, 1).unwrap(), [0], "newcomer served");
    assert!(
        idle.closed_within(Duration::from_secs(2)),
        "idle connection evicted"
    );
    assert_eq!(
        *evicted.lock().unwrap(),
        [idle.stream.local_addr().unwrap()]
    );
    busy.read_holding(0, 1).unwrap();
    newcomer.read_holding(0, 1).unwrap();
    assert_eq!(server.connection_count(), 2);
    server.stop();
}

fn short_timeouts(idle: Duration, frame: Duration) -> ServerConfig {
    ServerConfig {
        engine: EngineConfig {
            idle_timeout: Some(idle),
            frame_timeout: Some(frame),
        },
        ..loopback_config()
    }
}

/// A connection that sends nothing is closed after the idle timeout, not before.
fn idle_connection_is_dropped<R: Runtime>() {
    let config = short_timeouts(Duration::from_millis(400), Duration::from_secs(10));
    let (server, addr) = start::<R, _, _>(config, default_service());
    let mut client = RawClient::connect(addr);
    // Activity keeps it open past the timeout.
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(150));
        client.read_holding(0, 1).unwrap();
    }
    let began = Instant::now();
    assert!(
        !client.closed_within(Duration::from_millis(200)),
        "not before the timeout"
    );
    assert!(
        client.closed_within(Duration::from_secs(2)),
        "closed when idle"
    );
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");
    server.stop();
}

/// A client that stops in the middle of a frame is dropped after the frame
/// timeout, although the idle timeout is long.
fn client_stalled_mid_frame_is_dropped<R: Runtime>() {
    let config = short_timeouts(Duration::from_secs(60), Duration::from_millis(300));
    let (server, addr) = start::<R, _, _>(config, default_service());
    let mut stalled = RawClient::connect(addr);
    let mut healthy = RawClient::connect(addr);
    let frame = mbap_frame(9, 1, &[0x03, 0, 0, 0, 1]);
    stalled.stream.write_all(&frame[..9]).unwrap();
    let began = Instant::now();
    assert!(
        stalled.closed_within(Duration::from_secs(3)),
        "stalled client dropped"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "after {:?}",
        began.elapsed()
    );
    healthy.read_holding(0, 1).unwrap();
    server.stop();
}

/// What the change callbacks saw: (table, address, from, to, session).
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Coils(u16, Vec<bool>, Vec<bool>, SessionInfo<'static>),
    Registers(u16, Vec<u16>, Vec<u16>, SessionInfo<'static>),
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Change>>>);

impl ChangeCallbacks for Recorder {
    fn on_coils_change(
        &mut self,
        address: u16,
        from: &[bool],
        to: &[bool],
        srv_info: &SessionInfo,
    ) {
        let change = Change::Coils(address, from.to_vec(), to.to_vec(), srv_info.detached());
        self.0.lock().unwrap().push(change);
    }

    fn on_holding_registers_change(
        &mut self,
        address: u16,
        from: &[u16],
        to: &[u16],
        srv_info: &SessionInfo,
    ) {
        let change = Change::Registers(address, from.to_vec(), to.to_vec(), srv_info.detached());
        self.0.lock().unwrap().push(change);
    }
}

/// Callbacks fire for client writes, with the client's address, unit id and
/// transaction id; not for the application's own writes.
fn change_callbacks_see_the_client<R: Runtime>() {
    let recorder = Recorder::default();
    let bank = DataBank::with_callbacks(HeapStorage::with_defaults(), recorder.clone());
    let (server, addr) = start::<R, _, _>(loopback_config(), Service::new(bank));
    server
        .with_data_bank(|bank| bank.set_holding_registers(10, &[5, 6, 7]))
        .unwrap();
    let mut client = RawClient::connect(addr);
    let client_addr = client.stream.local_addr().unwrap();
    let tid = 0x4242;
    client
        .stream
        .write_all(&mbap_frame(tid, 9, &fc16(10, &[5, 60, 70])))
        .unwrap();
    let (_, pdu) = read_frame(&mut client.stream).unwrap();
    assert_eq!(pdu, fc16(10, &[5, 60, 70])[..5]);
    client
        .stream
        .write_all(&mbap_frame(tid + 1, 9, &[0x05, 0, 4, 0xFF, 0]))
        .unwrap();
    read_frame(&mut client.stream).unwrap();

    let changes = recorder.0.lock().unwrap().clone();
    assert_eq!(changes.len(), 2, "{changes:?}");
    match &changes[0] {
        Change::Registers(address, from, to, info) => {
            assert_eq!(
                (*address, from.as_slice(), to.as_slice()),
                (11, &[6, 7][..], &[60, 70][..])
            );
            assert_eq!(info.client_addr, Some(client_addr));
            assert_eq!((info.unit_id, info.transaction_id), (9, tid));
        }
        other => panic!("expected a register change, got {other:?}"),
    }
    match &changes[1] {
        Change::Coils(address, from, to, info) => {
            assert_eq!(
                (*address, from.as_slice(), to.as_slice()),
                (4, &[false][..], &[true][..])
            );
            assert_eq!(info.client_addr, Some(client_addr));
            assert_eq!(info.transaction_id, tid + 1);
        }
        other => panic!("expected a coil change, got {other:?}"),
    }
    server.stop();
}

/// Writers write runs of equal values with FC 16 (and FC 23); readers must
/// never see a run that mixes two writes.
fn concurrent_writers_never_tear_reads<R: Runtime>() {
    const REGS: u16 = 100;
    const WRITES: u16 = 150;
    const READS: usize = 200;
    let (server, addr) = start::<R, _, _>(loopback_config(), default_service());
    let mut threads = Vec::new();
    for writer in 0..3u16 {
        threads.push(thread::spawn(move || {
            let mut client = RawClient::connect(addr);
            for i in 0..WRITES {
                let value = writer * 1000 + i + 1;
                client
                    .write_holding(0, &vec![value; usize::from(REGS)])
                    .unwrap();
            }
        }));
    }
    let torn = Arc::new(AtomicBool::new(false));
    for reader in 0..3 {
        let torn = Arc::clone(&torn);
        threads.push(thread::spawn(move || {
            let mut client = RawClient::connect(addr);
            for n in 0..READS {
                let words = if reader == 0 && n % 2 == 1 {
                    // FC 23: write an unrelated register, read the run.
                    let mut pdu = vec![0x17, 0, 0, 0, REGS as u8, 0x10, 0, 0, 1, 2, 0, 1];
                    pdu[1..3].copy_from_slice(&0u16.to_be_bytes());
                    words_of(&client.request(&pdu).unwrap(), 0x17, REGS)
                } else {
                    client.read_holding(0, REGS).unwrap()
                };
                if words.iter().any(|&w| w != words[0]) {
                    torn.store(true, Ordering::Relaxed);
                    panic!("torn read: {words:?}");
                }
            }
        }));
    }
    for t in threads {
        t.join().expect("client thread");
    }
    assert!(!torn.load(Ordering::Relaxed));
    server.stop();
}

/// The application updates the data bank from its own thread while clients
/// read: every read sees one whole update, and updates never go backwards.
fn application_writes_while_clients_read<R: Runtime>() {
    const REGS: usize = 120;
    let (server, addr) = start::<R, _, _>(loopback_config(), default_service());
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let server = server.clone();
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut k = 0u16;
            while !done.load(Ordering::Relaxed) && k < 60_000 {
                k += 1;
                server
                    .with_data_bank(|bank| bank.set_input_registers(0, &[k; REGS]))
                    .unwrap();
            }
            k
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                let mut client = RawClient::connect(addr);
                let mut last = 0;
                for _ in 0..300 {
                    let words = client.read_input(0, REGS as u16).unwrap();
                    assert!(words.iter().all(|&w| w == words[0]), "torn: {words:?}");
                    assert!(
                        words[0] >= last,
                        "went backwards: {} after {last}",
                        words[0]
                    );
                    last = words[0];
                }
                last
            })
        })
        .collect();
    let seen: Vec<u16> = readers.into_iter().map(|t| t.join().unwrap()).collect();
    done.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        seen.iter().all(|&s| s > 0 && s <= written),
        "seen {seen:?}, written {written}"
    );
    server.stop();
}

/// Panics when a client reads holding register 666.
struct Panicky;

impl DataHandler for Panicky {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if address == 666 {
            panic!("handler bug (expected by the test)");
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

/// A panicking handler closes its own connection only; the data stays
/// usable, other clients and new clients are served.
fn panicking_handler_closes_only_its_connection<R: Runtime>() {
    let mut service = Service::with_handler(DataBank::default(), Panicky);
    service.data_bank.set_holding_registers(0, &[7, 8]).unwrap();
    let (server, addr) = start::<R, _, _>(loopback_config(), service);
    let panicked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&panicked);
    server.on_event(move |e| {
        if let ConnectionEvent::Disconnected {
            client,
            reason: DisconnectReason::HandlerPanicked,
        } = e
        {
            seen.lock().unwrap().push(*client);
        }
    });
    let mut bystander = RawClient::connect(addr);
    bystander.read_holding(0, 2).unwrap();
    let mut culprit = RawClient::connect(addr);
    let culprit_addr = culprit.stream.local_addr().unwrap();
    culprit
        .stream
        .write_all(&mbap_frame(1, 1, &[0x03, 0x02, 0x9A, 0, 1]))
        .unwrap();
    assert!(
        culprit.closed_within(Duration::from_secs(3)),
        "culprit's connection closed"
    );
    assert_eq!(bystander.read_holding(0, 2).unwrap(), [7, 8]);
    bystander.write_holding(1, &[9]).unwrap();
    assert_eq!(RawClient::connect(addr).read_holding(0, 2).unwrap(), [7, 9]);
    assert!(server.is_run());
    let deadline = Instant::now() + Duration::from_secs(2);
    while panicked.lock().unwrap().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(*panicked.lock().unwrap(), [culprit_addr]);
    server.stop();
}

/// Garbage connections (random bytes, bad protocol ids, bad lengths, half
/// frames) come and go while a healthy client keeps getting right answers.
fn garbage_flood_does_not_disturb_a_healthy_client<R: Runtime>() {
    let config = short_timeouts(Duration::from_secs(5), Duration::from_millis(500));
    let mut service = default_service();
    let expected: Vec<u16> = (0..50).map(|i| i * 3 + 1).collect();
    service
        .data_bank
        .set_holding_registers(100, &expected)
        .unwrap();
    let (server, addr) = start::<R, _, _>(config, service);
    let stop = Arc::new(AtomicBool::new(false));
    let healthy = {
        let stop = Arc::clone(&stop);
        let expected = expected.clone();
        thread::spawn(move || {
            let mut client = RawClient::connect(addr);
            let mut answered = 0u32;
            while !stop.load(Ordering::Relaxed) && answered < 100_000 {
                assert_eq!(client.read_holding(100, 50).unwrap(), expected);
                answered += 1;
            }
            answered
        })
    };
    let flooders: Vec<_> = (0..4u64)
        .map(|seed| {
            thread::spawn(move || {
                let mut rng = Rng::new(0x5EED_0000 + seed);
                let mut hanging = Vec::new();
                for n in 0..40 {
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) else {
                        continue;
                    };
                    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                    let bytes = match n % 4 {
                        0 => {
                            let mut b = vec![0u8; 1 + rng.below(600) as usize];
                            rng.fill(&mut b);
                            b
                        }
                        1 => {
                            let mut f = mbap_frame(1, 1, &[0x03, 0, 0, 0, 1]);
                            f[2] = 1 + rng.below(255) as u8; // protocol id != 0
                            f
                        }
                        2 => {
                            let mut f = mbap_frame(1, 1, &[0x03, 0, 0, 0, 1]);
                            f[4..6].copy_from_slice(&[0xFF, 0xFF]); // impossible length
                            f
                        }
                        _ => {
                            let f = mbap_frame(1, 1, &fc16(0, &[1, 2, 3]));
                            f[..1 + rng.below(f.len() as u64 - 1) as usize].to_vec()
                        }
                    };
                    let _ = s.write_all(&bytes);
                    if n % 8 == 3 {
                        // Leave some half frames hanging: the server must drop them.
                        hanging.push(s);
                    }
                }
                hanging
            })
        })
        .collect();
    let mut hanging: Vec<TcpStream> = flooders
        .into_iter()
        .flat_map(|f| f.join().expect("flooder"))
        .collect();
    assert_eq!(hanging.len(), 20);
    // The stalled clients keep their sockets open: the server must close
    // them (frame timeout 500 ms), and then only the healthy client is left.
    let flood_end = Instant::now();
    for s in &mut hanging {
        let left = Duration::from_secs(3).saturating_sub(flood_end.elapsed());
        assert!(
            closed_within(s, left),
            "stalled client closed by the server"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.connection_count() > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.connection_count(),
        1,
        "only the healthy client is left"
    );
    stop.store(true, Ordering::Relaxed);
    let answered = healthy
        .join()
        .expect("healthy client saw only right answers");
    assert!(answered > 0);
    assert!(server.is_run());
    assert_eq!(
        RawClient::connect(addr).read_holding(100, 50).unwrap(),
        expected
    );
    server.stop();
}

/// Without `no_block`, `start()` serves on the calling thread until `stop()`.
fn blocking_start_serves_until_stop<R: Runtime>() {
    let config = ServerConfig {
        no_block: false,
        ..loopback_config()
    };
    let server = ModbusServer::<R, _, _>::new(config, default_service());
    let serving = server.clone();
    let thread = thread::spawn(move || serving.start());
    let deadline = Instant::now() + Duration::from_secs(5);
    let addr = loop {
        if let Some(addr) = server.local_addr() {
            break addr;
        }
        assert!(Instant::now() < deadline, "server did not start");
        thread::sleep(Duration::from_millis(5));
    };
    let mut client = RawClient::connect(addr);
    client.write_holding(0, &[77]).unwrap();
    assert_eq!(client.read_holding(0, 1).unwrap(), [77]);
    assert!(!thread.is_finished(), "start() blocks while serving");
    server.stop();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !thread.is_finished() {
        assert!(
            Instant::now() < deadline,
            "start() did not return after stop()"
        );
        thread::sleep(Duration::from_millis(5));
    }
    thread
        .join()
        .unwrap()
        .expect("start() returns Ok after stop()");
    assert!(client.closed_within(Duration::from_secs(1)));
}

/// Bind, resolve and configuration errors come back from `start()`.
fn start_reports_errors<R: Runtime>() {
    let (running, addr) = start::<R, _, _>(loopback_config(), default_service());
    assert!(matches!(running.start(), Err(ServerError::AlreadyRunning)));

    let taken = ServerConfig {
        port: addr.port(),
        ..loopback_config()
    };
    let second = ModbusServer::<R, _, _>::new(taken, default_service());
    match second.start() {
        Err(ServerError::Bind {
            addr: tried,
            source,
        }) => {
            assert_eq!(tried, addr);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    assert!(!second.is_run());

    let nowhere = ServerConfig {
        host: "no.such.host.invalid".into(),
        ..loopback_config()
    };
    let server = ModbusServer::<R, _, _>::new(nowhere, default_service());
    assert!(matches!(server.start(), Err(ServerError::Resolve { .. })));

    let zero = ServerConfig {
        max_connections: 0,
        ..loopback_config()
    };
    let server = ModbusServer::<R, _, _>::new(zero, default_service());
    assert!(matches!(
        server.start(),
        Err(ServerError::InvalidConfig { .. })
    ));
    assert!(!server.is_run());

    // The running server was not disturbed.
    assert_eq!(RawClient::connect(addr).read_holding(0, 1).unwrap(), [0]);
    running.stop();
}

/// A runtime whose preparation fails: it cannot run tasks.
struct Unready;

impl Runtime for Unready {
    type Listener = <modbus_device::runtimes::smol::Smol as Runtime>::Listener;

    fn prepare() -> Result<(), ServerError> {
        Err(ServerError::Runtime {
            what: "the test runtime has no threads",
            source: std::io::Error::other("refused by the test"),
        })
    }

    fn spawn(_future: impl core::future::Future<Output = ()> + Send + 'static) {
        panic!("a task was spawned on a runtime that failed to prepare");
    }

    fn sleep_until(deadline: Instant) -> impl core::future::Future<Output = ()> + Send {
        <modbus_device::runtimes::smol::Smol as Runtime>::sleep_until(deadline)
    }

    fn block_on<T>(future: impl core::future::Future<Output = T>) -> T {
        <modbus_device::runtimes::smol::Smol as Runtime>::block_on(future)
    }
}

/// `start()` fails with the runtime's error before binding, so no client
/// can connect to a server that nothing would serve.
#[test]
fn start_fails_when_the_runtime_cannot_run_tasks() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for no_block in [true, false] {
        let config = ServerConfig {
            port,
            no_block,
            ..loopback_config()
        };
        let server = ModbusServer::<Unready, _, _>::new(config, default_service());
        match server.start() {
            Err(e @ ServerError::Runtime { .. }) => {
                assert!(e.to_string().contains("no threads"), "{e}");
                assert!(std::error::Error::source(&e).is_some());
            }
            other => panic!("expected ServerError::Runtime, got {other:?}"),
        }
        assert!(!server.is_run());
        assert_eq!(server.local_addr(), None);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
            "nothing listens"
        );
    }
}
