//! Thin adapters that drive [`Engine`](crate::Engine)s over sockets.
