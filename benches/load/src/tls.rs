//! `modbus-load tls`: Modbus/TCP Security beside plain Modbus TCP on the
//! same server (modbus-device's tokio adapter, `start()` on its own
//! runtime, in this process), with the same blocking client: one thread per
//! connection keeping `depth` requests (FC 3, 10 registers) in flight, every
//! response's transaction id, length and values checked.
//!
//! Points: new handshakes per second (full, and resumed), then requests per
//! second at 16x1 and 64x4, plain and TLS (TLS 1.3, P-256 certificates made
//! here with rcgen). The client threads share the machine with the server,
//! and the TLS client does its own half of the cryptography: the ratio is
//! of the whole loopback system, an upper bound on the server's own cost.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use modbus_device::authorize::{Rights, RoleMap};
use modbus_device::runtimes::tls::TlsConfig;
use modbus_device::runtimes::tokio::ModbusServer;
use modbus_device::runtimes::ServerConfig;
use modbus_device::{DataBank, HeapStorage, Service};
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::proto::{seed_register, REGS_PER_REQUEST, UNIT};

/// Client certificate and key, and the server's, in PEM, with their CA.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Result<Pki, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::new())?;
    ca.distinguished_name.push(DnType::CommonName, "bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let server_key = KeyPair::generate()?;
    let server = CertificateParams::new(vec!["127.0.0.1".into()])?.signed_by(
        &server_key,
        &ca_cert,
        &ca_key,
    )?;
    let client_key = KeyPair::generate()?;
    let mut client = CertificateParams::new(Vec::new())?;
    client
        .distinguished_name
        .push(DnType::CommonName, "bench client");
    // Role "operator" (UTF8String) in the Modbus role extension.
    let role = [&[0x0C, 8][..], b"operator"].concat();
    client
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 50316, 802, 1],
            role,
        ));
    let client = client.signed_by(&client_key, &ca_cert, &ca_key)?;
    Ok(Pki {
        ca: ca_cert.pem(),
        server: (server.pem(), server_key.serialize_pem()),
        client: (client.pem(), client_key.serialize_pem()),
    })
}

type Server = ModbusServer<DataBank<HeapStorage>>;

/// The server, plain or TLS with a role map that lets the operator read.
fn start(tls: Option<&Pki>) -> Result<(Server, SocketAddr), String> {
    let mut bank = DataBank::<HeapStorage>::default();
    let seed: Vec<u16> = (0..1000).map(seed_register).collect();
    bank.set_holding_registers(0, &seed)
        .map_err(|e| e.to_string())?;
    let mut service = Service::new(bank);
    let mut config = ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        no_block: true,
        max_connections_per_ip: 1024,
        ..ServerConfig::default()
    };
    if let Some(pki) = tls {
        let tls = TlsConfig::from_pem(
            pki.server.0.as_bytes(),
            pki.server.1.as_bytes(),
            pki.ca.as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        config.tls = Some(tls);
        let mut roles = RoleMap::new();
        roles.insert("operator", Rights::functions(&[3]));
        service = service.with_authorizer(roles);
    }
    let server = Server::new(config, service);
    server.start().map_err(|e| e.to_string())?;
    let addr = server.local_addr().ok_or("no address")?;
    Ok((server, addr))
}

#[allow(deprecated)] // ring: see runtimes/server/tls.rs in the library
fn client_config(pki: &Pki, resume: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca.as_bytes()).flatten() {
        let _ = roots.add(cert);
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pki.client.0.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(pki.client.1.as_bytes()).expect("key"),
            )
            .expect("client certificate");
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// A blocking connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    fn open(addr: SocketAddr, tls: Option<&Arc<ClientConfig>>) -> io::Result<Conn> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        let Some(config) = tls else {
            return Ok(Conn::Plain(sock));
        };
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Conn::Tls(Box::new(stream)))
    }

    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.as_mut(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn request(tid: u16, address: u16) -> [u8; 12] {
    let [th, tl] = tid.to_be_bytes();
    let [ah, al] = address.to_be_bytes();
    [
        th,
        tl,
        0,
        0,
        0,
        6,
        UNIT,
        3,
        ah,
        al,
        0,
        REGS_PER_REQUEST as u8,
    ]
}

/// Reads one response and checks it against `tid` and `address`.
fn check(stream: &mut dyn ReadWrite, tid: u16, address: u16) -> io::Result<()> {
    let mut frame = [0u8; 9 + 2 * REGS_PER_REQUEST as usize];
    stream.read_exact(&mut frame)?;
    let ok = u16::from_be_bytes([frame[0], frame[1]]) == tid
        && frame[7] == 3
        && frame[9..]
            .chunks(2)
            .zip(address..)
            .all(|(w, a)| u16::from_be_bytes([w[0], w[1]]) == seed_register(a));
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "wrong response to {tid}: {frame:02x?}"
        )))
    }
}

