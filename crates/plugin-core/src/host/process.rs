//! The plugin process: how it ended, and the one task that signals and reaps it.

use std::sync::Arc;
use std::time::Duration;

use tokio::process::Child;
use tokio::task::JoinHandle;

/// How a plugin process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PluginExit {
    /// `exited` (on its own), `killed` (by us after the grace period), `signaled`.
    pub how: ExitHow,
    /// Exit code when it exited normally.
    pub code: Option<i32>,
    /// Signal number when a signal ended it.
    pub signal: Option<i32>,
}

impl PluginExit {
    /// `exit code 3`, `killed by signal 9`, ...
    pub fn describe(&self) -> String {
        super::error::describe_exit(self.code, self.signal)
    }
}

/// See [`PluginExit::how`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitHow {
    /// It exited by itself (after Shutdown, or on its own).
    Exited,
    /// We killed it after the grace period.
    Killed,
    /// Another signal ended it.
    Signaled,
    /// Still running: an attached plugin in test mode (left for the next attach), or one
    /// that did not exit after Shutdown and that this host, not its parent, won't kill.
    LeftRunning,
}

fn exit_of(status: std::process::ExitStatus, killed_by_us: bool) -> PluginExit {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), killed_by_us) {
        (Some(_), _) => ExitHow::Exited,
        (None, true) => ExitHow::Killed,
        (None, false) => ExitHow::Signaled,
    };
    PluginExit {
        how,
        code: status.code(),
        signal: status.signal(),
    }
}

/// The plugin process after a successful launch, owned by one supervising task: it
/// alone signals and reaps the child, so a signal never reaches a reaped (and possibly
/// reused) pid (go-plugin#320).
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) pid: Option<u32>,
    /// `None` for an attached plugin: we never signal what we did not start.
    pub(crate) signals: Option<tokio::sync::mpsc::UnboundedSender<i32>>,
    pub(crate) exit: tokio::sync::watch::Receiver<Option<PluginExit>>,
    pub(crate) expected: Arc<std::sync::atomic::AtomicBool>,
    /// `Some(test)` when attached rather than spawned.
    pub(crate) attached: Option<bool>,
}

impl Process {
    pub(crate) fn supervise(mut child: Child, group: bool) -> Process {
        let pid = child.id();
        let (signals, mut rx) = tokio::sync::mpsc::unbounded_channel::<i32>();
        let (exit_tx, exit) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let mut killed = false;
            let mut orphaned = false;
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    sig = rx.recv(), if !orphaned => {
                        // No sender left: the PluginClient is gone; kill, then reap.
                        let sig = sig.unwrap_or_else(|| { orphaned = true; libc::SIGKILL });
                        killed |= sig == libc::SIGKILL;
                        if let Some(pid) = child.id() {
                            let target = if group { -(pid as i32) } else { pid as i32 };
                            // SAFETY: kill(2) on our own child (or its group), not yet reaped.
                            unsafe { libc::kill(target, sig) };
                        }
                    }
                }
            };
            if group
                && killed
                && let Some(pid) = pid
            {
                // What the leader left behind in its group.
                // SAFETY: kill(2); the group id stays taken while members live.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            let exit = match status {
                Ok(status) => exit_of(status, killed),
                Err(_) => PluginExit {
                    how: ExitHow::Killed,
                    code: None,
                    signal: None,
                },
            };
            exit_tx.send_replace(Some(exit));
        });
        Process {
            pid,
            signals: Some(signals),
            exit,
            expected: Arc::default(),
            attached: None,
        }
    }

    /// A running process we did not start: watched through a pidfd, which names that
    /// very process (no pid reuse race) and is never signalled.
    pub(crate) fn attached(pid: i32, test: bool) -> std::io::Result<Process> {
        use std::os::fd::{FromRawFd as _, OwnedFd};
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the OwnedFd moves into the AsyncFd, stays open and is the same fd for
        // the AsyncFd's whole life.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (exit_tx, exit) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            // Readable once the process has exited.
            let _ = fd.readable().await;
            exit_tx.send_replace(Some(PluginExit {
                how: ExitHow::Exited,
                code: None,
                signal: None,
            }));
        });
        Ok(Process {
            pid: Some(pid as u32),
            signals: None,
            exit,
            expected: Arc::default(),
            attached: Some(test),
        })
    }

    /// Attached without a pid: nothing to watch.
    pub(crate) fn unknown(test: bool) -> Process {
        let (tx, exit) = tokio::sync::watch::channel(None);
        std::mem::forget(tx);
        Process {
            pid: None,
            signals: None,
            exit,
            expected: Arc::default(),
            attached: Some(test),
        }
    }

    pub(crate) fn signal(&self, sig: i32) {
        if let Some(s) = &self.signals {
            let _ = s.send(sig);
        }
    }
}

pub(crate) async fn kill_and_reap(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// After a failed connection: SIGTERM, so the plugin can log its side of the failure
/// (a TLS alert, say) before it goes, then SIGKILL if it has not exited in 500 ms.
pub(crate) async fn terminate_and_reap(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        if tokio::time::timeout(Duration::from_millis(500), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    kill_and_reap(child).await;
}

/// Waits (bounded) for the pipe readers so the stderr tail is complete.
pub(crate) async fn settle(readers: &mut Vec<JoinHandle<()>>) {
    for r in readers.drain(..) {
        let abort = r.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), r)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
