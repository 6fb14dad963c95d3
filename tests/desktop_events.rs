//! Connection events of the desktop server when a connection's end races
//! `stop()` or an eviction: every admitted connection is reported
//! `Disconnected` exactly once, and none serves on after `stop()`.
//!
//! The races are made deterministic by parking the connection's task (or
//! the accept loop) inside user code at the right moment: a handler that
//! waits on a gate keeps a task mid-poll, where an abort cannot reach it;
//! an event hook that waits keeps the accept loop inside `admit`. Every
//! wait is bounded. Each test runs once per runtime.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::runtimes::{
    ConnectionEvent, DisconnectReason, LimitPolicy, ModbusServer, Runtime, ServerConfig,
    ServerError,
};
use modbus_device::{
    Bank, DataBank, DataHandler, ExceptionCode, HeapStorage, Service, SessionInfo,
};

all_runtimes!(
    stop_racing_a_connection_that_ends_reports_it_once,
    eviction_racing_a_connection_that_ends_reports_it_once,
    stop_while_admitting_leaves_no_connection_serving,
);

/// Longest any step waits for another thread.
const STEP: Duration = Duration::from_secs(5);
/// How long a test waits for events that must not come.
const SETTLE: Duration = Duration::from_millis(300);

/// The holding register whose read waits at the gate.
const GATED: u16 = 777;

/// A handler that holds a read of [`GATED`] until the test opens the gate.
struct Gate {
    entered: Sender<()>,
    release: Receiver<()>,
}

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
            let _ = self.release.recv_timeout(STEP);
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

/// A service with a gated handler, and the test's ends of the gate.
fn gated_service() -> (
    Service<DataBank<HeapStorage>, Gate>,
    Receiver<()>,
    Sender<()>,
) {
    let (entered, entered_rx) = mpsc::channel();
    let (release_tx, release) = mpsc::channel();
    let gate = Gate { entered, release };
    (
        Service::with_handler(DataBank::default(), gate),
        entered_rx,
        release_tx,
    )
}

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

/// Starts `server` blocking, on its own thread: the accept loop then runs
/// there, not on the executor a gated handler may hold (smol runs one
/// executor thread on a 2-core machine). Returns the thread and the address.
fn start_on_a_thread<R, H>(
    server: &ModbusServer<R, DataBank<HeapStorage>, H>,
) -> (JoinHandle<Result<(), ServerError>>, SocketAddr)
where
    R: Runtime,
    H: DataHandler + Send + 'static,
{
    server.configure(|c| c.no_block = false);
    let serving = server.clone();
    let thread = thread::spawn(move || serving.start());
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(addr) = server.local_addr() {
            return (thread, addr);
        }
        assert!(Instant::now() < deadline, "server did not start");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Waits (bounded) until `events` holds one that `pred` accepts.
fn wait_for(events: &Events, what: &str, pred: impl Fn(&ConnectionEvent) -> bool) {
    let deadline = Instant::now() + STEP;
    while !events.lock().unwrap().iter().any(&pred) {
        assert!(Instant::now() < deadline, "no event: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// The reasons `client` was reported disconnected for, in order.
fn disconnects(events: &Events, client: SocketAddr) -> Vec<DisconnectReason> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ConnectionEvent::Disconnected { client: c, reason } if *c == client => {
                Some(reason.clone())
            }
            _ => None,
        })
        .collect()
}

/// Every connected client was reported disconnected exactly once.
fn assert_each_connection_ends_once(events: &Events) {
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
        if let ConnectionEvent::Disconnected { client, .. } = e {
            assert!(
                connected.contains(client),
                "{client} never connected: {events:?}"
            );
        }
    }
}

/// Sends a read of [`GATED`] without waiting for the answer.
fn send_gated_read(client: &mut RawClient) {
    let request = mbap_frame(1, 1, &[0x03, (GATED >> 8) as u8, GATED as u8, 0, 1]);
    client.stream.write_all(&request).unwrap();
}

/// `stop()` removes a connection whose task is mid-poll and then ends by
/// itself (its client is gone, its socket shut down): reported once, as
/// stopped. Also a client that left before and one still idle at `stop()`.
fn stop_racing_a_connection_that_ends_reports_it_once<R: Runtime>() {
    let (service, entered, release) = gated_service();
    let server = ModbusServer::<R, _, _>::new(loopback_config(), service);
    let events = record(&server);
    let (serving, addr) = start_on_a_thread(&server);

    let mut idle = RawClient::connect(addr);
    idle.read_holding(0, 1).unwrap();
    let idle_addr = idle.stream.local_addr().unwrap();
    let mut leaver = RawClient::connect(addr);
    leaver.read_holding(0, 1).unwrap();
    let leaver_addr = leaver.stream.local_addr().unwrap();
    drop(leaver);
    wait_for(
        &events,
        "the leaver's disconnect",
        |e| matches!(e, ConnectionEvent::Disconnected { client, .. } if *client == leaver_addr),
    );

    let mut racer = RawClient::connect(addr);
    let racer_addr = racer.stream.local_addr().unwrap();
    send_gated_read(&mut racer);
    entered.recv_timeout(STEP).expect("handler reached");
    // The client goes away too: whatever the task does next, it ends.
    drop(racer);
    server.stop();
    release.send(()).unwrap();
    thread::sleep(SETTLE);
    serving
        .join()
        .unwrap()
        .expect("start() returns Ok after stop()");

    assert_eq!(
        disconnects(&events, leaver_addr),
        [DisconnectReason::PeerClosed]
    );
    assert_eq!(
        disconnects(&events, idle_addr),
        [DisconnectReason::ServerStopped]
    );
    assert_eq!(
        disconnects(&events, racer_addr),
        [DisconnectReason::ServerStopped]
    );
    assert_each_connection_ends_once(&events);
    assert!(idle.closed_within(Duration::from_secs(1)));
}

