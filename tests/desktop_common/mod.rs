//! Helpers shared by the desktop server's loopback tests (`tests/desktop_*.rs`):
//! starting a server on a free port, a raw Modbus TCP client over
//! `std::net::TcpStream`, and a small deterministic random source.
//!
//! Each test crate uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use modbus_device::runtimes::{ModbusServer, Runtime, ServerConfig};
use modbus_device::{Banks, DataHandler, Service};

#[path = "../common/exceptions.rs"]
pub mod exceptions;
pub mod pty;

pub use exceptions::mbap_frame;

/// How long a test client waits for any one answer before failing.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A loopback server config on a free port, serving in the background.
pub fn loopback_config() -> ServerConfig {
    ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        no_block: true,
        ..ServerConfig::default()
    }
}

/// Starts `service` with `config` and returns the server and its address.
pub fn start<R, B, H>(
    config: ServerConfig,
    service: Service<B, H>,
) -> (ModbusServer<R, B, H>, SocketAddr)
where
    R: Runtime,
    B: Banks + Send + 'static,
    H: DataHandler + Send + 'static,
{
    let server = ModbusServer::<R, B, H>::new(config, service);
    server.start().expect("server starts");
    let addr = server
        .local_addr()
        .expect("a running server has an address");
    (server, addr)
}

/// A raw Modbus TCP client: frames built by hand, answers checked byte for byte.
pub struct RawClient {
    pub stream: TcpStream,
    next_tid: u16,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        RawClient::from_stream(TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect"))
    }

    /// A client on a stream connected elsewhere (from a chosen source
    /// address, say), with the same timeouts and options as [`connect`](Self::connect).
    pub fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            next_tid: 1,
        }
    }

    /// Sends `pdu` to `unit` and returns the response PDU; checks that the
    /// response echoes transaction id, protocol id and unit id.
    pub fn request_unit(&mut self, unit: u8, pdu: &[u8]) -> io::Result<Vec<u8>> {
        let tid = self.next_tid;
        self.next_tid = self.next_tid.wrapping_add(1);
        self.stream.write_all(&mbap_frame(tid, unit, pdu))?;
        let (header, response) = read_frame(&mut self.stream)?;
        assert_eq!(header.0, tid, "transaction id echoed");
        assert_eq!(header.1, unit, "unit id echoed");
        Ok(response)
    }

    /// [`request_unit`](Self::request_unit) to unit 1.
    pub fn request(&mut self, pdu: &[u8]) -> io::Result<Vec<u8>> {
        self.request_unit(1, pdu)
    }

    /// FC 3: `quantity` holding registers from `address`.
    pub fn read_holding(&mut self, address: u16, quantity: u16) -> io::Result<Vec<u16>> {
        let mut pdu = vec![0x03];
        pdu.extend_from_slice(&address.to_be_bytes());
        pdu.extend_from_slice(&quantity.to_be_bytes());
        let response = self.request(&pdu)?;
        Ok(words_of(&response, 0x03, quantity))
    }

    /// FC 4: `quantity` input registers from `address`.
    pub fn read_input(&mut self, address: u16, quantity: u16) -> io::Result<Vec<u16>> {
        let mut pdu = vec![0x04];
        pdu.extend_from_slice(&address.to_be_bytes());
        pdu.extend_from_slice(&quantity.to_be_bytes());
        let response = self.request(&pdu)?;
        Ok(words_of(&response, 0x04, quantity))
    }

    /// FC 16: writes `values` from `address`; panics on an exception.
    pub fn write_holding(&mut self, address: u16, values: &[u16]) -> io::Result<()> {
        let response = self.request(&fc16(address, values))?;
        assert_eq!(
            response,
            fc16(address, values)[..5],
            "FC 16 response echoes the request"
        );
        Ok(())
    }

    /// True once the server has closed this connection (EOF or reset) within `limit`.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        closed_within(&mut self.stream, limit)
    }
}

