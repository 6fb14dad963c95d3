//! What a handler knows about the request it serves.

use core::net::SocketAddr;

use crate::wire::FunctionCode;

/// Information about the request being served, passed to every handler
/// method and change callback (pyModbusTCP's `srv_info` / `SessionData`).
#[doc(alias = "srv_info")]
#[doc(alias = "SessionData")]
#[doc(alias = "ClientInfo")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionInfo {
    /// The client's address and port, when the transport knows it.
    pub client_addr: Option<SocketAddr>,
    /// The unit id of the request (echoed in the response).
    pub unit_id: u8,
    /// The transaction id of the request (echoed in the response).
    pub transaction_id: u16,
    /// The request's function code.
    pub function_code: FunctionCode,
}

impl SessionInfo {
    /// Session info for a request that did not come over a connection (tests,
    /// local calls): no client address, unit 0, transaction 0.
    #[must_use]
    pub const fn local(function_code: FunctionCode) -> Self {
        SessionInfo {
            client_addr: None,
            unit_id: 0,
            transaction_id: 0,
            function_code,
        }
    }
}
