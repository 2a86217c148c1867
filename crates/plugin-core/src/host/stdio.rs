//! Where a plugin's GRPCStdio output goes on the host (go-plugin's `SyncStdout` /
//! `SyncStderr`).

use std::sync::Arc;

/// Where a plugin's GRPCStdio output goes on the host.
#[derive(Clone, Default)]
pub enum StdioSink {
    /// The host's own stdout (for the plugin's stdout) or stderr (for its stderr).
    #[default]
    Inherit,
    /// The host's stderr, whichever channel: for hosts whose stdout is their own output
    /// (a report, a value) that a plugin's prints must not corrupt.
    Stderr,
    /// Debug-level `tracing` events, one per chunk.
    Log,
    /// Dropped (go-plugin's default when `SyncStdout` is nil).
    Discard,
    /// A writer of the caller's.
    Writer(Arc<std::sync::Mutex<dyn std::io::Write + Send>>),
}

impl std::fmt::Debug for StdioSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StdioSink::Inherit => "Inherit",
            StdioSink::Stderr => "Stderr",
            StdioSink::Log => "Log",
            StdioSink::Discard => "Discard",
            StdioSink::Writer(_) => "Writer(..)",
        })
    }
}
