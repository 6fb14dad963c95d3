//! The servers under test, each run as `modbus-load serve <kind> <port>` in
//! a child process of its own, so its memory can be read from /proc.
//!
//! A server binds 127.0.0.1:<port> (0 picks a free port), seeds its tables
//! with [`proto::seed_register`] / [`proto::seed_coil`], prints
//! `READY <port>` on stdout and serves until its stdin closes (the parent
//! holds the other end, so a dead parent never leaves a server behind).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::proto;

/// The servers compared, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// modbus-device on smol.
    Smol,
    /// modbus-device on async-std.
    AsyncStd,
    /// modbus-device on tokio (`start()` outside a runtime: the adapter's
    /// own multi-thread runtime, `recommended_threads()` workers).
    Tokio,
    /// modbus-device on tokio, `run().await` inside the same runtime the
    /// echo limit and tokio-modbus run on (2 workers): the comparison on
    /// the same runtime.
    TokioRun,
    /// Frames by MBAP length and writes canned answers: the ceiling.
    Echo,
    /// The same echo on smol's executor with one thread, as our smol
    /// adapter runs: the ceiling of the runtime we run on.
    EchoSmol,
    /// tokio-modbus's TCP server with in-memory tables.
    TokioModbus,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Smol,
        Kind::AsyncStd,
        Kind::Tokio,
        Kind::TokioRun,
        Kind::Echo,
        Kind::EchoSmol,
        Kind::TokioModbus,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Smol => "smol",
            Kind::AsyncStd => "async-std",
            Kind::Tokio => "tokio",
            Kind::TokioRun => "tokio-run",
            Kind::Echo => "echo-limit",
            Kind::EchoSmol => "echo-smol",
            Kind::TokioModbus => "tokio-modbus",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Ours, as opposed to a reference.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            Kind::Smol | Kind::AsyncStd | Kind::Tokio | Kind::TokioRun
        )
    }

    /// The echo servers keep no tables, so they cannot answer a read-back.
    pub fn stores_writes(self) -> bool {
        !matches!(self, Kind::Echo | Kind::EchoSmol)
    }

    /// Whether the idle-connections test runs it: not the smol echo, a
    /// throughput reference only (std's listener has a 128 backlog).
    pub fn in_idle_test(self) -> bool {
        self != Kind::EchoSmol
    }
}

/// Worker threads of the tokio servers (the machine has 2 cores).
const TOKIO_WORKERS: usize = 2;
/// Listen backlog of the tokio servers, as modbus-device's default.
const BACKLOG: u32 = 1024;

/// Entry point of the `serve` subcommand.
pub fn serve(kind: Kind, port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    exit_when_parent_goes();
    match kind {
        Kind::Echo => tokio_runtime()?.block_on(echo::serve(addr)),
        Kind::EchoSmol => echo_smol::serve(addr),
        Kind::TokioModbus => tokio_runtime()?.block_on(reference::serve(addr)),
        Kind::Smol => ours::serve_smol(addr),
        Kind::AsyncStd => ours::serve_async_std(addr),
        Kind::Tokio => ours::serve_tokio(addr),
        Kind::TokioRun => ours::serve_tokio_run(tokio_runtime()?, addr),
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TOKIO_WORKERS)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// Binds a tokio listener with the backlog modbus-device uses (1024).
/// tokio's `TcpListener::bind` listens with 128, which overflows under the
/// idle test's burst of connects and costs 1 s SYN retransmissions: a
/// setting, not a property of the server, so both tokio servers get 1024.
fn tokio_listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let bind = || {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    bind().map_err(|e: std::io::Error| format!("bind {addr}: {e}"))
}

/// Tells the parent which port is served.
pub fn announce(port: u16) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY {port}");
    let _ = out.flush();
}

/// Exits the process once stdin reaches EOF (the parent died or is done).
fn exit_when_parent_goes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        loop {
            match std::io::Read::read(&mut std::io::stdin(), &mut sink) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
        }
    });
}

