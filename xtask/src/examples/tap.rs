//! `cargo xtask handshake-tap --record FILE [--record-env FILE] -- PLUGIN…`: stands between
//! an example host and its plugin to record the plugin's handshake line, since the Go
//! example hosts print nothing about it, and what the host asked for in the plugin's
//! environment (`--record-env`: [`HostRequest`] as JSON).
//!
//! It does not stay between them: it forks a relay, which copies the plugin's stdout to
//! the host line by line (the first line to FILE first) and keeps draining when the host
//! stops reading, and then execs the plugin in its own process. The plugin is thus the
//! very process the host started (its pid, its parent, its exit status): a host's SIGKILL
//! or SIGTERM reaches it, and a plugin that watches its parent sees the host leave. The
//! relay, a child of the plugin, holds neither stdin nor stderr and exits when the
//! plugin's stdout closes.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

/// Flags of `cargo xtask handshake-tap`.
#[derive(Args, Debug)]
pub struct TapArgs {
    /// Where the plugin's first stdout line goes.
    #[arg(long)]
    pub record: PathBuf,
    /// Where the go-plugin variables the host set for the plugin go (JSON).
    #[arg(long)]
    pub record_env: Option<PathBuf>,
    /// The plugin command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// What the host asked of its plugin through go-plugin's environment contract.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRequest {
    /// `PLUGIN_MULTIPLEX_GRPC` (go-plugin sets `true` for GRPCBrokerMultiplex; unset
    /// otherwise).
    pub multiplex_grpc: Option<String>,
    /// `PLUGIN_PROTOCOL_VERSIONS`.
    pub protocol_versions: Option<String>,
    /// Whether `PLUGIN_CLIENT_CERT` (AutoMTLS) was set.
    pub client_cert: bool,
}

impl HostRequest {
    /// From this process's environment.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
        HostRequest {
            multiplex_grpc: var("PLUGIN_MULTIPLEX_GRPC"),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            client_cert: var("PLUGIN_CLIENT_CERT").is_some_and(|v| !v.is_empty()),
        }
    }

    /// Whether the host asked for multiplexing (Go's `strconv.ParseBool` true values,
    /// as go-plugin's plugin side reads it).
    pub fn asks_multiplex(&self) -> bool {
        matches!(
            self.multiplex_grpc.as_deref(),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }
}

/// Runs the tap; on success never returns (the process becomes the plugin).
pub fn run(args: &TapArgs) -> Result<()> {
    if let Some(path) = &args.record_env {
        let _ = std::fs::write(
            path,
            serde_json::to_string(&HostRequest::from_env()).expect("serializable"),
        );
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("handshake-tap: pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here only.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: xtask is single-threaded here (clap parsing only), so the child may run
    // arbitrary code; it only relays and exits.
    match unsafe { libc::fork() } {
        -1 => bail!("handshake-tap: fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop(write_end);
            relay(read_end, &args.record);
        }
        _ => {}
    }
    drop(read_end);
    // SAFETY: dup2 onto stdout of a descriptor we own; the original stays close-on-exec.
    if unsafe { libc::dup2(write_end.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
        bail!("handshake-tap: dup2: {}", std::io::Error::last_os_error());
    }
    drop(write_end);
    let err = Command::new(&args.command[0])
        .args(&args.command[1..])
        .exec();
    Err(err).with_context(|| format!("handshake-tap: cannot start {}", args.command[0]))
}

/// The relay process: the plugin's stdout (`from`) to ours, the first line to `record`.
fn relay(from: OwnedFd, record: &std::path::Path) -> ! {
    // Hold neither the host's stdin nor its stderr: a host waiting for the plugin's
    // stderr to close must not wait for the relay too.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        // SAFETY: dup2 of a descriptor we own onto stdin and stderr.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO);
            libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO);
        }
    }
    // The host hanging up our stdout must not kill the relay before the plugin is done.
    // SAFETY: ignoring SIGPIPE (writes then fail with EPIPE, which is ignored).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut from_plugin = BufReader::new(std::fs::File::from(from));
    let mut to_host = std::io::stdout().lock();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        match from_plugin.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if first {
            first = false;
            let _ = std::fs::write(record, &line);
        }
        // A host that stopped reading must not stall the plugin: keep draining.
        let _ = to_host.write_all(&line).and_then(|()| to_host.flush());
    }
    // SAFETY: _exit skips the parent's atexit state, which a forked child must not run.
    unsafe { libc::_exit(0) }
}
