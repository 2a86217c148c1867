//! HTTP/2 settings of every connection soup-rpc serves or dials (the plugin's gRPC server,
//! brokered servers, the host's channel, brokered dials).
//!
//! A plugin's peer is its own host over a unix socket or loopback, where the cost of a
//! large message is syscalls and wake-ups, not bandwidth. h2's defaults (16 KiB frames,
//! 1 MiB windows) cut a 1 MiB Put into 64 DATA frames, each its own `writev` on the sender
//! and one or two reads on the receiver, and the window is smaller than the message, so
//! the sender stalls once per Put for a WINDOW_UPDATE. Measured with `soup bench` (1 MiB
//! Puts, a tmpfs store so the store's fsync does not hide the transport): 256 KiB frames
//! with 4 MiB windows carried 1.4x the MB/s of h2's defaults; bigger windows alone
//! changed nothing; 1 MiB frames were within noise of 256 KiB and would hold a small
//! call behind a large one four times as long.
//!
//! These are the *receiver's* settings: they let the peer send big frames and many of
//! them. A go-plugin (grpc-go) peer writes 16 KiB frames whatever we advertise, and
//! advertises 16 KiB itself, so Go peers are unaffected either way.
//!
//! The allocator is the other half of large-message speed and is the binary's choice, not
//! this library's: soup-rpc's own binaries (`soup`, `soup-server`, the Python extension)
//! use mimalloc, because glibc's malloc maps and zeroes each large buffer afresh (page
//! faults were a fifth of the plugin's cycles in a 1 MiB Put). A plugin or host of yours
//! built on plugin-core gets these HTTP/2 settings either way, and the rest of that gain
//! with `#[global_allocator]` set to mimalloc or jemalloc.

/// SETTINGS_MAX_FRAME_SIZE we advertise (h2 default 16 KiB; the protocol allows 16 MiB).
pub const MAX_FRAME_SIZE: u32 = 256 * 1024;
/// Initial per-stream flow-control window (h2 default 64 KiB; hyper's 1 MiB).
pub const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
/// Initial connection flow-control window.
pub const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

/// A tonic server builder with these settings.
pub fn server(builder: tonic::transport::Server) -> tonic::transport::Server {
    builder
        .max_frame_size(Some(MAX_FRAME_SIZE))
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
}

/// A tonic endpoint with these settings.
pub fn endpoint(endpoint: tonic::transport::Endpoint) -> tonic::transport::Endpoint {
    endpoint
        .max_frame_size(MAX_FRAME_SIZE)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
}
