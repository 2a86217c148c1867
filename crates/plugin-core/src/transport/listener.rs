//! The plugin's listener: loopback tcp within `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT`, or a
//! unix socket in `PLUGIN_UNIX_SOCKET_DIR` (group-writable for
//! `PLUGIN_UNIX_SOCKET_GROUP`), as go-plugin's `serverListener` does.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};

use crate::protocol::env::{self, env_var};
use crate::protocol::handshake::Network;

use super::socket::Socket;

/// Why no listener could be opened (port range, socket directory, group).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ListenError(String);

/// A bound listener.
#[derive(Debug, Clone)]
pub(crate) enum Listener {
    Tcp(Arc<TcpListener>, String),
    Unix(Arc<UnixListener>, PathBuf),
    /// Streams of a multiplexed connection, for the main server or one broker id; the
    /// network and address are the real listener's.
    Mux(
        Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<super::socket::MuxStream>>>,
        Network,
        String,
    ),
}

impl Listener {
    pub(crate) fn network(&self) -> Network {
        match self {
            Listener::Tcp(..) => Network::Tcp,
            Listener::Unix(..) => Network::Unix,
            Listener::Mux(_, n, _) => *n,
        }
    }
    pub(crate) fn address(&self) -> String {
        match self {
            Listener::Tcp(_, a) => a.clone(),
            Listener::Unix(_, p) => p.display().to_string(),
            Listener::Mux(_, _, a) => a.clone(),
        }
    }
    pub(crate) async fn accept(&self) -> std::io::Result<Socket> {
        match self {
            Listener::Tcp(l, _) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Socket::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Socket::Unix(l.accept().await?.0)),
            Listener::Mux(rx, ..) => match rx.lock().await.recv().await {
                Some(stream) => Ok(Socket::Mux(stream)),
                None => {
                    // The session is gone: nothing more will arrive.
                    std::future::pending::<()>().await;
                    unreachable!()
                }
            },
        }
    }
    /// Stream source for a multiplexed connection's streams.
    pub(crate) fn mux(
        rx: tokio::sync::mpsc::UnboundedReceiver<super::socket::MuxStream>,
        network: Network,
        address: String,
    ) -> Listener {
        Listener::Mux(Arc::new(tokio::sync::Mutex::new(rx)), network, address)
    }

    pub(crate) fn cleanup(&self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A listener on `network`, as go-plugin's `serverListener` makes them (also used for
/// brokered connections).
pub(crate) async fn bind(network: Network) -> Result<Listener, ListenError> {
    match network {
        Network::Tcp => listen_tcp().await,
        Network::Unix => listen_unix(),
    }
}

async fn listen_tcp() -> Result<Listener, ListenError> {
    let parse = |name| -> Result<u16, ListenError> {
        match env_var(name) {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|e| ListenError(format!("couldn't get value from {name}: {e}"))),
        }
    };
    let (min, max) = (parse(env::PLUGIN_MIN_PORT)?, parse(env::PLUGIN_MAX_PORT)?);
    if min > max {
        return Err(ListenError(format!(
            "PLUGIN_MIN_PORT value of {min} is greater than PLUGIN_MAX_PORT value of {max}"
        )));
    }
    // Start at a random point of the range so concurrent plugins don't all race for
    // the first port (go-plugin walks from MIN; any free port in range is valid).
    let span = u32::from(max - min) + 1;
    let offset = (std::process::id()
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)))
        % span;
    for i in 0..span {
        let port = min as u32 + (offset + i) % span;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port as u16)).await {
            let addr = l
                .local_addr()
                .map_err(|e| ListenError(e.to_string()))?
                .to_string();
            return Ok(Listener::Tcp(Arc::new(l), addr));
        }
    }
    Err(ListenError(format!(
        "couldn't bind plugin TCP listener on 127.0.0.1 ports {min}..={max}"
    )))
}

fn listen_unix() -> Result<Listener, ListenError> {
    let dir = env_var(env::PLUGIN_UNIX_SOCKET_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mut last_err = None;
    for _ in 0..16 {
        let mut rnd = [0u8; 5];
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut rnd)
            .map_err(|e| ListenError(format!("random source failed: {e:?}")))?;
        let path = dir.join(format!(
            "plugin{}",
            u64::from_be_bytes([0, 0, 0, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]])
        ));
        match UnixListener::bind(&path) {
            Ok(l) => {
                if let Some(group) = env_var(env::PLUGIN_UNIX_SOCKET_GROUP) {
                    set_group_writable(&path, &group)?;
                }
                return Ok(Listener::Unix(Arc::new(l), path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => {
                return Err(ListenError(format!(
                    "cannot bind unix socket {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(ListenError(format!(
        "no free unix socket name in {}: {last_err:?}",
        dir.display()
    )))
}

fn set_group_writable(path: &std::path::Path, group: &str) -> Result<(), ListenError> {
    use std::os::unix::fs::PermissionsExt;
    let gid: u32 = match group.parse() {
        Ok(gid) => gid,
        Err(_) => {
            let name = std::ffi::CString::new(group)
                .map_err(|_| ListenError(format!("bad group name {group:?}")))?;
            // SAFETY: getgrnam reads a NUL-terminated string and returns a pointer to
            // static storage or null; we copy the gid out at once.
            let gr = unsafe { libc::getgrnam(name.as_ptr()) };
            if gr.is_null() {
                return Err(ListenError(format!(
                    "PLUGIN_UNIX_SOCKET_GROUP names unknown group {group:?}"
                )));
            }
            // SAFETY: non-null pointer returned by getgrnam.
            unsafe { (*gr).gr_gid }
        }
    };
    std::os::unix::fs::chown(path, None, Some(gid))
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)))
        .map_err(|e| {
            ListenError(format!(
                "cannot give {} to group {group}: {e}",
                path.display()
            ))
        })
}