/// An eviction removes a connection whose task is mid-poll and then ends by
/// itself: reported once, as evicted.
fn eviction_racing_a_connection_that_ends_reports_it_once<R: Runtime>() {
    let (service, entered, release) = gated_service();
    let config = ServerConfig {
        max_connections: 1,
        on_limit: LimitPolicy::EvictLeastActive,
        ..loopback_config()
    };
    let server = ModbusServer::<R, _, _>::new(config, service);
    let events = record(&server);
    let (serving, addr) = start_on_a_thread(&server);

    let mut racer = RawClient::connect(addr);
    let racer_addr = racer.stream.local_addr().unwrap();
    send_gated_read(&mut racer);
    entered.recv_timeout(STEP).expect("handler reached");
    // The only connection, so the least active one: the newcomer evicts it.
    let mut newcomer = RawClient::connect(addr);
    let newcomer_addr = newcomer.stream.local_addr().unwrap();
    wait_for(
        &events,
        "the eviction",
        |e| matches!(e, ConnectionEvent::Disconnected { client, .. } if *client == racer_addr),
    );
    release.send(()).unwrap();
    // Served once the gated handler has let go of the service.
    assert_eq!(newcomer.read_holding(0, 1).unwrap(), [0]);
    assert!(racer.closed_within(Duration::from_secs(1)));
    thread::sleep(SETTLE);
    assert_eq!(server.connection_count(), 1);
    server.stop();
    serving
        .join()
        .unwrap()
        .expect("start() returns Ok after stop()");

    assert_eq!(
        disconnects(&events, racer_addr),
        [DisconnectReason::Evicted]
    );
    assert_eq!(
        disconnects(&events, newcomer_addr),
        [DisconnectReason::ServerStopped]
    );
    assert_each_connection_ends_once(&events);
}

/// `stop()` while the accept loop is admitting a connection (held inside
/// the eviction's event hook): that connection is closed, not left serving
/// after `stop()`, and the events stay paired.
fn stop_while_admitting_leaves_no_connection_serving<R: Runtime>() {
    let config = ServerConfig {
        max_connections: 2,
        on_limit: LimitPolicy::EvictLeastActive,
        ..loopback_config()
    };
    let server = ModbusServer::<R, _, _>::new(config, Service::new(DataBank::default()));
    let events = Events::default();
    let (evicting, evicting_rx) = mpsc::channel();
    let (stopping, stopping_rx) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel::<()>();
    // Not one lock for all: stop() reports on its own thread while the
    // accept loop waits here.
    let resume_rx = Mutex::new(resume_rx);
    let seen = Arc::clone(&events);
    server.on_event(move |e| {
        seen.lock().unwrap().push(e.clone());
        match e {
            ConnectionEvent::Disconnected {
                reason: DisconnectReason::Evicted,
                ..
            } => {
                let _ = evicting.send(());
                // Holds the accept loop inside `admit` until stop() has
                // drained the registry. Bounded.
                let _ = resume_rx.lock().unwrap().recv_timeout(STEP);
            }
            ConnectionEvent::Disconnected {
                reason: DisconnectReason::ServerStopped,
                ..
            } => {
                let _ = stopping.send(());
            }
            _ => {}
        }
    });
    let (serving, addr) = start_on_a_thread(&server);

    let mut oldest = RawClient::connect(addr);
    oldest.read_holding(0, 1).unwrap();
    thread::sleep(Duration::from_millis(20));
    let mut busy = RawClient::connect(addr);
    busy.read_holding(0, 1).unwrap();
    let mut late = RawClient::connect(addr);
    evicting_rx.recv_timeout(STEP).expect("eviction reported");
    let stopper = {
        let server = server.clone();
        thread::spawn(move || server.stop())
    };
    // `busy` is drained and reported: stop() is past the registry.
    stopping_rx.recv_timeout(STEP).expect("stop() reports busy");
    resume.send(()).unwrap();
    stopper.join().unwrap();
    serving
        .join()
        .unwrap()
        .expect("start() returns Ok after stop()");

    assert!(
        late.closed_within(Duration::from_secs(2)),
        "a connection admitted during stop() serves on"
    );
    assert!(oldest.closed_within(Duration::from_secs(1)));
    assert!(busy.closed_within(Duration::from_secs(1)));
    assert_eq!(server.connection_count(), 0);
    thread::sleep(SETTLE);
    assert_each_connection_ends_once(&events);
}
