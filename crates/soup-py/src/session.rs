//! One hosted plugin, shared by every Python handle (KvClient, Plugin, their channels)
//! and thread that uses it, and the guarantee that its process is gone (killed and
//! reaped) once nobody holds it.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use plugin_core::SHUTDOWN_GRACE;
use tokio::sync::RwLock;

use crate::errors::Failure;
use crate::info::{Handshake, PluginExit};
use crate::launch::LaunchRequest;
use crate::raw::{self, CallOptions, UnaryReply};
use crate::runtime;

/// How long `close()` lets in-flight calls finish before killing the plugin under them.
const IN_FLIGHT_GRACE: Duration = SHUTDOWN_GRACE;
/// The most a garbage-collected client blocks its dropping thread for the reap.
const REAP_WAIT: Duration = Duration::from_secs(5);

/// A call's own deadline: `None` for the client's (`call_timeout`), `Some(None)` for
/// none at all, `Some(Some(d))` for `d`.
pub type CallTimeout = Option<Option<Duration>>;

/// A launched plugin and its KV client.
#[derive(Debug)]
pub struct Session {
    /// Calls hold a read lock for their duration; `close` takes the write lock, so it
    /// waits for calls in flight and later calls find `None`.
    kv: RwLock<Option<soup_client::KvClient>>,
    /// Serialises closers (only one may decide to kill).
    closing: tokio::sync::Mutex<()>,
    pid: Option<u32>,
    call_timeout: Option<Duration>,
    handshake: Handshake,
    exit: Mutex<Option<PluginExit>>,
    final_stderr: Mutex<Vec<String>>,
}

impl Session {
    /// Launches the plugin (on the runtime).
    pub async fn launch(request: LaunchRequest) -> Result<Arc<Session>, Failure> {
        let call_timeout = request.call_timeout;
        let (config, manual_leaf) = request.into_config()?;
        let kv = soup_client::KvClient::launch(config)
            .await?
            .with_timeout(call_timeout);
        let plugin = kv.plugin();
        let session = Arc::new(Session {
            pid: plugin.pid(),
            call_timeout,
            handshake: Handshake::of(plugin, manual_leaf.as_deref()),
            kv: RwLock::new(Some(kv)),
            closing: tokio::sync::Mutex::new(()),
            exit: Mutex::new(None),
            final_stderr: Mutex::new(Vec::new()),
        });
        register(&session);
        Ok(session)
    }

    /// Reads a key within `timeout` (see [`CallTimeout`]).
    pub async fn get(&self, key: &str, timeout: CallTimeout) -> Result<Vec<u8>, Failure> {
        let guard = self.kv.read().await;
        let kv = guard.as_ref().ok_or(Failure::Closed)?;
        let timeout = timeout.unwrap_or_else(|| kv.timeout());
        Ok(kv.get_with_timeout(key, timeout).await?)
    }

    /// Writes a key within `timeout` (see [`CallTimeout`]).
    pub async fn put(&self, key: &str, value: &[u8], timeout: CallTimeout) -> Result<(), Failure> {
        let guard = self.kv.read().await;
        let kv = guard.as_ref().ok_or(Failure::Closed)?;
        let timeout = timeout.unwrap_or_else(|| kv.timeout());
        Ok(kv.put_with_timeout(key, value, timeout).await?)
    }

    /// Makes a unary call through the channel within `timeout` (see [`CallTimeout`]).
    pub async fn unary(
        &self,
        message: Bytes,
        mut options: CallOptions,
        timeout: CallTimeout,
    ) -> Result<UnaryReply, Failure> {
        let guard = self.kv.read().await;
        let kv = guard.as_ref().ok_or(Failure::Closed)?;
        options.timeout = timeout.unwrap_or(self.call_timeout);
        raw::unary(kv.plugin().channel(), message, options).await
    }

