//! What ends a plugin besides the host's Shutdown RPC: SIGTERM, and the host process
//! going away (go-plugin plugins linger then; ours exit). SIGINT is ignored, as go-plugin
//! plugins do: a terminal's Ctrl-C reaches the whole process group, and the host
//! sequences plugin shutdown itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::shutdown::ShutdownSignal;

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeOutcome {
    /// The host called GRPCController.Shutdown.
    ShutdownRequested,
    /// The host process went away.
    HostExited,
    /// SIGTERM.
    Terminated,
}

static HOST_PID: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

/// Records the parent process as the host, once, as early as the plugin can: at the
/// start of `run_plugin`/`serve`. Later calls keep the first value.
pub(crate) fn note_host_pid() -> i32 {
    // SAFETY: getppid has no preconditions.
    *HOST_PID.get_or_init(|| unsafe { libc::getppid() })
}

fn host_pid() -> i32 {
    note_host_pid()
}

/// What the plugin watches besides Shutdown.
pub(crate) struct Watch {
    /// Debug mode: Ctrl-C stops, no host to follow.
    pub(crate) debug: bool,
    /// Exit when the parent process goes away.
    pub(crate) exit_with_host: bool,
}

pub(crate) fn spawn_stop_watchers(
    config: &Watch,
    shutdown: &ShutdownSignal,
    outcome: &Arc<Mutex<Option<ServeOutcome>>>,
) {
    let set = {
        let outcome = outcome.clone();
        let shutdown = shutdown.clone();
        move |o: ServeOutcome| {
            outcome.lock().expect("outcome lock").get_or_insert(o);
            shutdown.trigger();
        }
    };

    // SIGINT: counted and logged, otherwise ignored; in debug mode (no host, a
    // terminal) Ctrl-C stops the plugin.
    if let Ok(mut sigint) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    {
        let debug = config.debug;
        let set = set.clone();
        tokio::spawn(async move {
            if debug {
                if sigint.recv().await.is_some() {
                    set(ServeOutcome::Terminated);
                    tracing::info!("interrupt: shutting down (debug mode)");
                }
                return;
            }
            let mut count = 0u64;
            while sigint.recv().await.is_some() {
                count += 1;
                tracing::trace!(count, "plugin received interrupt signal, ignoring");
            }
        });
    }
    if let Ok(mut sigterm) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        let set = set.clone();
        tokio::spawn(async move {
            if sigterm.recv().await.is_some() {
                // Stop first: logging is best effort (stderr may be a closed pipe).
                set(ServeOutcome::Terminated);
                tracing::info!("SIGTERM: shutting down");
            }
        });
    }
    {
        let shutdown = shutdown.clone();
        let outcome = outcome.clone();
        tokio::spawn(async move {
            shutdown.wait().await;
            outcome
                .lock()
                .expect("outcome lock")
                .get_or_insert(ServeOutcome::ShutdownRequested);
        });
    }
    if config.exit_with_host && !config.debug {
        // The parent as first seen (the host that started us): a host that dies while we
        // still generate keys or bind must not leave us following its successor.
        let parent = host_pid();
        if parent > 1 {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    // SAFETY: as above.
                    if unsafe { libc::getppid() } != parent {
                        set(ServeOutcome::HostExited);
                        tracing::warn!(host_pid = parent, "host process exited; shutting down");
                        break;
                    }
                }
            });
        }
    }
}