/// The PDU of FC 16 writing `values` at `address`.
pub fn fc16(address: u16, values: &[u16]) -> Vec<u8> {
    let mut pdu = vec![0x10];
    pdu.extend_from_slice(&address.to_be_bytes());
    pdu.extend_from_slice(&(values.len() as u16).to_be_bytes());
    pdu.push((values.len() * 2) as u8);
    for v in values {
        pdu.extend_from_slice(&v.to_be_bytes());
    }
    pdu
}

/// The registers of a FC 3 / 4 / 23 response PDU; panics if it is anything else.
pub fn words_of(response: &[u8], function: u8, quantity: u16) -> Vec<u16> {
    assert_eq!(
        response.first(),
        Some(&function),
        "response {response:02X?}"
    );
    assert_eq!(
        usize::from(response[1]),
        usize::from(quantity) * 2,
        "byte count"
    );
    assert_eq!(
        response.len(),
        2 + usize::from(quantity) * 2,
        "response length"
    );
    response[2..]
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

/// Reads one response frame: `((transaction id, unit id), pdu)`; checks the
/// protocol id and length field.
pub fn read_frame(stream: &mut TcpStream) -> io::Result<((u16, u8), Vec<u8>)> {
    let mut header = [0u8; 7];
    stream.read_exact(&mut header)?;
    assert_eq!(&header[2..4], &[0, 0], "protocol id 0");
    let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
    assert!((2..=254).contains(&length), "length field {length}");
    let mut pdu = vec![0u8; length - 1];
    stream.read_exact(&mut pdu)?;
    Ok(((u16::from_be_bytes([header[0], header[1]]), header[6]), pdu))
}

/// True once the peer has closed `stream` (EOF or reset) within `limit`.
/// Bytes that arrive meanwhile are discarded.
pub fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// True if this machine can bind an IPv6 loopback socket.
pub fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A small deterministic pseudo-random source (xorshift64*), so failures replay.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64() as u8;
        }
    }
}

/// Runs the test body `$f::<R>()` once per runtime, as three `#[test]`s
/// (async-std, smol, tokio).
#[macro_export]
macro_rules! all_runtimes {
    ($($name:ident),* $(,)?) => {
        mod async_std_runtime {
            $(#[test] fn $name() { super::$name::<modbus_device::runtimes::async_std::AsyncStd>(); })*
        }
        mod smol_runtime {
            $(#[test] fn $name() { super::$name::<modbus_device::runtimes::smol::Smol>(); })*
        }
        mod tokio_runtime {
            $(#[test] fn $name() { super::$name::<modbus_device::runtimes::tokio::Tokio>(); })*
        }
    };
}

/// Compiles `tests/c/<source>` against libmodbus into the test's temporary
/// directory; `None` if `cc` or libmodbus (libmodbus-dev) is missing.
pub fn build_libmodbus_client(source: &str) -> Option<std::path::PathBuf> {
    use std::path::Path;
    use std::process::Command;
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(source);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(source.file_stem()?);
    // Debian's libmodbus-dev: headers in /usr/include/modbus.
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libmodbus"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "-I/usr/include/modbus -lmodbus".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).into_owned(),
        );
    let built = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .args(flags.split_whitespace())
        .status()
        .is_ok_and(|s| s.success());
    built.then_some(out)
}

/// The interpreter that has the Python clients: `$MODBUS_PYTHON`, else the
/// virtual environment `ci/clients.sh` makes (`target/venv`), else `python3`.
pub fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("MODBUS_PYTHON").filter(|p| !p.is_empty()) {
        return python.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// Whether `MODBUS_SKIP_EXTERNAL=1` allows skipping a missing client.
pub fn skip_allowed() -> bool {
    std::env::var("MODBUS_SKIP_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Whether an external client (`what`) is there; without it, fails unless
/// skipping is allowed.
pub fn require(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            skip_allowed(),
            "{what} is missing (run ci/install.sh, or set MODBUS_SKIP_EXTERNAL=1 to skip)"
        );
        eprintln!("SKIPPED: {what} is missing (MODBUS_SKIP_EXTERNAL=1; ci/install.sh installs it)");
    }
    present
}
