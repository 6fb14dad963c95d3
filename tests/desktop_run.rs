//! The async entry (`run().await`, `run_until(shutdown)`) on every runtime
//! and on both tokio flavours, `start()` from inside a tokio runtime, and
//! `serve_connection` for streams the application accepted itself.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::runtimes::{
    ConnectionEvent, DisconnectReason, ModbusServer, Runtime, ServerConfig, ServerError,
};
use modbus_device::{
    Bank, DataBank, DataHandler, ExceptionCode, HeapStorage, Service, SessionInfo,
};

all_runtimes!(
    run_serves_until_stop_from_a_clone,
    run_until_a_shutdown_future,
    stop_lets_the_batch_in_progress_finish,
    stop_lets_the_batch_in_progress_finish_after_a_blocking_start,
);

type Server<R> = ModbusServer<R, DataBank<HeapStorage>>;
type Events = Arc<Mutex<Vec<ConnectionEvent>>>;

fn server<R: Runtime>() -> (Server<R>, Events) {
    let server = Server::<R>::new(loopback_config(), Service::new(DataBank::default()));
    let events = Events::default();
    let log = Arc::clone(&events);
    server.on_event(move |e| log.lock().unwrap().push(e.clone()));
    (server, events)
}

/// Waits (bounded) until `server` listens.
fn address_of<R: Runtime, H: DataHandler + Send + 'static>(
    server: &ModbusServer<R, DataBank<HeapStorage>, H>,
) -> SocketAddr {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Some(addr) = server.local_addr() {
            return addr;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        thread::sleep(Duration::from_millis(2));
    }
}

/// A client that is answered, then stays connected; `stop` is called
/// while it is open. Returns the client for the checks after the stop.
fn serve_one_client<R: Runtime>(server: &Server<R>) -> (RawClient, SocketAddr) {
    let addr = address_of(server);
    let mut client = RawClient::connect(addr);
    client.write_holding(0, &[7, 8]).unwrap();
    assert_eq!(client.read_holding(0, 2).unwrap(), [7, 8]);
    (client, addr)
}

/// After a stop: the open client was closed and reported once as
/// `ServerStopped`, and nothing listens.
fn assert_stopped(events: &Events, mut client: RawClient, addr: SocketAddr) {
    assert!(client.closed_within(IO_TIMEOUT), "the client is closed");
    let local = client.stream.local_addr().unwrap();
    let events = events.lock().unwrap();
    let ends: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ConnectionEvent::Disconnected { client, reason } if *client == local => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [&DisconnectReason::ServerStopped]);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "the listener is closed once run() returned"
    );
}

/// Runs `body` on a client thread while `serve` runs the server on this
/// one; `serve` must return once the client thread has stopped it.
fn with_client<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
    serve: impl FnOnce() -> Result<(), ServerError>,
) -> T {
    let client = thread::spawn(body);
    serve().expect("run() returns Ok once stopped");
    client.join().expect("the client thread")
}

/// `run().await` on the runtime's own `block_on` serves until `stop()` is
/// called from a clone on another thread, then returns `Ok` with the
/// listener closed and every connection reported.
fn run_serves_until_stop_from_a_clone<R: Runtime>() {
    let (server, events) = server::<R>();
    let remote = server.clone();
    let (client, addr) = with_client(
        move || {
            let (client, addr) = serve_one_client(&remote);
            remote.stop();
            (client, addr)
        },
        || R::block_on(server.run()),
    );
    assert!(!server.is_run());
    assert_stopped(&events, client, addr);
}

/// `run_until(shutdown)` stops when the shutdown future completes (a
/// channel here, as a Ctrl-C signal would).
fn run_until_a_shutdown_future<R: Runtime>() {
    let (server, events) = server::<R>();
    let remote = server.clone();
    let (shutdown, signal) = futures_channel();
    let (client, addr) = with_client(
        move || {
            let result = serve_one_client(&remote);
            shutdown.send(()).unwrap();
            result
        },
        || R::block_on(server.run_until(signal)),
    );
    assert!(!server.is_run());
    assert_stopped(&events, client, addr);
}

/// A one-shot signal usable on any runtime: a std channel polled through a
/// blocking-free future (a thread hands the value over).
fn futures_channel() -> (mpsc::Sender<()>, impl std::future::Future<Output = ()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    thread::spawn(move || {
        if rx.recv().is_ok() {
            let _ = done_tx.send(());
        }
    });
    (tx, async move {
        let _ = done_rx.await;
    })
}

fn tokio_runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().expect("a tokio runtime")
}

type TokioServer = modbus_device::runtimes::tokio::ModbusServer;

/// On an application's own tokio runtime, both flavours: `run()` serves
/// in the caller's task until `stop()` from a clone in another task.
fn tokio_run_stopped_from_a_task(multi_thread: bool) {
    let (server, events) = server::<modbus_device::runtimes::tokio::Tokio>();
    let remote = server.clone();
    let rt = tokio_runtime(multi_thread);
    let (client, addr) = rt.block_on(async move {
        let clients = tokio::task::spawn_blocking(move || {
            let result = serve_one_client(&remote);
            remote.stop();
            result
        });
        tokio::time::timeout(Duration::from_secs(20), server.run())
            .await
            .expect("run() returns once stopped")
            .expect("run() returns Ok");
        clients.await.expect("the client task")
    });
    assert_stopped(&events, client, addr);
}

