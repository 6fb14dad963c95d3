//! Admission of the desktop server under hostile load: one address cannot
//! hold every slot, eviction spares the connections that do useful work,
//! and slots of clients that have already left are given back before
//! anyone is refused. Every test checks that each admitted connection is
//! reported `Disconnected` exactly once. Loopback only (127.0.0.2 is a
//! second source address on Linux's loopback); every wait is bounded; each
//! test runs once per runtime.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::runtimes::{
    ConnectionEvent, DisconnectReason, LimitPolicy, ModbusServer, Runtime, ServerConfig,
};
use modbus_device::{
    Bank, DataBank, DataHandler, ExceptionCode, HeapStorage, Service, SessionInfo,
};

all_runtimes!(
    per_ip_limit_refuses_one_address_and_admits_another,
    slow_drippers_cannot_lock_out_another_address,
    eviction_spares_the_answered_poller_and_takes_a_dripper,
    slots_of_clients_that_left_are_released_before_refusing,
);

/// Longest any step waits for another thread.
const STEP: Duration = Duration::from_secs(5);
/// One byte of a dripping request per this long.
const DRIP: Duration = Duration::from_millis(100);
/// The second source address on loopback.
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

type Events = Arc<Mutex<Vec<ConnectionEvent>>>;

/// Records every event of `server`.
fn record<R: Runtime, H: DataHandler + Send + 'static>(
    server: &ModbusServer<R, DataBank<HeapStorage>, H>,
) -> Events {
    let events = Events::default();
    let seen = Arc::clone(&events);
    server.on_event(move |e| seen.lock().unwrap().push(e.clone()));
    events
}

/// Waits (bounded) until `events` holds one that `pred` accepts.
fn wait_for(events: &Events, what: &str, pred: impl Fn(&ConnectionEvent) -> bool) {
    let deadline = Instant::now() + STEP;
    while !events.lock().unwrap().iter().any(&pred) {
        assert!(Instant::now() < deadline, "no event: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// The clients reported with `reason`.
fn disconnected_for(events: &Events, reason: &DisconnectReason) -> Vec<SocketAddr> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ConnectionEvent::Disconnected { client, reason: r } if r == reason => Some(*client),
            _ => None,
        })
        .collect()
}

/// The clients reported refused.
fn refused(events: &Events) -> Vec<SocketAddr> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ConnectionEvent::Refused { client } => Some(*client),
            _ => None,
        })
        .collect()
}

/// Every connected client was reported disconnected exactly once, and no
/// refused one connected or disconnected. Call after `stop()`.
fn assert_each_connection_ends_once(events: &Events) {
    // A connection whose task ended by itself just before `stop()` is
    // reported by that task, which may emit after `stop()` has returned:
    // wait (bounded) until every connected client has an end, then count.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !every_connection_has_ended(&events.lock().unwrap()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let events = events.lock().unwrap().clone();
    let connected: Vec<SocketAddr> = events
        .iter()
        .filter_map(|e| match e {
            ConnectionEvent::Connected { client } => Some(*client),
            _ => None,
        })
        .collect();
    for client in &connected {
        let ends = events
            .iter()
            .filter(|e| matches!(e, ConnectionEvent::Disconnected { client: c, .. } if c == client))
            .count();
        assert_eq!(ends, 1, "{client} disconnected {ends} times: {events:?}");
    }
    for e in &events {
        match e {
            ConnectionEvent::Disconnected { client, .. } => assert!(
                connected.contains(client),
                "{client} never connected: {events:?}"
            ),
            ConnectionEvent::Refused { client } => assert!(
                !connected.contains(client),
                "{client} refused and connected: {events:?}"
            ),
            _ => {}
        }
    }
}

/// True when each client reported connected has a `Disconnected` event.
fn every_connection_has_ended(events: &[ConnectionEvent]) -> bool {
    events.iter().all(|e| match e {
        ConnectionEvent::Connected { client } => events
            .iter()
            .any(|d| matches!(d, ConnectionEvent::Disconnected { client: c, .. } if c == client)),
        _ => true,
    })
}