/// One connection keeping `depth` requests in flight until `stop`.
fn pipeline(mut conn: Conn, depth: usize, stop: &AtomicBool, done: &AtomicU64) -> io::Result<()> {
    let stream = conn.stream();
    let mut in_flight = std::collections::VecDeque::new();
    let mut tid: u16 = 0;
    loop {
        while in_flight.len() < depth && !stop.load(Ordering::Relaxed) {
            tid = tid.wrapping_add(1);
            let address = tid % 900;
            stream.write_all(&request(tid, address))?;
            in_flight.push_back((tid, address));
        }
        stream.flush()?;
        let Some((t, a)) = in_flight.pop_front() else {
            return Ok(());
        };
        check(stream, t, a)?;
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Requests per second at `connections` x `depth`.
fn throughput(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
    connections: usize,
    depth: usize,
    duration: Duration,
) -> Result<f64, String> {
    let conns = (0..connections)
        .map(|_| Conn::open(addr, tls))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || pipeline(conn, depth, &stop, &done))
        })
        .collect();
    // Warm-up, then the measured window.
    std::thread::sleep(duration / 5);
    let (start, before) = (Instant::now(), done.load(Ordering::Relaxed));
    std::thread::sleep(duration);
    let rate = (done.load(Ordering::Relaxed) - before) as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread
            .join()
            .map_err(|_| "client panicked")?
            .map_err(|e| e.to_string())?;
    }
    Ok(rate)
}

/// New connections per second (handshake and one checked request each),
/// from `threads` threads, and the share that resumed a session.
fn handshakes(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    threads: usize,
    duration: Duration,
) -> Result<(f64, f64), String> {
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let config = Arc::clone(config);
            std::thread::spawn(move || -> io::Result<(u64, u64)> {
                let (mut n, mut resumed) = (0, 0);
                while Instant::now() < deadline {
                    let mut conn = Conn::open(addr, Some(&config))?;
                    if let Conn::Tls(s) = &conn {
                        let kind = s.conn.handshake_kind();
                        resumed += u64::from(kind == Some(rustls::HandshakeKind::Resumed));
                    }
                    let stream = conn.stream();
                    stream.write_all(&request(1, 5))?;
                    stream.flush()?;
                    check(stream, 1, 5)?;
                    n += 1;
                }
                Ok((n, resumed))
            })
        })
        .collect();
    let (mut total, mut resumed) = (0, 0);
    for worker in workers {
        let (n, r) = worker
            .join()
            .map_err(|_| "client panicked")?
            .map_err(|e| e.to_string())?;
        total += n;
        resumed += r;
    }
    Ok((
        total as f64 / start.elapsed().as_secs_f64(),
        resumed as f64 / total.max(1) as f64,
    ))
}

/// The `tls` subcommand: prints the points; `Err` on any failure or wrong
/// response.
pub fn run(duration: Duration) -> Result<(), String> {
    let pki = pki().map_err(|e| e.to_string())?;
    let (plain_server, plain) = start(None)?;
    let (tls_server, tls) = start(Some(&pki))?;
    let fresh = client_config(&pki, false);
    let resumed = client_config(&pki, true);
    println!(
        "Modbus/TCP Security, tokio adapter, in-process blocking clients, {duration:?} points"
    );
    let full = handshakes(tls, &fresh, 4, duration)?;
    let again = handshakes(tls, &resumed, 4, duration)?;
    println!(
        "new connections/s (4 client threads, handshake + 1 request): full handshakes {:.0} ({:.0}% resumed); with resumption {:.0} ({:.0}% resumed)",
        full.0,
        full.1 * 100.0,
        again.0,
        again.1 * 100.0
    );
    println!(
        "{:<6} {:>12} {:>12} {:>7}",
        "point", "plain req/s", "TLS req/s", "ratio"
    );
    for (connections, depth) in [(16, 1), (64, 4)] {
        let p = throughput(plain, None, connections, depth, duration)?;
        let t = throughput(tls, Some(&resumed), connections, depth, duration)?;
        println!(
            "{:<6} {:>12.0} {:>12.0} {:>7.2}",
            format!("{connections}x{depth}"),
            p,
            t,
            t / p
        );
    }
    plain_server.stop();
    tls_server.stop();
    Ok(())
}
