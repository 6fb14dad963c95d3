//! Modbus/TCP Security on the desktop server, on every runtime, over
//! loopback: certificates made here (rcgen; the RSA key by `openssl`),
//! pymodbus's TLS client and Python's `ssl` (OpenSSL) as independent peers,
//! and a rustls client for what needs many connections or resumption.
//!
//! The Python peers run on `$MODBUS_PYTHON`, else `target/venv/bin/python3`
//! (`ci/clients.sh` makes it), else `python3`; missing, they fail the test.
#![cfg(all(
    feature = "tls",
    feature = "async-std",
    feature = "smol",
    feature = "tokio"
))]

mod desktop_common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use desktop_common::*;
use modbus_device::authorize::{Authorizer, Rights, RoleMap};
use modbus_device::runtimes::tls::TlsConfig;
use modbus_device::runtimes::{ModbusServer, Runtime, ServerConfig};
use modbus_device::{DataBank, HeapStorage, Service};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};

all_runtimes!(
    pymodbus_tls_client_reads_and_writes_as_its_role,
    handshake_fails_without_a_good_client_certificate,
    old_versions_are_refused_and_the_required_suites_offered,
    a_viewer_cannot_write_and_a_role_less_certificate_is_denied,
    garbage_and_plain_modbus_close_only_their_connection,
    two_hundred_handshakes_while_a_client_is_served,
    resumed_sessions_keep_the_role,
    certificates_and_roles_are_replaced_while_running,
    a_client_that_reads_late_gets_every_response,
    limits_hold_before_the_handshake_and_a_silent_one_times_out,
    the_certificate_s_subject_and_role_reach_the_handler,
);

// ===================================================================
// Certificates
// ===================================================================

/// The role extension's OID (R-21).
const ROLE_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 50316, 802, 1];