/// A loopback config with both limits and the policy.
fn limits(max: usize, per_ip: usize, on_limit: LimitPolicy) -> ServerConfig {
    ServerConfig {
        max_connections: max,
        max_connections_per_ip: per_ip,
        on_limit,
        ..loopback_config()
    }
}

/// A [`RawClient`] connected from `source` (port chosen by the system).
fn client_from(source: IpAddr, addr: SocketAddr) -> RawClient {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind the client to its source address");
    socket
        .connect_timeout(&addr.into(), IO_TIMEOUT)
        .expect("connect");
    RawClient::from_stream(socket.into())
}

/// Waits (bounded) until the server holds `n` connections.
fn wait_for_count<R: Runtime, H: DataHandler + Send + 'static>(
    server: &ModbusServer<R, DataBank<HeapStorage>, H>,
    n: usize,
) {
    let deadline = Instant::now() + STEP;
    while server.connection_count() != n {
        assert!(
            Instant::now() < deadline,
            "{} connections, not {n}",
            server.connection_count()
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Connections that each send one byte of a valid FC 3 request every
/// [`DRIP`], on a thread of their own: a request completes every 1.2 s,
/// inside the frame timeout, so they never go idle.
struct Drippers {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Dripped>>,
}

/// What one dripping connection saw.
struct Dripped {
    local: SocketAddr,
    /// Response bytes it received.
    answered: usize,
    /// Whether the server closed it.
    closed: bool,
}

impl Drippers {
    /// `n` connections from 127.0.0.1 to `addr`, connected before this returns.
    fn start(addr: SocketAddr, n: usize) -> Drippers {
        let streams: Vec<TcpStream> = (0..n)
            .map(|_| {
                let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
                stream.set_nodelay(true).unwrap();
                stream.set_nonblocking(true).unwrap();
                stream
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || drip(streams, &stopping));
        Drippers { stop, thread }
    }

    fn stop(self) -> Vec<Dripped> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the dripping thread")
    }
}

fn drip(streams: Vec<TcpStream>, stop: &AtomicBool) -> Vec<Dripped> {
    let frame = mbap_frame(1, 1, &[0x03, 0, 0, 0, 1]);
    let mut conns: Vec<(TcpStream, Dripped, usize)> = streams
        .into_iter()
        .map(|s| {
            let local = s.local_addr().unwrap();
            let seen = Dripped {
                local,
                answered: 0,
                closed: false,
            };
            (s, seen, 0)
        })
        .collect();
    let mut buf = [0u8; 256];
    // Bounded even if the test never stops it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        for (stream, seen, pos) in conns.iter_mut().filter(|c| !c.1.closed) {
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => seen.closed = true,
                    Ok(n) => {
                        seen.answered += n;
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => seen.closed = true,
                }
                break;
            }
            if seen.closed {
                continue;
            }
            match stream.write(&frame[*pos..=*pos]) {
                Ok(1) => *pos = (*pos + 1) % frame.len(),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                _ => seen.closed = true,
            }
        }
        thread::sleep(DRIP);
    }
    conns.into_iter().map(|(_, seen, _)| seen).collect()
}

/// With 8 connections per address at most (32 in all), a 9th from
/// 127.0.0.1 is refused while a client from 127.0.0.2 is admitted and
/// served, and the first 8 keep being served.
fn per_ip_limit_refuses_one_address_and_admits_another<R: Runtime>() {
    let config = limits(32, 8, LimitPolicy::Refuse);
    let server = ModbusServer::<R, _, _>::new(config, Service::new(DataBank::default()));
    let events = record(&server);
    server.start().unwrap();
    let addr = server.local_addr().unwrap();

    let mut held: Vec<RawClient> = (0..8).map(|_| RawClient::connect(addr)).collect();
    for client in &mut held {
        assert_eq!(client.read_holding(0, 1).unwrap(), [0]);
    }
    let mut beyond: Vec<RawClient> = (0..4).map(|_| RawClient::connect(addr)).collect();
    for client in &mut beyond {
        assert!(
            client.closed_within(STEP),
            "a 9th connection from 127.0.0.1 is refused"
        );
    }
    let mut other = client_from(OTHER, addr);
    assert_eq!(
        other.read_holding(0, 1).unwrap(),
        [0],
        "127.0.0.2 is served"
    );
    for client in &mut held {
        assert_eq!(client.read_holding(0, 1).unwrap(), [0]);
    }
    assert_eq!(server.connection_count(), 9);
    let mut refused_clients = refused(&events);
    refused_clients.sort();
    let mut beyond_addrs: Vec<SocketAddr> = beyond
        .iter()
        .map(|c| c.stream.local_addr().unwrap())
        .collect();
    beyond_addrs.sort();
    assert_eq!(refused_clients, beyond_addrs);
    server.stop();
    assert_each_connection_ends_once(&events);
}

