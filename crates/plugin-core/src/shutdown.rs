//! A one-shot stop signal shared by servers, streams and watchers.

use tokio::sync::watch;

/// Signals that the plugin should stop; every long-lived stream ends when it fires.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    tx: watch::Sender<bool>,
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        ShutdownSignal {
            tx: watch::channel(false).0,
        }
    }
}

impl ShutdownSignal {
    /// Asks for shutdown (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once shutdown was asked for.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Whether shutdown was asked for.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }
}

impl ShutdownSignal {
    /// [`ShutdownSignal::wait`] by value, for APIs that take an owned future.
    pub(crate) async fn wait_owned(self) {
        self.wait().await
    }
}