/// The echo limit: the least work any Modbus TCP server of this design
/// (one task per connection, read, answer, write) can do. It frames by the
/// MBAP length only, answers each request with a prebuilt response of the
/// right shape for its function, and writes all the answers of one read in
/// a single write. The answers are correct for the benchmark's requests
/// (reads of the seeded region, writes), so they pass the client's checks.
mod echo {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub async fn serve(addr: SocketAddr) -> Result<(), String> {
        let listener = tokio_listen(addr)?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let canned = Arc::new(Canned::new(proto::seed_register));
        announce(port);
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            let _ = stream.set_nodelay(true);
            let canned = canned.clone();
            tokio::spawn(async move {
                let _ = connection(stream, &canned).await;
            });
        }
    }

    /// Every response PDU the benchmark can ask for, built once: reads of
    /// the seeded region by start address, and the write acknowledgement.
    pub(super) struct Canned {
        registers: Vec<Vec<u8>>,
        coils: Vec<Vec<u8>>,
    }

    impl Canned {
        /// Register reads answer `register(addr)`: [`proto::seed_register`]
        /// for the benchmark, anything else to test the client's checks.
        pub(super) fn new(register: fn(u16) -> u16) -> Self {
            let span = proto::READ_REGION + proto::REGS_PER_REQUEST;
            let registers = (0..span)
                .map(|addr| {
                    let mut pdu = vec![proto::FC_READ_HOLDING, (proto::REGS_PER_REQUEST * 2) as u8];
                    for i in 0..proto::REGS_PER_REQUEST {
                        pdu.extend_from_slice(&register(addr + i).to_be_bytes());
                    }
                    pdu
                })
                .collect();
            let coils = (0..span)
                .map(|addr| {
                    let bytes = proto::coil_bytes(addr, proto::COILS_PER_REQUEST);
                    let mut pdu = vec![proto::FC_READ_COILS, bytes.len() as u8];
                    pdu.extend_from_slice(&bytes);
                    pdu
                })
                .collect();
            Canned { registers, coils }
        }

        /// Appends the response ADU for the request ADU `frame` to `out`.
        fn answer(&self, frame: &[u8], out: &mut Vec<u8>) {
            let pdu = &frame[proto::MBAP_LEN..];
            let addr = usize::from(u16::from_be_bytes([
                pdu.get(1).copied().unwrap_or(0),
                pdu.get(2).copied().unwrap_or(0),
            ]));
            let mut ack = [0u8; 5];
            let body: &[u8] = match pdu[0] {
                proto::FC_READ_HOLDING if addr < self.registers.len() => &self.registers[addr],
                proto::FC_READ_COILS if addr < self.coils.len() => &self.coils[addr],
                proto::FC_WRITE_MULTIPLE if pdu.len() >= 5 => {
                    ack.copy_from_slice(&pdu[..5]);
                    &ack
                }
                // Illegal function / address: still one answer per request.
                fc => {
                    ack[0] = fc | 0x80;
                    ack[1] = 0x01;
                    &ack[..2]
                }
            };
            out.extend_from_slice(&frame[..4]); // transaction id, protocol id
            out.extend_from_slice(&(body.len() as u16 + 1).to_be_bytes());
            out.push(frame[6]);
            out.extend_from_slice(body);
        }
    }

    /// The I/O-free part of an echo connection: frames what was read and
    /// queues the answers, shared by the tokio and the smol echo.
    pub(super) struct EchoState {
        buf: Vec<u8>,
        filled: usize,
        out: Vec<u8>,
    }

    impl EchoState {
        pub(super) fn new() -> Self {
            EchoState {
                buf: vec![0u8; 8192],
                filled: 0,
                out: Vec::with_capacity(8192),
            }
        }

        pub(super) fn read_buffer(&mut self) -> &mut [u8] {
            &mut self.buf[self.filled..]
        }

        /// `n` bytes were read: the answers to every complete request (one
        /// write), or `None` when the bytes are not Modbus.
        pub(super) fn received(&mut self, n: usize, canned: &Canned) -> Option<&[u8]> {
            self.filled += n;
            self.out.clear();
            let mut at = 0;
            while let Some(len) = proto::frame_len(&self.buf[at..self.filled]).ok()? {
                canned.answer(&self.buf[at..at + len], &mut self.out);
                at += len;
            }
            self.buf.copy_within(at..self.filled, 0);
            self.filled -= at;
            Some(&self.out)
        }
    }

    pub(super) async fn connection(mut stream: TcpStream, canned: &Canned) -> std::io::Result<()> {
        let mut state = EchoState::new();
        loop {
            let n = stream.read(state.read_buffer()).await?;
            if n == 0 {
                return Ok(());
            }
            match state.received(n, canned) {
                Some(answers) if !answers.is_empty() => stream.write_all(answers).await?,
                Some(_) => {}
                None => return Ok(()), // not Modbus: drop the connection
            }
        }
    }
}

/// The echo limit on smol: one executor thread, like the smol adapter, and
/// smol's own `TcpStream`. What is left between it and the tokio echo is
/// the runtime's, not the server's.
mod echo_smol {
    use super::echo::{Canned, EchoState};
    use super::*;
    use smol::io::{AsyncReadExt, AsyncWriteExt};

