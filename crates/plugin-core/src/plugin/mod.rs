//! The plugin side: read the env contract, listen, print the handshake line (or, in
//! debug mode, how to attach), serve gRPC (the application's services, health,
//! reflection and go-plugin's internal ones) until the host shuts us down or goes away.

mod debug;
mod lifecycle;
mod reflection;
mod serve;
pub(crate) mod services;

pub use debug::DebugServe;
pub use lifecycle::ServeOutcome;
pub use serve::{
    MAX_MESSAGE_SIZE, PluginContext, ServeConfig, ServeError, run_plugin, run_plugin_with, serve,
    serve_with,
};
pub use services::{PluginStdio, StdioChannel};