/// 16 slow drippers from 127.0.0.1 against 16 slots: only 8 (the
/// per-address limit) are admitted, so a client from 127.0.0.2 is admitted
/// and answered, again and again, while they drip.
fn slow_drippers_cannot_lock_out_another_address<R: Runtime>() {
    let config = limits(16, 8, LimitPolicy::Refuse);
    let server = ModbusServer::<R, _, _>::new(config, Service::new(DataBank::default()));
    let events = record(&server);
    server.start().unwrap();
    let addr = server.local_addr().unwrap();

    let drippers = Drippers::start(addr, 16);
    wait_for_count(&server, 8);
    // Long enough for every admitted dripper to complete a request.
    thread::sleep(Duration::from_millis(1500));
    for _ in 0..3 {
        let mut other = client_from(OTHER, addr);
        assert_eq!(
            other.read_holding(0, 1).unwrap(),
            [0],
            "127.0.0.2 is served"
        );
        assert_eq!(other.read_holding(0, 1).unwrap(), [0]);
    }
    let dripped = drippers.stop();
    let closed = dripped.iter().filter(|d| d.closed).count();
    assert_eq!(closed, 8, "the drippers beyond the per-address limit");
    assert!(
        dripped.iter().filter(|d| !d.closed).all(|d| d.answered > 0),
        "the admitted drippers are answered"
    );
    assert_eq!(refused(&events).len(), 8);
    server.stop();
    assert_each_connection_ends_once(&events);
}

/// 8 slots, evict policy: a poller answered every 100 ms and 7 drippers
/// (answered every 1.2 s) fill them. Newcomers from 127.0.0.2 each evict a
/// dripper, never the poller; the poller's last request is 250 ms old at
/// each newcomer, older than every dripper's last byte, so eviction by
/// input idleness would take the poller.
fn eviction_spares_the_answered_poller_and_takes_a_dripper<R: Runtime>() {
    let config = limits(8, 8, LimitPolicy::EvictLeastActive);
    let server = ModbusServer::<R, _, _>::new(config, Service::new(DataBank::default()));
    let events = record(&server);
    server.start().unwrap();
    let addr = server.local_addr().unwrap();

    let mut poller = RawClient::connect(addr);
    let poller_addr = poller.stream.local_addr().unwrap();
    assert_eq!(poller.read_holding(0, 1).unwrap(), [0]);
    let drippers = Drippers::start(addr, 7);
    wait_for_count(&server, 8);
    // Drippers complete requests meanwhile; the poller polls steadily.
    let until = Instant::now() + Duration::from_millis(2600);
    while Instant::now() < until {
        assert_eq!(poller.read_holding(0, 1).unwrap(), [0]);
        thread::sleep(Duration::from_millis(100));
    }
    let mut newcomers = Vec::new();
    for round in 1..=2 {
        assert_eq!(poller.read_holding(0, 1).unwrap(), [0]);
        thread::sleep(Duration::from_millis(250));
        let mut newcomer = client_from(OTHER, addr);
        assert_eq!(newcomer.read_holding(0, 1).unwrap(), [0], "newcomer served");
        let deadline = Instant::now() + STEP;
        while disconnected_for(&events, &DisconnectReason::Evicted).len() < round {
            assert!(
                Instant::now() < deadline,
                "no eviction for newcomer {round}"
            );
            thread::sleep(Duration::from_millis(2));
        }
        newcomers.push(newcomer);
    }
    assert_eq!(
        poller.read_holding(0, 1).unwrap(),
        [0],
        "the poller is still served"
    );
    let dripped = drippers.stop();
    let evicted = disconnected_for(&events, &DisconnectReason::Evicted);
    assert!(!evicted.contains(&poller_addr), "the poller was evicted");
    let dripper_addrs: Vec<SocketAddr> = dripped.iter().map(|d| d.local).collect();
    assert_eq!(evicted.len(), 2);
    assert!(evicted.iter().all(|a| dripper_addrs.contains(a)));
    server.stop();
    assert_each_connection_ends_once(&events);
}