    pub fn serve(addr: SocketAddr) -> Result<(), String> {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let listener = smol::net::TcpListener::try_from(listener).map_err(|e| e.to_string())?;
        let executor: &'static smol::Executor<'static> = Box::leak(Box::new(smol::Executor::new()));
        let canned = Arc::new(Canned::new(proto::seed_register));
        executor
            .spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let canned = canned.clone();
                    executor
                        .spawn(async move {
                            let _ = connection(stream, &canned).await;
                        })
                        .detach();
                }
            })
            .detach();
        announce(port);
        // This thread is the executor's one thread; the process ends when
        // the parent closes stdin.
        smol::block_on(executor.run(std::future::pending::<()>()));
        Ok(())
    }

    async fn connection(mut stream: smol::net::TcpStream, canned: &Canned) -> std::io::Result<()> {
        let mut state = EchoState::new();
        loop {
            let n = stream.read(state.read_buffer()).await?;
            if n == 0 {
                return Ok(());
            }
            match state.received(n, canned) {
                Some(answers) if !answers.is_empty() => stream.write_all(answers).await?,
                Some(_) => {}
                None => return Ok(()),
            }
        }
    }
}

/// tokio-modbus's server with its tables in memory (a `Vec` per table behind
/// one mutex, as its examples do).
mod reference {
    use super::*;
    use std::future;
    use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
    use tokio_modbus::server::tcp::{accept_tcp_connection, Server};

    const TABLE: usize = 0x10000;

    struct Tables {
        coils: Vec<bool>,
        holding: Vec<u16>,
    }

    #[derive(Clone)]
    struct InMemory(Arc<Mutex<Tables>>);

    impl tokio_modbus::server::Service for InMemory {
        type Request = SlaveRequest<'static>;
        type Response = Response;
        type Exception = ExceptionCode;
        type Future = future::Ready<Result<Response, ExceptionCode>>;

        fn call(&self, req: Self::Request) -> Self::Future {
            let Ok(mut t) = self.0.lock() else {
                return future::ready(Err(ExceptionCode::ServerDeviceFailure));
            };
            future::ready(handle(&mut t, req.request))
        }
    }

    fn range(addr: u16, count: usize) -> Result<std::ops::Range<usize>, ExceptionCode> {
        let start = usize::from(addr);
        if count == 0 || start + count > TABLE {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        Ok(start..start + count)
    }

    fn handle(t: &mut Tables, request: Request<'_>) -> Result<Response, ExceptionCode> {
        match request {
            Request::ReadCoils(addr, n) => Ok(Response::ReadCoils(
                t.coils[range(addr, usize::from(n))?].to_vec(),
            )),
            Request::ReadHoldingRegisters(addr, n) => Ok(Response::ReadHoldingRegisters(
                t.holding[range(addr, usize::from(n))?].to_vec(),
            )),
            Request::WriteMultipleRegisters(addr, values) => {
                let r = range(addr, values.len())?;
                t.holding[r].copy_from_slice(&values);
                Ok(Response::WriteMultipleRegisters(addr, values.len() as u16))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }

    pub async fn serve(addr: SocketAddr) -> Result<(), String> {
        let listener = tokio_listen(addr)?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let tables = Tables {
            coils: (0..TABLE).map(|a| proto::seed_coil(a as u16)).collect(),
            holding: (0..TABLE).map(|a| proto::seed_register(a as u16)).collect(),
        };
        let service = InMemory(Arc::new(Mutex::new(tables)));
        let on_connected = move |stream: tokio::net::TcpStream, socket_addr| {
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            async move { accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(service.clone()))) }
        };
        announce(port);
        Server::new(listener)
            .serve(&on_connected, |_err| {})
            .await
            .map_err(|e| format!("tokio-modbus: {e}"))
    }
}

/// modbus-device's own `ModbusServer` on smol and on async-std, with the
/// default heap tables (0x10000 entries each, like pyModbusTCP's DataBank).
mod ours {
    use super::*;
    use modbus_device::runtimes::{self, ServerConfig};
    use modbus_device::{DataBank, Service};

    /// The idle test holds 1000 connections at once; the default limit is
    /// 1024, and 64 per client address (every client here is 127.0.0.1).
    const MAX_CONNECTIONS: usize = 4096;

    fn config(addr: SocketAddr) -> ServerConfig {
        ServerConfig {
            host: addr.ip().to_string(),
            port: addr.port(),
            no_block: true,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_ip: MAX_CONNECTIONS,
            ..ServerConfig::default()
        }
    }

