//! Backpressure: a client that pipelines requests and never reads the
//! answers. With the send buffer capped (`ServerConfig::send_buffer`), the
//! server stops reading that client's requests once the answers fill the
//! buffers between them, so the answers it computes are bounded by those
//! buffers; then the stalled write ends the connection at the idle timeout,
//! while another client is served throughout. Every test runs once per
//! runtime, on loopback.
#![cfg(all(feature = "async-std", feature = "smol", feature = "tokio"))]

mod desktop_common;

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::runtimes::{
    ConnectionEvent, DisconnectReason, ModbusServer, Runtime, ServerConfig,
};
use modbus_device::{
    Bank, CloseReason, DataBank, DataHandler, ExceptionCode, HeapStorage, Service, SessionInfo,
};

all_runtimes!(
    a_capped_pipeliner_is_bounded_then_closed_at_the_stall_deadline,
    by_default_a_pipeliner_holds_a_bounded_backlog,
);

/// FC 3 x 125: 12 bytes in, the largest answer out.
const ANSWER: usize = 7 + 2 + 250;
/// The output buffer of a desktop connection: answers computed but not yet
/// handed to the kernel (`runtimes::server::connection::OUTPUT_BUFFER`).
const ENGINE_OUTPUT: usize = 1024;
/// Room for what the kernel's accounting lets through beyond a buffer's
/// size (the segment in flight, rounding).
const SLACK: usize = 4096;
/// The attacker's own buffers, asked before connecting (Linux doubles them).
const CLIENT_BUFFER: usize = 4096;

/// Counts the attacker's requests the server answers: FC 3 x 125 (the
/// healthy client reads 2 registers).
struct Counting(Arc<AtomicUsize>);

impl DataHandler for Counting {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &SessionInfo,
    ) -> Result<(), ExceptionCode> {
        if out.len() == 125 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        bank.read_h_regs(address, out, srv_info)
    }
}

/// A client socket with small buffers of its own, connected to `addr`,
/// non-blocking; and its receive buffer as the kernel set it.
fn attacker(addr: SocketAddr) -> (TcpStream, usize) {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    // Before connecting, so that the window it offers is small from the start.
    socket.set_recv_buffer_size(CLIENT_BUFFER).unwrap();
    socket.set_send_buffer_size(CLIENT_BUFFER).unwrap();
    socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
    let recv_buffer = socket.recv_buffer_size().unwrap();
    let stream: TcpStream = socket.into();
    stream.set_nonblocking(true).unwrap();
    stream.set_nodelay(true).unwrap();
    (stream, recv_buffer)
}

