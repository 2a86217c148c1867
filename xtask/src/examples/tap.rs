//! `cargo xtask handshake-tap --record FILE -- PLUGIN…`: stands between an example host
//! and its plugin to record the plugin's handshake line, since the Go example hosts print
//! nothing about it. It relays the plugin's stdout line by line (the handshake line goes
//! to FILE first), inherits stdin and stderr, forwards SIGTERM, ignores SIGINT (as
//! go-plugin plugins do), exits as the plugin exited, and exits at once when its own
//! parent (the host) goes away, so a plugin that watches its parent still sees the host
//! leave.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

/// Flags of `cargo xtask handshake-tap`.
#[derive(Args, Debug)]
pub struct TapArgs {
    /// Where the plugin's first stdout line goes.
    #[arg(long)]
    pub record: PathBuf,
    /// The plugin command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

static PLUGIN_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = PLUGIN_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe; the pid is our child's.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Runs the tap; never returns on success (exits with the plugin's status).
pub fn run(args: &TapArgs) -> Result<()> {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let mut child = Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("handshake-tap: cannot start {}", args.command[0]))?;
    PLUGIN_PID.store(child.id() as i32, Ordering::SeqCst);
    // SAFETY: installing a handler that only calls kill(2), and ignoring SIGINT.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            forward_signal as *const () as libc::sighandler_t,
        );
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                std::process::exit(1);
            }
        }
    });

    let mut from_plugin = BufReader::new(child.stdout.take().expect("stdout is piped"));
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
            let _ = std::fs::write(&args.record, &line);
        }
        // A host that stopped reading must not stall the plugin: keep draining.
        let _ = to_host.write_all(&line).and_then(|()| to_host.flush());
    }
    let status = child
        .wait()
        .context("handshake-tap: waiting for the plugin")?;
    use std::os::unix::process::ExitStatusExt;
    std::process::exit(match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    });
}
