//! Modbus/TCP Security (`MB-TCP-Security-v36_2021-07-30`, the "mbaps"
//! protocol of port 802) on the desktop server: TLS 1.2 and 1.3 through
//! rustls, a client certificate required and verified against the
//! configured CA(s), and the client's role taken from its certificate.
//!
//! The handshake runs in the connection's task, after admission (the
//! server's connection limits hold before any cryptography is spent) and
//! within [`TlsConfig::handshake_timeout`]. The MBAP ADUs then flow
//! unchanged inside TLS through the same engine and driver as plain
//! Modbus TCP; only the [`ClientIdentity`] is added to each request's
//! `SessionInfo`, for the [`Authorize`](crate::authorize::Authorize) hook
//! and the handler.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use std::vec::Vec;

use futures::future::{select, Either};
use futures::io::{AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig as RustlsConfig};

use super::config::{DisconnectReason, TcpFraming};
use super::connection::{serve, serve_as};
use super::pool::EnginePool;
use super::Runtime;
use crate::{ClientIdentity, Respond, Shared};

/// The port IANA assigned to Modbus/TCP Security (the specification's
/// section 5): the port to give [`ServerConfig::port`](super::ServerConfig::port)
/// when TLS is on.
pub const TLS_PORT: u16 = 802;

/// The OID of the role extension of a client certificate:
/// 1.3.6.1.4.1.50316.802.1, in DER.
const ROLE_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 50316, 802, 1];

/// How long a handshake may take by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sessions kept for resumption by session id.
const SESSION_CACHE: usize = 1024;

/// Why a TLS configuration cannot be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    Pem(String),
    /// rustls refused the certificates or the key.
    Tls(rustls::Error),
    /// No usable CA certificate for client verification.
    ClientCa(String),
}

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TlsError::Pem(e) => write!(f, "PEM: {e}"),
            TlsError::Tls(e) => write!(f, "TLS: {e}"),
            TlsError::ClientCa(e) => write!(f, "client CA: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        TlsError::Tls(e)
    }
}

/// The TLS side of a server: its certificate and key, the CA(s) that client
/// certificates must chain to, and the handshake timeout.
///
/// A cheap handle: clones share the same configuration, so the application
/// keeps one to [`replace`](Self::replace) the certificates while the
/// server runs; connections accepted after that use the new ones, those
/// already open keep theirs.
#[derive(Clone)]
pub struct TlsConfig {
    current: Arc<RwLock<Arc<RustlsConfig>>>,
    /// A handshake not finished in this long closes the connection.
    /// Default: 10 s.
    pub handshake_timeout: Duration,
}

impl TlsConfig {
    /// From PEM files: the server's certificate chain (its certificate
    /// first), its private key (PKCS #8, PKCS #1 or SEC1), and the CA
    /// certificate(s) client certificates must chain to.
    ///
    /// # Errors
    ///
    /// A file cannot be read or parsed, or rustls refuses its content.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        client_ca: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| TlsError::Pem(format!("{}: {e}", path.display())))
        };
        Self::from_pem(
            &read(cert.as_ref())?,
            &read(key.as_ref())?,
            &read(client_ca.as_ref())?,
        )
    }

    /// From PEM text, as [`from_pem_files`](Self::from_pem_files).
    ///
    /// # Errors
    ///
    /// The PEM cannot be parsed, or rustls refuses its content.
    pub fn from_pem(cert: &[u8], key: &[u8], client_ca: &[u8]) -> Result<Self, TlsError> {
        Ok(TlsConfig {
            current: Arc::new(RwLock::new(rustls_config(cert, key, client_ca)?)),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        })
    }

    /// From a rustls configuration of the application's own (its choice of
    /// verifier, versions, suites). It should require client certificates:
    /// the specification makes mutual authentication mandatory.
    #[must_use]
    pub fn from_rustls(config: Arc<RustlsConfig>) -> Self {
        TlsConfig {
            current: Arc::new(RwLock::new(config)),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Replaces the certificates, key and CAs for the connections accepted
    /// from now on (every clone of this handle sees the change).
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem); the current configuration is kept.
    pub fn replace(&self, cert: &[u8], key: &[u8], client_ca: &[u8]) -> Result<(), TlsError> {
        let config = rustls_config(cert, key, client_ca)?;
        self.replace_rustls(config);
        Ok(())
    }

    /// Replaces the rustls configuration for the connections accepted from
    /// now on.
    pub fn replace_rustls(&self, config: Arc<RustlsConfig>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
    }

    /// The configuration new connections get.
    fn acceptor(&self) -> TlsAcceptor {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        TlsAcceptor::from(Arc::clone(&current))
    }
}