/// A certificate authority made for one test.
struct Ca {
    params: CertificateParams,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.clone().self_signed(&key).unwrap();
        Ca { params, cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A client certificate with `role` (none: no role extension).
    fn client(&self, name: &str, role: Option<&str>) -> Issued {
        self.issue(client_params(name, role), KeyPair::generate().unwrap())
    }

    /// The server's certificate for 127.0.0.1, with `key`.
    fn server(&self, key: KeyPair) -> Issued {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "modbus server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, key)
    }

    fn issue(&self, params: CertificateParams, key: KeyPair) -> Issued {
        let _ = &self.params;
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn client_params(name: &str, role: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if let Some(role) = role {
        // DER UTF8String (R-22): tag 0x0C, short length.
        let mut der = vec![0x0C, u8::try_from(role.len()).unwrap()];
        der.extend_from_slice(role.as_bytes());
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(ROLE_OID, der));
    }
    params
}

/// A certificate and its key, in PEM.
#[derive(Clone)]
struct Issued {
    cert: String,
    key: String,
}

/// A self-signed client certificate with a role.
fn self_signed_client() -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = client_params("self-signed", Some("operator"))
        .self_signed(&key)
        .unwrap();
    Issued {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A client certificate of `ca` that expired in 2020.
fn expired_client(ca: &Ca) -> Issued {
    let mut params = client_params("expired", Some("operator"));
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 2);
    ca.issue(params, KeyPair::generate().unwrap())
}

/// A 2048-bit RSA key made by `openssl` (ring cannot generate RSA keys).
fn rsa_key(dir: &Path) -> KeyPair {
    let path = dir.join("rsa.key");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (ci/install.sh installs it)");
    assert!(status.success(), "openssl genpkey");
    let pem = std::fs::read_to_string(&path).unwrap();
    KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap()
}

/// A directory for one test's files.
fn temp_dir(test: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("modbus-tls-{}-{test}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

// ===================================================================
// The server
// ===================================================================

type Bank = DataBank<HeapStorage>;

/// The role map of the issue: operators read and write, viewers read.
fn roles() -> RoleMap {
    let mut roles = RoleMap::new();
    roles.insert(
        "operator",
        Rights::functions(&[1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 43]),
    );
    roles.insert("viewer", Rights::functions(&[1, 2, 3, 4, 43]));
    roles
}

/// A TLS server (certificate of `ca`) with the role map, holding registers
/// 100, 200, 300 and coils true, false.
fn tls_server<R: Runtime>(
    ca: &Ca,
    server: &Issued,
    config: impl FnOnce(&mut ServerConfig),
) -> (ModbusServer<R, Bank>, SocketAddr, TlsConfig) {
    let tls = TlsConfig::from_pem(
        server.cert.as_bytes(),
        server.key.as_bytes(),
        ca.pem().as_bytes(),
    )
    .unwrap();
    let mut server_config = ServerConfig {
        tls: Some(tls.clone()),
        ..loopback_config()
    };
    config(&mut server_config);
    let mut bank = Bank::default();
    bank.set_holding_registers(0, &[100, 200, 300]).unwrap();
    bank.set_coils(0, &[true, false]).unwrap();
    let service = Service::new(bank).with_authorizer(roles());
    let (server, addr) = start::<R, _, _>(server_config, service);
    (server, addr, tls)
}

fn holding<R: Runtime>(server: &ModbusServer<R, Bank>, address: u16) -> u16 {
    let mut out = [0];
    server
        .with_data_bank(|bank| bank.get_holding_registers(address, &mut out))
        .unwrap();
    out[0]
}

// ===================================================================
// A rustls client
// ===================================================================

#[allow(deprecated)] // ring: see runtimes/server/tls.rs
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client trusting `ca`, presenting `identity` (none: no certificate),
/// speaking `versions`.
fn client_config(
    ca: &str,
    identity: Option<&Issued>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(id.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(id.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A Modbus client over rustls.
struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    next_tid: u16,
}

impl TlsClient {
    /// Connects and completes the handshake.
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<TlsClient> {
        Self::over(TcpStream::connect_timeout(&addr, IO_TIMEOUT)?, config)
    }

    /// Completes the handshake over `sock`.
    fn over(sock: TcpStream, config: &Arc<ClientConfig>) -> io::Result<TlsClient> {
        sock.set_read_timeout(Some(IO_TIMEOUT))?;
        sock.set_write_timeout(Some(IO_TIMEOUT))?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsClient {
            stream,
            next_tid: 1,
        })
    }

    /// Sends `pdu` to unit 1 and returns the response PDU.
    fn ask(&mut self, pdu: &[u8]) -> io::Result<Vec<u8>> {
        let tid = self.next_tid;
        self.next_tid = self.next_tid.wrapping_add(1);
        self.stream.write_all(&mbap_frame(tid, 1, pdu))?;
        self.stream.flush()?;
        let mut header = [0u8; 7];
        self.stream.read_exact(&mut header)?;
        assert_eq!(
            u16::from_be_bytes([header[0], header[1]]),
            tid,
            "transaction id"
        );
        let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let mut pdu = vec![0; len.saturating_sub(1)];
        self.stream.read_exact(&mut pdu)?;
        Ok(pdu)
    }

    fn read_holding(&mut self, address: u16) -> io::Result<Vec<u8>> {
        let [hi, lo] = address.to_be_bytes();
        self.ask(&[3, hi, lo, 0, 1])
    }

    fn write_holding(&mut self, address: u16, value: u16) -> io::Result<Vec<u8>> {
        let [hi, lo] = address.to_be_bytes();
        let [vh, vl] = value.to_be_bytes();
        self.ask(&[6, hi, lo, vh, vl])
    }
}

/// A connection attempt that must fail: at the handshake, or (TLS 1.3,
/// where the server judges the client certificate after the client's
/// handshake ended) at the first request.
fn refused(addr: SocketAddr, config: &Arc<ClientConfig>) -> bool {
    match TlsClient::connect(addr, config) {
        Err(_) => true,
        Ok(mut client) => client.read_holding(0).is_err(),
    }
}

// ===================================================================
// Python peers
// ===================================================================

/// Runs `tests/python/<script>` with `scenario` on stdin: its stdout, and
/// whether it succeeded.
fn run_python(script: &str, scenario: &str) -> (String, bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let mut child = Command::new(python())
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs (ci/clients.sh makes target/venv)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scenario.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (format!("{stdout}{stderr}"), output.status.success())
}

/// The PEM paths a Python peer is given, as JSON fields.
fn paths_json(dir: &Path, ca: &str, id: Option<&Issued>, tag: &str) -> String {
    let ca = file(dir, &format!("{tag}-ca.pem"), ca);
    match id {
        Some(id) => {
            let cert = file(dir, &format!("{tag}.pem"), &id.cert);
            let key = file(dir, &format!("{tag}.key"), &id.key);
            format!(r#""ca": "{ca}", "cert": "{cert}", "key": "{key}""#)
        }
        None => format!(r#""ca": "{ca}""#),
    }
}

/// One `tls_probe.py` connection: its JSON answer.
fn probe(addr: SocketAddr, paths: &str, extra: &str) -> String {
    let scenario = format!(
        r#"{{"host": "127.0.0.1", "port": {}, {paths}{extra}}}"#,
        addr.port()
    );
    let (out, ok) = run_python("tls_probe.py", &scenario);
    assert!(ok, "tls_probe.py failed: {out}");
    out
}

// ===================================================================
// The tests
// ===================================================================

fn pymodbus_tls_client_reads_and_writes_as_its_role<R: Runtime>() {
    let dir = temp_dir("pymodbus");
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    for role in ["viewer", "operator"] {
        let id = ca.client(&format!("{role} client"), Some(role));
        let scenario = format!(
            r#"{{"host": "127.0.0.1", "port": {}, "role": "{role}", {}}}"#,
            addr.port(),
            paths_json(&dir, &ca.pem(), Some(&id), role)
        );
        let (out, ok) = run_python("pymodbus_tls_client.py", &scenario);
        assert!(ok, "pymodbus TLS client as {role}:\n{out}");
        if role == "viewer" {
            assert_eq!(
                holding(&server, 1),
                200,
                "the viewer's write changed nothing"
            );
        }
    }
    assert_eq!(holding(&server, 1), 4321, "the operator's write");
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn handshake_fails_without_a_good_client_certificate<R: Runtime>() {
    let dir = temp_dir("refusals");
    let ca = Ca::new("test CA");
    let other_ca = Ca::new("other CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    let good = ca.client("operator client", Some("operator"));
    let cases = [
        ("good", Some(good.clone()), true),
        ("no certificate", None, false),
        ("self-signed", Some(self_signed_client()), false),
        ("expired", Some(expired_client(&ca)), false),
        (
            "other CA",
            Some(other_ca.client("stranger", Some("operator"))),
            false,
        ),
    ];
    for (name, id, accepted) in &cases {
        // Python's ssl (OpenSSL), TLS 1.2 and 1.3.
        for version in ["TLSv1_2", "TLSv1_3"] {
            let paths = paths_json(&dir, &ca.pem(), id.as_ref(), "probe");
            let extra = format!(r#", "min": "{version}", "max": "{version}""#);
            let out = probe(addr, &paths, &extra);
            let ok = out.contains(r#""ok": true"#);
            assert_eq!(ok, *accepted, "{name} over {version}: {out}");
            if ok {
                assert!(
                    out.contains(r#""answer": "0007000000050103020064""#),
                    "{out}"
                );
            }
        }
        // rustls.
        let config = client_config(&ca.pem(), id.as_ref(), BOTH);
        assert_eq!(refused(addr, &config), !accepted, "{name} (rustls)");
    }
    // The server goes on serving.
    let mut client =
        TlsClient::connect(addr, &client_config(&ca.pem(), Some(&good), BOTH)).unwrap();
    assert_eq!(client.read_holding(0).unwrap(), [3, 2, 0, 100]);
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn old_versions_are_refused_and_the_required_suites_offered<R: Runtime>() {
    let dir = temp_dir("versions");
    let ca = Ca::new("test CA");
    let id = ca.client("operator client", Some("operator"));
    let paths = paths_json(&dir, &ca.pem(), Some(&id), "client");
    // An ECDSA P-256 server certificate.
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    for old in ["TLSv1", "TLSv1_1"] {
        // SECLEVEL=0 lets OpenSSL offer the old versions: the refusal must
        // be the server's (a protocol_version alert).
        let extra =
            format!(r#", "min": "{old}", "max": "{old}", "ciphers": "DEFAULT:@SECLEVEL=0""#);
        let out = probe(addr, &paths, &extra);
        assert!(out.contains(r#""ok": false"#), "{old}: {out}");
        // OpenSSL names an alert it received "..._ALERT_...".
        assert!(
            out.contains("ALERT"),
            "{old}: refused by the server's alert: {out}"
        );
        eprintln!("{old}: {out}");
    }
    let extra =
        r#", "min": "TLSv1_2", "max": "TLSv1_2", "ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256""#;
    let out = probe(addr, &paths, extra);
    assert!(
        out.contains(r#""cipher": "ECDHE-ECDSA-AES128-GCM-SHA256""#),
        "{out}"
    );
    let out = probe(addr, &paths, r#", "min": "TLSv1_3""#);
    assert!(out.contains(r#""version": "TLSv1.3""#), "{out}");
    server.stop();
    // An RSA server certificate.
    let (server, addr, _tls) = tls_server::<R>(&ca, &ca.server(rsa_key(&dir)), |_| {});
    let extra = r#", "min": "TLSv1_2", "max": "TLSv1_2", "ciphers": "ECDHE-RSA-AES128-GCM-SHA256""#;
    let out = probe(addr, &paths, extra);
    assert!(
        out.contains(r#""cipher": "ECDHE-RSA-AES128-GCM-SHA256""#),
        "{out}"
    );
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn a_viewer_cannot_write_and_a_role_less_certificate_is_denied<R: Runtime>() {
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    let viewer = client_config(&ca.pem(), Some(&ca.client("viewer", Some("viewer"))), BOTH);
    let mut client = TlsClient::connect(addr, &viewer).unwrap();
    assert_eq!(client.write_holding(1, 7).unwrap(), [0x86, 0x01]);
    assert_eq!(client.read_holding(1).unwrap(), [3, 2, 0, 200]);
    assert_eq!(holding(&server, 1), 200, "the table is unchanged");
    // Authenticated, with the NULL role: every request denied.
    let nobody = client_config(&ca.pem(), Some(&ca.client("no role", None)), BOTH);
    let mut client = TlsClient::connect(addr, &nobody).unwrap();
    assert_eq!(client.read_holding(1).unwrap(), [0x83, 0x01]);
    assert_eq!(client.write_holding(1, 7).unwrap(), [0x86, 0x01]);
    let operator = client_config(&ca.pem(), Some(&ca.client("op", Some("operator"))), BOTH);
    let mut client = TlsClient::connect(addr, &operator).unwrap();
    assert_eq!(client.write_holding(1, 7).unwrap(), [6, 0, 1, 0, 7]);
    assert_eq!(holding(&server, 1), 7);
    server.stop();
}

fn garbage_and_plain_modbus_close_only_their_connection<R: Runtime>() {
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    let operator = client_config(&ca.pem(), Some(&ca.client("op", Some("operator"))), BOTH);
    let mut healthy = TlsClient::connect(addr, &operator).unwrap();
    assert_eq!(healthy.read_holding(0).unwrap(), [3, 2, 0, 100]);
    let mut rng = Rng::new(12);
    let garbage: Vec<u8> = (0..300).map(|_| rng.next_u64() as u8).collect();
    let plain = mbap_frame(1, 1, &[3, 0, 0, 0, 1]);
    for bytes in [&garbage[..], &plain[..]] {
        let mut raw = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
        raw.write_all(bytes).unwrap();
        assert!(
            closed_within(&mut raw, Duration::from_secs(5)),
            "the bad connection is closed"
        );
        assert_eq!(
            healthy.read_holding(0).unwrap(),
            [3, 2, 0, 100],
            "the good one is served"
        );
    }
    server.stop();
}

fn two_hundred_handshakes_while_a_client_is_served<R: Runtime>() {
    const CLIENTS: usize = 200;
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |c| {
            c.max_connections_per_ip = 2 * CLIENTS;
        });
    let operator = client_config(&ca.pem(), Some(&ca.client("op", Some("operator"))), BOTH);
    let mut healthy = TlsClient::connect(addr, &operator).unwrap();
    let started = Instant::now();
    let crowd: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let config = Arc::clone(&operator);
            std::thread::spawn(move || {
                let mut client = TlsClient::connect(addr, &config)?;
                client.read_holding(2)
            })
        })
        .collect();
    let (mut answers, mut slowest) = (0, Duration::ZERO);
    while answers < 20 || crowd.iter().any(|t| !t.is_finished()) {
        assert!(started.elapsed() < Duration::from_secs(60), "bounded");
        let asked = Instant::now();
        assert_eq!(healthy.read_holding(0).unwrap(), [3, 2, 0, 100]);
        slowest = slowest.max(asked.elapsed());
        answers += 1;
    }
    let ok = crowd
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|r| r.as_deref().is_ok_and(|pdu| pdu == [3, 2, 1, 44]))
        .count();
    let took = started.elapsed();
    eprintln!(
        "{CLIENTS} handshakes in {took:?}; the served client: {answers} answers, slowest {slowest:?}"
    );
    assert_eq!(ok, CLIENTS, "every handshake and request succeeded");
    assert!(
        slowest < Duration::from_secs(2),
        "the served client waited {slowest:?}"
    );
    server.stop();
}

fn resumed_sessions_keep_the_role<R: Runtime>() {
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    let viewer = ca.client("viewer", Some("viewer"));
    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let config = client_config(&ca.pem(), Some(&viewer), versions);
        for round in 0..3 {
            let mut client = TlsClient::connect(addr, &config).unwrap();
            // The read also takes in TLS 1.3's session tickets.
            assert_eq!(
                client.read_holding(1).unwrap(),
                [3, 2, 0, 200],
                "{versions:?}"
            );
            assert_eq!(
                client.write_holding(1, 9).unwrap(),
                [0x86, 0x01],
                "{versions:?}"
            );
            let kind = client.stream.conn.handshake_kind();
            let expected = if round == 0 {
                HandshakeKind::Full
            } else {
                HandshakeKind::Resumed
            };
            assert_eq!(kind, Some(expected), "{versions:?} round {round}");
            client.stream.conn.send_close_notify();
            let _ = client.stream.flush();
        }
    }
    server.stop();
}

fn certificates_and_roles_are_replaced_while_running<R: Runtime>() {
    let ca = Ca::new("test CA");
    let (server, addr, tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    let viewer = ca.client("viewer", Some("viewer"));
    let old_config = client_config(&ca.pem(), Some(&viewer), BOTH);
    let mut open = TlsClient::connect(addr, &old_config).unwrap();
    assert_eq!(open.write_holding(1, 5).unwrap(), [0x86, 0x01]);
    // A new CA and server certificate, and viewers may now write.
    let new_ca = Ca::new("new CA");
    let new_server = new_ca.server(KeyPair::generate().unwrap());
    tls.replace(
        new_server.cert.as_bytes(),
        new_server.key.as_bytes(),
        new_ca.pem().as_bytes(),
    )
    .unwrap();
    let mut new_roles = roles();
    new_roles.insert("viewer", Rights::functions(&[3, 6]));
    server.with_service(|s| s.set_authorizer(Some(Authorizer::new(new_roles))));
    // New connections: the old CA's client no longer verifies the server,
    // and the server no longer trusts the old CA.
    assert!(
        TlsClient::connect(addr, &old_config).is_err(),
        "old server certificate"
    );
    let old_id_new_trust = client_config(&new_ca.pem(), Some(&viewer), BOTH);
    assert!(
        refused(addr, &old_id_new_trust),
        "old CA's client certificate"
    );
    let new_viewer = client_config(
        &new_ca.pem(),
        Some(&new_ca.client("v2", Some("viewer"))),
        BOTH,
    );
    let mut client = TlsClient::connect(addr, &new_viewer).unwrap();
    assert_eq!(client.write_holding(1, 6).unwrap(), [6, 0, 1, 0, 6]);
    // The open connection keeps its session, under the new roles.
    assert_eq!(open.write_holding(1, 5).unwrap(), [6, 0, 1, 0, 5]);
    assert_eq!(holding(&server, 1), 5);
    server.stop();
}

/// 1,000 pipelined requests for 125 registers each (about 257 KB of
/// responses, more than the sockets buffer) while the client reads
/// nothing, then every response: the server's writes stall mid-record, and
/// the last one must still come out.
fn a_client_that_reads_late_gets_every_response<R: Runtime>() {
    const REQUESTS: u16 = 1000;
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |_| {});
    let operator = client_config(&ca.pem(), Some(&ca.client("op", Some("operator"))), BOTH);
    // A small receive buffer: the responses back up into the server.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
    let mut client = TlsClient::over(sock.into(), &operator).unwrap();
    let requests: Vec<u8> = (0..REQUESTS)
        .flat_map(|tid| mbap_frame(tid, 1, &[3, 0, 0, 0, 125]))
        .collect();
    client.stream.write_all(&requests).unwrap();
    client.stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for tid in 0..REQUESTS {
        let mut header = [0u8; 7];
        client
            .stream
            .read_exact(&mut header)
            .unwrap_or_else(|e| panic!("response {tid}: {e}"));
        assert_eq!(u16::from_be_bytes([header[0], header[1]]), tid);
        let mut pdu = vec![0; 252];
        client.stream.read_exact(&mut pdu).unwrap();
        assert_eq!(pdu[..4], [3, 250, 0, 100]);
    }
    server.stop();
}

/// A connection counts against the limits from its accept, before any
/// handshake; one that never starts its handshake is closed at the
/// handshake timeout.
fn limits_hold_before_the_handshake_and_a_silent_one_times_out<R: Runtime>() {
    let ca = Ca::new("test CA");
    let (server, addr, _tls) =
        tls_server::<R>(&ca, &ca.server(KeyPair::generate().unwrap()), |c| {
            c.max_connections = 2;
            if let Some(tls) = c.tls.as_mut() {
                tls.handshake_timeout = Duration::from_millis(500);
            }
        });
    let started = Instant::now();
    let mut silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // The third is refused (closed at once): the silent two hold the slots.
    let operator = client_config(&ca.pem(), Some(&ca.client("op", Some("operator"))), BOTH);
    assert!(refused(addr, &operator), "beyond max_connections");
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(3)),
            "handshake timeout"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "closed after {waited:?}, before the timeout"
    );
    // Their slots are free again.
    let mut client = TlsClient::connect(addr, &operator).unwrap();
    assert_eq!(client.read_holding(0).unwrap(), [3, 2, 0, 100]);
    server.stop();
}

/// Records the identity of every FC 3 it serves.
#[derive(Clone, Default)]
struct Seen(Arc<std::sync::Mutex<Vec<Identity>>>);

/// An identity as recorded: subject, role.
type Identity = (String, Option<String>);

impl modbus_device::DataHandler for Seen {
    fn read_h_regs(
        &mut self,
        bank: &mut dyn modbus_device::Bank,
        address: u16,
        out: &mut [u16],
        srv_info: &modbus_device::SessionInfo,
    ) -> Result<(), modbus_device::ExceptionCode> {
        let identity = srv_info.identity.expect("a TLS request has an identity");
        let seen = (
            identity.subject.to_owned(),
            identity.role.map(str::to_owned),
        );
        self.0.lock().unwrap().push(seen);
        bank.read_h_regs(address, out, srv_info)
    }
}

fn the_certificate_s_subject_and_role_reach_the_handler<R: Runtime>() {
    let ca = Ca::new("test CA");
    let server_id = ca.server(KeyPair::generate().unwrap());
    let tls = TlsConfig::from_pem(
        server_id.cert.as_bytes(),
        server_id.key.as_bytes(),
        ca.pem().as_bytes(),
    )
    .unwrap();
    let seen = Seen::default();
    let config = ServerConfig {
        tls: Some(tls),
        ..loopback_config()
    };
    let (server, addr) =
        start::<R, _, _>(config, Service::with_handler(Bank::default(), seen.clone()));
    for (name, role) in [("viewer client", Some("viewer")), ("anonymous", None)] {
        let config = client_config(&ca.pem(), Some(&ca.client(name, role)), BOTH);
        let mut client = TlsClient::connect(addr, &config).unwrap();
        // No authorizer: every authenticated client may read.
        assert_eq!(client.read_holding(0).unwrap(), [3, 2, 0, 0]);
    }
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            ("CN=viewer client".to_owned(), Some("viewer".to_owned())),
            ("CN=anonymous".to_owned(), None),
        ]
    );
    server.stop();
}

/// RTU frames carry no client identity, so TLS with RTU framing would serve
/// authenticated clients as anonymous: `start()` refuses it.
#[cfg(feature = "rtu")]
#[test]
fn tls_with_rtu_framing_is_refused() {
    use modbus_device::runtimes::{ServerError, TcpFraming};
    let ca = Ca::new("test CA");
    let server_id = ca.server(KeyPair::generate().unwrap());
    let tls = TlsConfig::from_pem(
        server_id.cert.as_bytes(),
        server_id.key.as_bytes(),
        ca.pem().as_bytes(),
    )
    .unwrap();
    let config = ServerConfig {
        tls: Some(tls),
        framing: TcpFraming::Rtu,
        ..loopback_config()
    };
    let server =
        modbus_device::runtimes::smol::ModbusServer::new(config, Service::new(Bank::default()));
    match server.start() {
        Err(ServerError::InvalidConfig { reason }) => assert!(reason.contains("RTU"), "{reason}"),
        other => panic!("TLS with RTU framing: {other:?}"),
    }
}

// ===================================================================
// The simulator (examples/server) with --tls-* and --roles
// ===================================================================

/// The simulator built with this test's features (the `tls` ones).
fn simulator_exe() -> PathBuf {
    // This test runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("profile dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--example",
            "server",
            "--features",
            "tls,async-std,smol,tokio",
        ])
        .args(["--profile", profile])
        .env(
            "CARGO_TARGET_DIR",
            profile_dir.parent().expect("target dir"),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the simulator failed");
    profile_dir.join("examples/server")
}

/// Kills the simulator when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn simulator_serves_tls_with_the_roles_file() {
    use std::io::BufRead;
    let dir = temp_dir("simulator");
    let ca = Ca::new("test CA");
    let server = ca.server(KeyPair::generate().unwrap());
    let roles = "[roles.operator]\nfunctions = [1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 43]\n\
                 [roles.viewer]\nfunctions = [1, 2, 3, 4, 43]\n";
    let exe = simulator_exe();
    let mut child = Killed(
        Command::new(exe)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--tls-cert", &file(&dir, "server.pem", &server.cert)])
            .args(["--tls-key", &file(&dir, "server.key", &server.key)])
            .args(["--tls-client-ca", &file(&dir, "ca.pem", &ca.pem())])
            .args(["--roles", &file(&dir, "roles.toml", roles)])
            .env("MODBUS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the simulator"),
    );
    let mut first = String::new();
    io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr: SocketAddr = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let viewer = client_config(&ca.pem(), Some(&ca.client("v", Some("viewer"))), BOTH);
    let mut client = TlsClient::connect(addr, &viewer).unwrap();
    assert_eq!(client.write_holding(1, 7).unwrap(), [0x86, 0x01]);
    assert_eq!(client.read_holding(1).unwrap(), [3, 2, 0, 0]);
    let operator = client_config(&ca.pem(), Some(&ca.client("o", Some("operator"))), BOTH);
    let mut client = TlsClient::connect(addr, &operator).unwrap();
    assert_eq!(client.write_holding(1, 7).unwrap(), [6, 0, 1, 0, 7]);
    assert_eq!(client.read_holding(1).unwrap(), [3, 2, 0, 7]);
    assert!(
        refused(addr, &client_config(&ca.pem(), None, BOTH)),
        "no client certificate"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(dir);
}