    fn seeded_service(
    ) -> Result<Service<modbus_device::DataBank<modbus_device::HeapStorage>>, String> {
        let mut bank = DataBank::default();
        let registers: Vec<u16> = (0..=u16::MAX).map(proto::seed_register).collect();
        let coils: Vec<bool> = (0..=u16::MAX).map(proto::seed_coil).collect();
        bank.set_holding_registers(0, &registers)
            .map_err(|e| format!("seed: {e:?}"))?;
        bank.set_coils(0, &coils)
            .map_err(|e| format!("seed: {e:?}"))?;
        Ok(Service::new(bank))
    }

    /// Serves in the background; this thread only waits for the stdin
    /// watcher to end the process.
    fn park_forever() -> ! {
        loop {
            std::thread::park();
        }
    }

    pub fn serve_smol(addr: SocketAddr) -> Result<(), String> {
        let server = runtimes::smol::ModbusServer::new(config(addr), seeded_service()?);
        server.start().map_err(|e| format!("start: {e}"))?;
        announce(server.local_addr().ok_or("not running after start")?.port());
        park_forever()
    }

    /// The pyModbusTCP shape, as the `server` example runs it with
    /// `--runtime tokio`: `start()` outside any runtime.
    pub fn serve_tokio(addr: SocketAddr) -> Result<(), String> {
        let server = runtimes::tokio::ModbusServer::new(config(addr), seeded_service()?);
        server.start().map_err(|e| format!("start: {e}"))?;
        announce(server.local_addr().ok_or("not running after start")?.port());
        park_forever()
    }

    /// An async application's shape: `run().await` as a task of the
    /// application's own runtime (the one the tokio references use).
    pub fn serve_tokio_run(
        runtime: tokio::runtime::Runtime,
        addr: SocketAddr,
    ) -> Result<(), String> {
        let server = runtimes::tokio::ModbusServer::new(config(addr), seeded_service()?);
        let serving = server.clone();
        let task = runtime.spawn(async move { serving.run().await });
        // run() binds in its task: wait (bounded) until it listens.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let port = loop {
            if let Some(local) = server.local_addr() {
                break local.port();
            }
            if task.is_finished() {
                return match runtime.block_on(task) {
                    Ok(Err(e)) => Err(format!("run: {e}")),
                    _ => Err("run() ended before listening".into()),
                };
            }
            if std::time::Instant::now() > deadline {
                return Err("run() did not listen within 10 s".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        announce(port);
        park_forever()
    }

    pub fn serve_async_std(addr: SocketAddr) -> Result<(), String> {
        // Configured as the `server` example configures it: async-std's
        // global pool belongs to the application, sized before first use.
        if std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
            let threads = runtimes::recommended_threads();
            std::env::set_var("ASYNC_STD_THREAD_COUNT", threads.to_string());
        }
        let server = runtimes::async_std::ModbusServer::new(config(addr), seeded_service()?);
        server.start().map_err(|e| format!("start: {e}"))?;
        announce(server.local_addr().ok_or("not running after start")?.port());
        park_forever()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{self, Client, Load, Op};
    use std::time::Duration;

    /// Runs the client for a moment against an echo server whose register
    /// reads answer `register(addr)`.
    async fn against_echo(register: fn(u16) -> u16, op: Op, client: Client) -> client::Outcome {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let canned = Arc::new(echo::Canned::new(register));
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let canned = canned.clone();
                tokio::spawn(async move {
                    let _ = echo::connection(stream, &canned).await;
                });
            }
        });
        let load = Load {
            connections: 2,
            depth: 4,
            op,
            duration: Duration::from_millis(100),
            client,
        };
        let outcome = client::run(addr, load).await;
        server.abort();
        outcome
    }

    /// Both drivers; the spinning one on two threads, so connections are
    /// dealt across threads too.
    const CLIENTS: [Client; 2] = [Client::Wait, Client::Spin { threads: 2 }];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn correct_answers_pass_every_check() {
        for client in CLIENTS {
            for op in [Op::ReadHolding, Op::WriteHolding, Op::ReadCoils] {
                let out = against_echo(proto::seed_register, op, client).await;
                assert_eq!(out.errors, 0, "{client:?} {op:?}: {:?}", out.first_error);
                assert!(out.completed > 0, "{client:?} {op:?}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_wrong_register_value_is_an_error() {
        for client in CLIENTS {
            let out = against_echo(
                |a| proto::seed_register(a) ^ 0x0100,
                Op::ReadHolding,
                client,
            )
            .await;
            assert_eq!(out.completed, 0, "{client:?}");
            assert!(out.errors > 0, "{client:?}");
            assert!(out.first_error.unwrap().contains("expected"), "{client:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_forgets_writes_fails_the_read_back() {
        // The echo limit keeps no tables: reading back returns the seed.
        for client in CLIENTS {
            let out = against_echo(proto::seed_register, Op::Mixed, client).await;
            assert!(out.errors > 0, "{client:?}");
        }
    }
}