impl core::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Two handles are equal when they share one configuration.
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.current, &other.current)
            && self.handshake_timeout == other.handshake_timeout
    }
}

impl Eq for TlsConfig {}

/// The rustls configuration of Modbus/TCP Security: TLS 1.2 and 1.3 only
/// ring's suites (among them the required
/// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and
/// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 on P-256, R-14, R-62; all AEAD,
/// none with SHA-1 or MD5, R-50, R-51), a client certificate required and
/// verified (chain, validity, R-44), session ids and tickets.
fn rustls_config(cert: &[u8], key: &[u8], client_ca: &[u8]) -> Result<Arc<RustlsConfig>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Pem(
            "no certificate in the certificate file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Pem(format!("key: {e}")))?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca) {
        let ca = ca.map_err(|e| TlsError::ClientCa(e.to_string()))?;
        roots.add(ca)?;
    }
    if roots.is_empty() {
        return Err(TlsError::ClientCa("no CA certificate".into()));
    }
    // ring, not aws-lc-rs: it builds with a C compiler alone. rustls marks
    // it deprecated for lacking post-quantum key exchange, which the
    // specification does not ask for.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    let mut config = RustlsConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// The identity of a client certificate, owned by its connection.
struct OwnedIdentity {
    subject: String,
    role: Option<String>,
}

impl OwnedIdentity {
    fn as_identity(&self) -> ClientIdentity<'_> {
        ClientIdentity {
            subject: &self.subject,
            role: self.role.as_deref(),
        }
    }
}

/// The subject and role of a client's end-entity certificate (already
/// verified by rustls): `Err` when it does not parse or its role extension
/// is not one UTF8String.
fn identity_of(cert: &CertificateDer<'_>) -> Result<OwnedIdentity, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("client certificate: {e}"))?;
    let oid =
        x509_parser::der_parser::oid::Oid::from(ROLE_OID).map_err(|_| String::from("role OID"))?;
    let mut roles = cert
        .extensions()
        .iter()
        .filter(|extension| extension.oid == oid);
    let role = match (roles.next(), roles.next()) {
        (None, _) => None,
        (Some(extension), None) => Some(utf8_string(extension.value)?),
        (Some(_), Some(_)) => return Err("more than one role extension".into()),
    };
    Ok(OwnedIdentity {
        subject: cert.subject().to_string(),
        role,
    })
}

/// The text of a DER UTF8String that is the whole of `der`.
fn utf8_string(der: &[u8]) -> Result<String, String> {
    use x509_parser::der_parser::asn1_rs::{FromDer, Utf8String};
    match Utf8String::from_der(der) {
        Ok(([], text)) => Ok(text.string()),
        _ => Err("the role extension is not one ASN.1 UTF8String".into()),
    }
}