/// Sends FC 3 x 125 requests on `stream` and never reads, until its writes
/// have been refused for half a second in a row: the server stopped
/// reading. Panics if that takes more than 20 s (the server reads on).
fn pipeline_until_refused(stream: &mut TcpStream) {
    let request = mbap_frame(1, 1, &[0x03, 0x00, 0x00, 0x00, 0x7D]);
    let batch: Vec<u8> = request.repeat(64);
    let started = Instant::now();
    let mut refused_since: Option<Instant> = None;
    loop {
        match stream.write(&batch) {
            Ok(_) => refused_since = None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let since = *refused_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(500) {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("write failed before the server stopped reading: {e}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never stopped reading"
        );
    }
}

/// A client that polls every 20 ms on its own connection, in a thread,
/// until `stop` is set; returns how many answers it checked. Any failure
/// (a wrong answer, a timeout of 5 s) panics the thread.
fn healthy_poller(addr: SocketAddr, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    let mut client = RawClient::connect(addr);
    thread::spawn(move || {
        let mut answered = 0;
        while !stop.load(Ordering::Relaxed) {
            assert_eq!(client.read_holding(0, 2).expect("healthy answer"), [0, 0]);
            answered += 1;
            thread::sleep(Duration::from_millis(20));
        }
        answered
    })
}

/// A server with a [`Counting`] handler, and what the tests watch.
struct Watched<R: Runtime> {
    server: ModbusServer<R, DataBank<HeapStorage>, Counting>,
    addr: SocketAddr,
    /// The attacker's requests answered so far.
    answered: Arc<AtomicUsize>,
    /// Each connection's end: the client and why.
    disconnects: mpsc::Receiver<(SocketAddr, DisconnectReason)>,
}

/// Starts a server with `config` and a counting handler.
fn counting_server<R: Runtime>(config: ServerConfig) -> Watched<R> {
    let answered = Arc::new(AtomicUsize::new(0));
    let service = Service::with_handler(DataBank::default(), Counting(Arc::clone(&answered)));
    let (server, addr) = start::<R, _, _>(config, service);
    let (events, disconnects) = mpsc::channel();
    server.on_event(move |event| {
        if let ConnectionEvent::Disconnected { client, reason } = event {
            let _ = events.send((*client, reason.clone()));
        }
    });
    Watched {
        server,
        addr,
        answered,
        disconnects,
    }
}

/// The answers the server can have computed for a client that never
/// reads: what fits in the server's send buffer (Linux reserves twice the
/// cap, payload fits in less), the client's receive buffer, the engine's
/// output buffer, and some slack.
fn answer_bound(send_cap: usize, client_recv_buffer: usize) -> usize {
    (2 * send_cap + client_recv_buffer + ENGINE_OUTPUT + SLACK) / ANSWER
}

/// Send and receive buffers capped at 8 KiB: the server answers no more
/// than the buffers hold, stops reading (the attacker's writes block and
/// the count of answers stands still), and closes the connection when its
/// write has stalled for the idle timeout. A healthy client is answered
/// all along. Without the cap (the code before `send_buffer`), the server
/// answered about 11,500 requests here, into a send buffer the kernel had
/// grown to 4 MiB.
fn a_capped_pipeliner_is_bounded_then_closed_at_the_stall_deadline<R: Runtime>() {
    const CAP: usize = 8 * 1024;
    let mut config = loopback_config();
    config.send_buffer = Some(CAP);
    config.recv_buffer = Some(CAP);
    config.engine.idle_timeout = Some(Duration::from_millis(1500));
    let Watched {
        server,
        addr,
        answered,
        disconnects,
    } = counting_server::<R>(config);
    let stop = Arc::new(AtomicBool::new(false));
    let healthy = healthy_poller(addr, Arc::clone(&stop));

    let (mut stalled, client_recv_buffer) = attacker(addr);
    let stalled_addr = stalled.local_addr().unwrap();
    pipeline_until_refused(&mut stalled);
    let bound = answer_bound(CAP, client_recv_buffer);
    let answers = answered.load(Ordering::Relaxed);
    assert!(
        answers <= bound,
        "{answers} answers to a client that never reads (bound {bound})"
    );
    // It stopped reading: no request is answered meanwhile.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(answered.load(Ordering::Relaxed), answers);

    let (client, reason) = disconnects
        .recv_timeout(Duration::from_secs(10))
        .expect("the stalled connection is closed");
    assert_eq!(client, stalled_addr, "only the stalled connection ends");
    assert_eq!(reason, DisconnectReason::Closed(CloseReason::WriteTimeout));
    assert_eq!(answered.load(Ordering::Relaxed), answers);

    stop.store(true, Ordering::Relaxed);
    let healthy_answers = healthy.join().expect("the healthy client was served");
    assert!(healthy_answers > 0);
    drop(stalled);
    server.stop();
}

/// The default configuration caps the send buffer too: a client that
/// never reads gets a bounded number of answers computed (64 KiB of send
/// buffer), not the 4 MiB the kernel's autotuning would grow it to.
fn by_default_a_pipeliner_holds_a_bounded_backlog<R: Runtime>() {
    let defaults = ServerConfig::default();
    let cap = defaults.send_buffer.expect("capped by default");
    let Watched {
        server,
        addr,
        answered,
        ..
    } = counting_server::<R>(loopback_config());
    let (mut stalled, client_recv_buffer) = attacker(addr);
    pipeline_until_refused(&mut stalled);
    let bound = answer_bound(cap, client_recv_buffer);
    let answers = answered.load(Ordering::Relaxed);
    assert!(
        answers <= bound,
        "{answers} answers to a client that never reads (bound {bound})"
    );
    // The server still answers someone else.
    let mut healthy = RawClient::connect(addr);
    assert_eq!(healthy.read_holding(0, 1).unwrap(), [0]);
    drop(stalled);
    server.stop();
}