/// A handler that holds a read of [`GATED`] until the test opens the gate.
struct Gate {
    entered: Sender<()>,
    release: Arc<Mutex<Receiver<()>>>,
}

/// The holding register whose read waits at the gate.
const GATED: u16 = 777;

impl DataHandler for Gate {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if address == GATED {
            let _ = self.entered.send(());
            // Bounded: a test that fails before opening the gate must not hang.
            let _ = self.release.lock().unwrap().recv_timeout(STEP);
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

/// 16 slots. Every executor thread is held (a handler waiting at a gate,
/// the other gated requests waiting for the service), so no connection
/// task runs, while the accept loop, on a thread of its own, admits a
/// burst of clients that connect and close at once until the server is
/// full. A fresh client is then admitted, not refused: the burst's slots
/// are released first. It is answered once the gate opens.
fn slots_of_clients_that_left_are_released_before_refusing<R: Runtime>() {
    let (entered, entered_rx) = mpsc::channel();
    let (release_tx, release) = mpsc::channel();
    let gate = Gate {
        entered,
        release: Arc::new(Mutex::new(release)),
    };
    let mut config = limits(16, 16, LimitPolicy::Refuse);
    config.no_block = false;
    let server =
        ModbusServer::<R, _, _>::new(config, Service::with_handler(DataBank::default(), gate));
    let events = record(&server);
    let serving = {
        let server = server.clone();
        thread::spawn(move || server.start())
    };
    let deadline = Instant::now() + STEP;
    let addr = loop {
        if let Some(addr) = server.local_addr() {
            break addr;
        }
        assert!(Instant::now() < deadline, "server did not start");
        thread::sleep(Duration::from_millis(2));
    };

    // More gated requests than executor threads: one waits in the handler,
    // the others for the service it holds.
    let holders = thread::available_parallelism().map_or(2, |n| n.get()) + 2;
    let holders = holders.min(8);
    let mut gated: Vec<TcpStream> = (0..holders)
        .map(|_| {
            let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
            stream
                .write_all(&mbap_frame(1, 1, &[0x03, 0x03, 0x09, 0, 1]))
                .unwrap();
            stream
        })
        .collect();
    entered_rx.recv_timeout(STEP).expect("handler reached");
    wait_for_count(&server, holders);
    thread::sleep(Duration::from_millis(100));
    for _ in holders..16 {
        drop(TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap());
    }
    wait_for_count(&server, 16);
    let mut fresh = RawClient::connect(addr);
    let fresh_addr = fresh.stream.local_addr().unwrap();
    wait_for(
        &events,
        "the fresh client admitted or refused",
        |e| matches!(e, ConnectionEvent::Connected { client } | ConnectionEvent::Refused { client } if *client == fresh_addr),
    );
    assert!(
        refused(&events).is_empty(),
        "refused: {:?}",
        refused(&events)
    );
    for _ in 0..holders {
        let _ = release_tx.send(());
    }
    assert_eq!(
        fresh.read_holding(0, 1).unwrap(),
        [0],
        "fresh client served"
    );
    for stream in &mut gated {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let (_, pdu) = read_frame(stream).unwrap();
        assert_eq!(pdu, [0x03, 2, 0, 0]);
    }
    assert_eq!(
        disconnected_for(&events, &DisconnectReason::PeerClosed).len(),
        16 - holders
    );
    server.stop();
    serving
        .join()
        .unwrap()
        .expect("start() returns Ok after stop()");
    assert_each_connection_ends_once(&events);
}
