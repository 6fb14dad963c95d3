//! What a handler knows about the request it serves.

use core::net::SocketAddr;

use crate::wire::FunctionCode;

/// Information about the request being served, passed to every handler
/// method and change callback (pyModbusTCP's `srv_info` / `SessionData`).
///
/// The lifetime is that of the connection's [`ClientIdentity`], which the
/// connection owns and lends for the request: to keep a `SessionInfo`
/// beyond the call, keep [`detached`](Self::detached).
#[doc(alias = "srv_info")]
#[doc(alias = "SessionData")]
#[doc(alias = "ClientInfo")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionInfo<'a> {
    /// The client's address and port, when the transport knows it.
    pub client_addr: Option<SocketAddr>,
    /// The unit id of the request (echoed in the response).
    pub unit_id: u8,
    /// The transaction id of the request (echoed in the response).
    pub transaction_id: u16,
    /// The request's function code.
    pub function_code: FunctionCode,
    /// Who the client is, when the transport authenticated it (Modbus/TCP
    /// Security: the TLS client certificate's subject and role); `None` on
    /// plain Modbus TCP.
    pub identity: Option<ClientIdentity<'a>>,
}

/// An authenticated client: what its certificate says (Modbus/TCP Security,
/// `MB-TCP-Security-v36_2021-07-30`, section 8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientIdentity<'a> {
    /// The certificate's subject, as an RFC 4514 string (`CN=client,O=org`).
    pub subject: &'a str,
    /// The role of the certificate's extension 1.3.6.1.4.1.50316.802.1;
    /// `None` is the specification's NULL role: no role extension.
    pub role: Option<&'a str>,
}

impl SessionInfo<'_> {
    /// Session info for a request that did not come over a connection (tests,
    /// local calls): no client address, unit 0, transaction 0, no identity.
    #[must_use]
    pub const fn local(function_code: FunctionCode) -> SessionInfo<'static> {
        SessionInfo {
            client_addr: None,
            unit_id: 0,
            transaction_id: 0,
            function_code,
            identity: None,
        }
    }

    /// This session info without the identity, to keep beyond the request
    /// (a change log).
    #[must_use]
    pub const fn detached(&self) -> SessionInfo<'static> {
        SessionInfo {
            client_addr: self.client_addr,
            unit_id: self.unit_id,
            transaction_id: self.transaction_id,
            function_code: self.function_code,
            identity: None,
        }
    }
}