/// Serves an accepted stream: through TLS when `tls` is set (boxed, so a
/// plain connection's task is not sized for TLS's state), as plain Modbus
/// TCP otherwise.
pub(crate) fn serve_maybe_tls<R, S, X>(
    tls: Option<&TlsConfig>,
    stream: S,
    client: std::net::SocketAddr,
    shared: Arc<X>,
    pool: Arc<EnginePool>,
    two_answers_since: Arc<AtomicU64>,
    framing: TcpFraming,
) -> impl Future<Output = DisconnectReason>
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin,
    X: Shared + Send + Sync + ?Sized,
    X::Target: Respond,
{
    match tls {
        None => Either::Left(serve::<R, _, _>(
            stream,
            client,
            shared,
            pool,
            two_answers_since,
            framing,
        )),
        Some(tls) => Either::Right(Box::pin(serve_tls::<R, _, _>(
            tls.acceptor(),
            tls.handshake_timeout,
            stream,
            client,
            shared,
            pool,
            two_answers_since,
        ))),
    }
}

/// The handshake (bounded by `timeout`), the client's identity, then the
/// Modbus connection inside TLS.
async fn serve_tls<R, S, X>(
    acceptor: TlsAcceptor,
    timeout: Duration,
    stream: S,
    client: std::net::SocketAddr,
    shared: Arc<X>,
    pool: Arc<EnginePool>,
    two_answers_since: Arc<AtomicU64>,
) -> DisconnectReason
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin,
    X: Shared + Send + Sync + ?Sized,
    X::Target: Respond,
{
    let handshake = acceptor.accept(stream);
    let limit = core::pin::pin!(R::sleep_until(std::time::Instant::now() + timeout));
    let stream = match select(handshake, limit).await {
        Either::Left((Ok(stream), _)) => stream,
        // rustls has sent its fatal alert when it could.
        Either::Left((Err(e), _)) => return DisconnectReason::Tls(e.to_string()),
        Either::Right(_) => return DisconnectReason::Tls("handshake timed out".into()),
    };
    let identity = match stream.get_ref().1.peer_certificates() {
        Some([end_entity, ..]) => identity_of(end_entity),
        // The verifier requires a certificate: unreachable with our
        // configuration, refused in case an application's own allows it.
        _ => Err("no client certificate".into()),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(e) => return DisconnectReason::Tls(e),
    };
    log::debug!(
        "modbus server: {} authenticated as {:?}, role {:?}",
        client,
        identity.subject,
        identity.role
    );
    serve_as::<R, _, _>(
        FlushedWrites {
            inner: stream,
            unflushed: 0,
        },
        client,
        shared,
        pool,
        two_answers_since,
        TcpFraming::Mbap,
        Some(identity.as_identity()),
    )
    .await
}

/// A TLS stream whose writes count only once their records reached the
/// socket.
///
/// futures-rustls's `poll_write` takes the plaintext, and leaves the
/// records the socket did not take in rustls's buffer until the next write
/// or flush. The connection driver does not flush (see `runtimes/io.rs`):
/// the last response of a batch would wait there, the client would wait
/// for it, and nothing would write again. So a write is reported (and the
/// driver's write-stall deadline keeps running) until its records are out.
struct FlushedWrites<T> {
    inner: T,
    /// Plaintext bytes taken by the last `poll_write` whose records are not
    /// all out yet: reported when they are.
    unflushed: usize,
}

impl<T: AsyncRead + Unpin> AsyncRead for FlushedWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FlushedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // The caller retries with the same bytes after `Pending` (write_all
        // does, and the driver keeps its write across timer wake-ups).
        if self.unflushed == 0 {
            match Pin::new(&mut self.inner).poll_write(cx, buf) {
                Poll::Ready(Ok(n)) => self.unflushed = n,
                other => return other,
            }
        }
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(core::mem::take(&mut self.unflushed))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_role_is_read_and_anything_else_refused() {
        assert_eq!(utf8_string(b"\x0c\x08Operator").unwrap(), "Operator");
        assert!(utf8_string(b"\x13\x08Operator").is_err(), "PrintableString");
        assert!(utf8_string(b"\x0c\x09Operator").is_err(), "short");
        assert!(utf8_string(b"\x0c\x07Operator").is_err(), "trailing bytes");
        assert!(utf8_string(b"").is_err());
    }
}
