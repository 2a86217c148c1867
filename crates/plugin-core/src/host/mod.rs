//! The host side: launch a plugin with the env contract (or attach to a running one),
//! read its handshake line, connect (AutoMTLS, manual TLS or plaintext, multiplexed or
//! not), check health, forward its output, broker connections, and shut it down the way
//! go-plugin does, never leaving a zombie.

mod client;
mod connect;
mod error;
mod handshake;
mod process;
mod stderr;
mod stdio;

pub use client::{AttachConfig, LaunchConfig, LaunchTimings, PluginClient, SHUTDOWN_GRACE};
pub use connect::HealthStatus;
pub use error::HostError;
pub use process::{ExitHow, PluginExit};
pub use stderr::StderrTail;
pub use stdio::StdioSink;