    /// The plugin's channel, for a streaming call. Unlike unary calls, streams do not
    /// hold up `close` (a server stream such as health's Watch may never end): they
    /// fail when the plugin goes.
    pub async fn channel(&self) -> Result<tonic::transport::Channel, Failure> {
        let guard = self.kv.read().await;
        let kv = guard.as_ref().ok_or(Failure::Closed)?;
        Ok(kv.plugin().channel())
    }

    /// The deadline of calls made without their own (`call_timeout` of `launch`).
    pub fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }

    /// Shuts the plugin down as go-plugin does and reaps it; idempotent. Calls still in
    /// flight get [`IN_FLIGHT_GRACE`] to finish before the plugin is killed under them.
    pub async fn close(self: Arc<Self>) -> Result<PluginExit, Failure> {
        let _closing = self.closing.lock().await;
        if let Some(exit) = self.recorded_exit() {
            return Ok(exit);
        }
        let mut killed = false;
        let mut guard = match tokio::time::timeout(IN_FLIGHT_GRACE, self.kv.write()).await {
            Ok(guard) => guard,
            Err(_) => {
                // Safe to signal by pid: the child is not reaped while we hold `closing`
                // and the client is still in `kv`.
                kill(self.pid);
                killed = true;
                self.kv.write().await
            }
        };
        let kv = guard
            .take()
            .ok_or_else(|| Failure::Internal("client closed without an exit record".into()))?;
        *lock(&self.final_stderr) = kv.plugin().stderr_tail();
        let exit = PluginExit::new(kv.shutdown().await, killed);
        *lock(&self.exit) = Some(exit.clone());
        Ok(exit)
    }

    /// What the handshake negotiated.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The plugin's pid (kept after close, for diagnostics).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// How the plugin ended, once closed.
    pub fn recorded_exit(&self) -> Option<PluginExit> {
        lock(&self.exit).clone()
    }

    /// Whether `close` has finished.
    pub fn is_closed(&self) -> bool {
        lock(&self.exit).is_some()
    }

    /// The plugin's latest stderr lines (as of closing, once closed).
    pub fn stderr_tail(&self) -> Vec<String> {
        match self.kv.try_read() {
            Ok(guard) => match guard.as_ref() {
                Some(kv) => kv.plugin().stderr_tail(),
                None => lock(&self.final_stderr).clone(),
            },
            // A close is under way; report what it saw, or nothing yet.
            Err(_) => lock(&self.final_stderr).clone(),
        }
    }
}

impl Drop for Session {
    /// An unclosed client being dropped (garbage-collected): SIGKILL the plugin, then reap
    /// it on the runtime, waiting for the reap (at most [`REAP_WAIT`]) unless we are on
    /// the runtime ourselves; a reap not done by then finishes in the background.
    fn drop(&mut self) {
        let Some(kv) = self.kv.get_mut().take() else {
            return;
        };
        kill(self.pid);
        let (done, reaped) = tokio::sync::oneshot::channel::<()>();
        let spawned = runtime::spawn(async move {
            kv.shutdown().await;
            let _ = done.send(());
        });
        if spawned.is_ok() {
            runtime::block_on_for(
                async {
                    let _ = reaped.await;
                },
                REAP_WAIT,
            );
        }
    }
}

fn kill(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on our own child, which is not reaped yet (callers guarantee it).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every live session, so interpreter exit can shut their plugins down gracefully.
fn live() -> &'static Mutex<Vec<Weak<Session>>> {
    static LIVE: Mutex<Vec<Weak<Session>>> = Mutex::new(Vec::new());
    &LIVE
}

fn register(session: &Arc<Session>) {
    let mut live = lock(live());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(session));
}

/// Closes every session still open (called by an `atexit` hook).
pub async fn close_all() {
    let sessions: Vec<Arc<Session>> = lock(live()).drain(..).filter_map(|w| w.upgrade()).collect();
    for s in sessions {
        let _ = s.close().await;
    }
}