#[test]
fn tokio_run_on_current_thread_runtime_stops_from_a_clone() {
    tokio_run_stopped_from_a_task(false);
}

#[test]
fn tokio_run_on_multi_thread_runtime_stops_from_a_clone() {
    tokio_run_stopped_from_a_task(true);
}

/// `run_until` a cancellation future (a oneshot channel) on both flavours.
fn tokio_run_until_cancelled(multi_thread: bool) {
    let (server, events) = server::<modbus_device::runtimes::tokio::Tokio>();
    let remote = server.clone();
    let rt = tokio_runtime(multi_thread);
    let (client, addr) = rt.block_on(async move {
        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let clients = tokio::task::spawn_blocking(move || {
            let result = serve_one_client(&remote);
            cancel.send(()).unwrap();
            result
        });
        let shutdown = async {
            let _ = cancelled.await;
        };
        tokio::time::timeout(Duration::from_secs(20), server.run_until(shutdown))
            .await
            .expect("run_until() returns once cancelled")
            .expect("run_until() returns Ok");
        assert!(!server.is_run());
        clients.await.expect("the client task")
    });
    assert_stopped(&events, client, addr);
}

#[test]
fn tokio_run_until_on_current_thread_runtime() {
    tokio_run_until_cancelled(false);
}

#[test]
fn tokio_run_until_on_multi_thread_runtime() {
    tokio_run_until_cancelled(true);
}

/// Bind errors come back from `run()` as `Err`, before anything serves.
#[test]
fn tokio_run_reports_bind_errors() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = ServerConfig {
        port: taken.local_addr().unwrap().port(),
        ..loopback_config()
    };
    let server = TokioServer::new(config, Service::new(DataBank::default()));
    let result = tokio_runtime(false).block_on(server.run());
    assert!(
        matches!(result, Err(ServerError::Bind { .. })),
        "{result:?}"
    );
    assert!(!server.is_run());
}

/// Inside a tokio runtime, a blocking `start()` is refused with a typed
/// error (tokio would panic on the nested `block_on`), while `no_block`
/// serves on that runtime, also a current-thread one, as long as it runs.
#[test]
fn tokio_start_inside_a_runtime() {
    for multi_thread in [false, true] {
        let rt = tokio_runtime(multi_thread);
        let server = TokioServer::new(
            ServerConfig {
                no_block: false,
                ..loopback_config()
            },
            Service::new(DataBank::default()),
        );
        rt.block_on(async {
            let refused = server.start();
            assert!(
                matches!(refused, Err(ServerError::BlockingInRuntime)),
                "{refused:?}"
            );
            assert!(refused.unwrap_err().to_string().contains("run().await"));
            assert!(!server.is_run());

            server.configure(|c| c.no_block = true);
            server.start().expect("no_block start inside a runtime");
            let addr = server.local_addr().unwrap();
            let answered = tokio::task::spawn_blocking(move || {
                RawClient::connect(addr).read_holding(0, 3).unwrap()
            });
            assert_eq!(answered.await.unwrap(), [0, 0, 0]);
            // stop() inside the runtime does not wait for the listener's task.
            server.stop();
        });
    }
}

/// `serve_connection` on tokio: streams the application accepted itself
/// share the service, the limits and the events, and `stop()` ends them,
/// also on a server that was never started.
#[test]
fn tokio_serve_connection_shares_service_limits_and_stop() {
    let config = ServerConfig {
        max_connections: 1,
        ..loopback_config()
    };
    let server = TokioServer::new(config, Service::new(DataBank::default()));
    server.with_data_bank(|bank| bank.set_holding_registers(4, &[44]).unwrap());
    let events = Events::default();
    let log = Arc::clone(&events);
    server.on_event(move |e| log.lock().unwrap().push(e.clone()));
    let rt = tokio_runtime(true);
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let first = thread::spawn(move || {
            let mut client = RawClient::connect(addr);
            assert_eq!(client.read_holding(4, 1).unwrap(), [44]);
            client
        });
        let (stream, peer) = listener.accept().await.unwrap();
        let serving = tokio::spawn({
            let server = server.clone();
            async move { server.serve_connection(stream, peer).await }
        });
        let first = tokio::task::spawn_blocking(move || first.join().unwrap())
            .await
            .unwrap();
        assert_eq!(server.connection_count(), 1);

        // Beyond max_connections: refused, and reported so.
        let second = thread::spawn(move || RawClient::connect(addr));
        let (stream, second_peer) = listener.accept().await.unwrap();
        assert_eq!(
            server.serve_connection(stream, second_peer).await,
            DisconnectReason::Refused
        );
        let mut second = tokio::task::spawn_blocking(move || second.join().unwrap())
            .await
            .unwrap();
        assert!(
            tokio::task::spawn_blocking(move || second.closed_within(IO_TIMEOUT))
                .await
                .unwrap()
        );

        server.stop();
        let reason = tokio::time::timeout(IO_TIMEOUT, serving)
            .await
            .expect("stop() ends the served connection")
            .unwrap();
        assert_eq!(reason, DisconnectReason::ServerStopped);
        let mut first = first;
        assert!(
            tokio::task::spawn_blocking(move || first.closed_within(IO_TIMEOUT))
                .await
                .unwrap()
        );
        let events = events.lock().unwrap();
        assert!(events.contains(&ConnectionEvent::Refused {
            client: second_peer
        }));
        assert!(events.contains(&ConnectionEvent::Disconnected {
            client: peer,
            reason: DisconnectReason::ServerStopped
        }));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, ConnectionEvent::Disconnected { .. }))
                .count(),
            1,
            "{events:?}"
        );
    });
}

