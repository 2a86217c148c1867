//! go-plugin's wire contract, independent of either side: the environment a host sets
//! ([`env`](mod@env)), the handshake line a plugin prints ([`handshake`]), hclog JSON logs
//! ([`hclog`]), reattach configs ([`reattach`]) and the internal services' protos
//! ([`proto`]).

pub mod env;
pub mod handshake;
pub mod hclog;
pub mod proto;
pub mod reattach;
