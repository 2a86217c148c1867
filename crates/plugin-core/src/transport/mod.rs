//! Byte streams: sockets and TLS streams ([`socket`]), listeners as go-plugin makes them,
//! the server's accept loop, and the yamux session of multiplexed connections.

pub(crate) mod accept;
pub mod h2;
pub(crate) mod listener;
pub(crate) mod mux;
pub mod socket;