/// `serve_connection` on smol with a `futures::io` stream: answered, and
/// the end (the client closing) is returned and reported.
#[test]
fn smol_serve_connection_reports_the_clients_close() {
    type SmolServer = modbus_device::runtimes::smol::ModbusServer;
    let server = SmolServer::new(loopback_config(), Service::new(DataBank::default()));
    let events = Events::default();
    let log = Arc::clone(&events);
    server.on_event(move |e| log.lock().unwrap().push(e.clone()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        let mut client = RawClient::connect(addr);
        client.write_holding(1, &[5]).unwrap();
        assert_eq!(client.read_holding(1, 1).unwrap(), [5]);
    });
    let (stream, peer) = listener.accept().unwrap();
    let stream = async_io::Async::new(stream).unwrap();
    let reason = smol::block_on(server.serve_connection(stream, peer));
    client.join().unwrap();
    assert_eq!(reason, DisconnectReason::PeerClosed);
    let mut value = [0u16];
    server.with_data_bank(|b| b.get_holding_registers(1, &mut value).unwrap());
    assert_eq!(value, [5]);
    assert!(events
        .lock()
        .unwrap()
        .contains(&ConnectionEvent::Disconnected {
            client: peer,
            reason: DisconnectReason::PeerClosed
        }));
    assert_eq!(server.connection_count(), 0);
}

/// Holds a read of register 9 until the test opens the gate.
struct Gate {
    entered: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

impl DataHandler for Gate {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if address == 9 {
            let _ = self.entered.send(());
            // Bounded: a failing test must not hang.
            let _ = self.release.recv_timeout(IO_TIMEOUT);
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

/// `stop()` while a request is being answered (its handler runs): the
/// answer still reaches the client, then the connection closes. An abrupt
/// stop (both directions shut down at once) loses it.
fn stop_lets_the_batch_in_progress_finish<R: Runtime>() {
    stop_mid_answer::<R>(false);
}

/// As [`stop_lets_the_batch_in_progress_finish`], after a blocking
/// `start()` on its own thread, which returns from `stop()`'s abort of the
/// accept loop while the answer is still owed. On tokio the sockets live on
/// that thread's runtime: returning dropped it, and the answer with it.
fn stop_lets_the_batch_in_progress_finish_after_a_blocking_start<R: Runtime>() {
    stop_mid_answer::<R>(true);
}

/// Stops while a handler runs, lets it go within the stop's grace (200 ms),
/// and checks that its answer arrives, then the end of the stream.
fn stop_mid_answer<R: Runtime>(blocking: bool) {
    let (entered, entered_rx) = mpsc::channel();
    let (release_tx, release) = mpsc::channel();
    let mut service = Service::with_handler(DataBank::default(), Gate { entered, release });
    service.data_bank.set_holding_registers(9, &[99]).unwrap();
    let config = ServerConfig {
        no_block: !blocking,
        ..loopback_config()
    };
    let server = ModbusServer::<R, _, _>::new(config, service);
    let serving = if blocking {
        let serving = server.clone();
        Some(thread::spawn(move || serving.start()))
    } else {
        server.start().unwrap();
        None
    };
    let addr = address_of(&server);
    let mut client = RawClient::connect(addr);
    let asking = thread::spawn(move || {
        let answer = client.read_holding(9, 1);
        (client, answer)
    });
    entered_rx
        .recv_timeout(IO_TIMEOUT)
        .expect("the handler runs");
    server.stop();
    // Well within the grace, and long enough for a blocking start() to
    // have returned if it does not wait for the connection.
    thread::sleep(Duration::from_millis(50));
    release_tx.send(()).unwrap();
    let (mut client, answer) = asking.join().unwrap();
    assert_eq!(answer.expect("the answer in progress is delivered"), [99]);
    assert!(
        client.closed_within(IO_TIMEOUT),
        "then the connection closes"
    );
    assert!(!server.is_run());
    if let Some(serving) = serving {
        serving
            .join()
            .unwrap()
            .expect("start() returns Ok after stop()");
    }
}
