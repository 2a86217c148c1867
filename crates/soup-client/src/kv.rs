//! A KV client over a hosted plugin.

use std::future::Future;
use std::time::Duration;

use plugin_core::{HostError, LaunchConfig, PluginClient, PluginExit};
use tonic::transport::Channel;

/// A KV operation or launch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// Launching or connecting to the plugin failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The RPC returned a non-OK status.
    #[error("{op} {key:?} failed: {code:?}: {message}")]
    Rpc {
        /// `get` or `put`.
        op: &'static str,
        /// The key.
        key: String,
        /// gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// The call had a deadline (see [`KvClient::with_timeout`]) and no answer came
    /// within it: the plugin may be frozen (e.g. stopped by SIGSTOP), overloaded or
    /// deadlocked. The call was abandoned (its HTTP/2 stream reset); the client is still
    /// usable. Also what a plugin's own `DEADLINE_EXCEEDED` answer to a call with a
    /// deadline becomes (the deadline travels as the `grpc-timeout` header).
    #[error(
        "{op} {key:?}: no answer within {deadline:?} (deadline exceeded{}); the plugin may be \
         frozen or overloaded; raise the call timeout if it is only slow",
        reported(.message)
    )]
    #[non_exhaustive]
    DeadlineExceeded {
        /// `get` or `put`.
        op: &'static str,
        /// The key.
        key: String,
        /// The deadline the call had.
        deadline: Duration,
        /// The plugin's status message when the plugin itself answered
        /// `DEADLINE_EXCEEDED`; `None` when this host stopped waiting (e.g. on a frozen
        /// plugin).
        message: Option<String>,
    },
}

fn reported(message: &Option<String>) -> String {
    match message {
        Some(m) => format!(", reported by the plugin: {m:?}"),
        None => String::new(),
    }
}

impl KvError {
    /// A non-OK status for a call that had `deadline`.
    fn status(
        op: &'static str,
        key: &str,
        deadline: Option<Duration>,
        status: tonic::Status,
    ) -> Self {
        // A plugin on grpc-go or grpcio answers an expired `grpc-timeout` with
        // DEADLINE_EXCEEDED. tonic enforces the header too, on both sides, and reports
        // its `TimeoutExpired` as CANCELLED "Timeout expired": on this side that is tonic's
        // channel giving up at the deadline (it races our own timer), so it is ours.
        let reported = match status.code() {
            tonic::Code::DeadlineExceeded => Some(Some(status.message().to_string())),
            tonic::Code::Cancelled if status.message() == tonic::TimeoutExpired(()).to_string() => {
                Some(None)
            }
            _ => None,
        };
        match (deadline, reported) {
            (Some(deadline), Some(message)) => KvError::DeadlineExceeded {
                op,
                key: key.to_string(),
                deadline,
                message,
            },
            _ => KvError::Rpc {
                op,
                key: key.to_string(),
                code: status.code(),
                message: status.message().to_string(),
            },
        }
    }

    /// The gRPC status code, for RPC errors: [`tonic::Code::DeadlineExceeded`] for
    /// [`KvError::DeadlineExceeded`], whether this host or the plugin gave up.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            KvError::Rpc { code, .. } => Some(*code),
            KvError::DeadlineExceeded { .. } => Some(tonic::Code::DeadlineExceeded),
            KvError::Host(_) => None,
        }
    }
}

/// A launched KV plugin.
///
/// Calls have no deadline unless one is set, as with tonic: a call to a plugin that
/// never answers (frozen, deadlocked) then waits forever. Set a default for every call
/// with [`with_timeout`](Self::with_timeout) / [`set_timeout`](Self::set_timeout), or
/// per call with [`get_with_timeout`](Self::get_with_timeout) /
/// [`put_with_timeout`](Self::put_with_timeout); an expired deadline is
/// [`KvError::DeadlineExceeded`].
///
/// ```no_run
/// # async fn demo() -> Result<(), soup_client::KvError> {
/// use std::time::Duration;
/// use soup_client::{KvClient, KvError, LaunchConfig};
/// let kv = KvClient::launch(LaunchConfig::new(["soup-server", "server"]))
///     .await?
///     .with_timeout(Some(Duration::from_secs(2)));
/// match kv.get("greeting").await {
///     Err(KvError::DeadlineExceeded { deadline, .. }) => eprintln!("no answer in {deadline:?}"),
///     other => println!("{:?}", other?),
/// }
/// // One slow call: its own deadline (None: none at all).
/// kv.put_with_timeout("big", &[0; 1 << 20], Some(Duration::from_secs(30))).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct KvClient {
    plugin: PluginClient,
    kv: kv_proto::KvClient<Channel>,
    timeout: Option<Duration>,
}

impl KvClient {
    /// Launches the plugin and connects.
    pub async fn launch(config: LaunchConfig) -> Result<Self, KvError> {
        let plugin = PluginClient::launch(config).await?;
        Ok(Self::over(plugin))
    }

    /// A KV client over an already launched plugin.
    pub fn over(plugin: PluginClient) -> Self {
        let kv = kv_proto::KvClient::new(plugin.channel())
            .max_decoding_message_size(plugin_core::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(plugin_core::MAX_MESSAGE_SIZE);
        KvClient {
            plugin,
            kv,
            timeout: None,
        }
    }

    /// The same client with `limit` bytes as the largest message it sends or accepts
    /// (default [`plugin_core::MAX_MESSAGE_SIZE`], 256 MiB). The plugin has its own limit.
    #[must_use]
    pub fn with_max_message_size(mut self, limit: usize) -> Self {
        self.kv = self
            .kv
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        self
    }

    /// The same client with `timeout` as the deadline of every [`get`](Self::get) and
    /// [`put`](Self::put) (`None`, the default: no deadline). Each call sends it to the
    /// plugin as `grpc-timeout` and also stops waiting itself when it passes, so a
    /// plugin that never answers (frozen by SIGSTOP, deadlocked) still gets
    /// [`KvError::DeadlineExceeded`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the deadline of later calls, as [`with_timeout`](Self::with_timeout).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The deadline [`get`](Self::get) and [`put`](Self::put) use (`None`: none).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Reads a key, within the client's [`timeout`](Self::timeout) if it has one.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, KvError> {
        self.get_with_timeout(key, self.timeout).await
    }

    /// Reads a key with this call's own deadline (`None`: none, whatever the client's).
    pub async fn get_with_timeout(
        &self,
        key: &str,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, KvError> {
        let mut kv = self.kv.clone();
        let request = request(kv_proto::GetRequest { key: key.into() }, timeout);
        let answer = within("get", key, timeout, kv.get(request)).await;
        self.name_a_dead_plugin(answer)
            .await
            .map(|r| r.into_inner().value)
    }

    /// Writes a key, within the client's [`timeout`](Self::timeout) if it has one.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.put_with_timeout(key, value, self.timeout).await
    }

    /// Writes a key with this call's own deadline (`None`: none, whatever the client's).
    pub async fn put_with_timeout(
        &self,
        key: &str,
        value: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), KvError> {
        let mut kv = self.kv.clone();
        let request = request(
            kv_proto::PutRequest {
                key: key.into(),
                value: value.to_vec(),
            },
            timeout,
        );
        let answer = within("put", key, timeout, kv.put(request)).await;
        self.name_a_dead_plugin(answer).await.map(|_| ())
    }

    /// A call that failed at the transport (tonic's `UNKNOWN: transport error`, or
    /// `UNAVAILABLE`) because the plugin process died says so: `UNAVAILABLE`, "the plugin
    /// exited during the call (killed by signal 9)". Waits a bounded moment for the
    /// process watcher to see the exit; a plugin that is still running keeps the
    /// transport's own error.
    async fn name_a_dead_plugin<T>(&self, answer: Result<T, KvError>) -> Result<T, KvError> {
        let Err(KvError::Rpc {
            op,
            key,
            code,
            message,
        }) = answer
        else {
            return answer;
        };
        let transport = code == tonic::Code::Unavailable
            || (code == tonic::Code::Unknown && message.contains("transport error"));
        if transport
            && let Ok(exit) =
                tokio::time::timeout(Duration::from_millis(250), self.plugin.exited()).await
        {
            return Err(KvError::Rpc {
                op,
                key,
                code: tonic::Code::Unavailable,
                message: format!(
                    "the plugin exited during the call ({}); the transport said: {message}",
                    exit.describe()
                ),
            });
        }
        Err(KvError::Rpc {
            op,
            key,
            code,
            message,
        })
    }

    /// The hosted plugin (handshake, certificates, stderr tail).
    pub fn plugin(&self) -> &PluginClient {
        &self.plugin
    }

    /// Shuts the plugin down (Shutdown RPC, grace period, kill) and reaps it.
    pub async fn shutdown(self) -> PluginExit {
        drop(self.kv);
        self.plugin.shutdown().await
    }
}

/// `message` as a request carrying `timeout` as its `grpc-timeout`.
fn request<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
    // grpc-timeout holds at most 8 digits of hours: longer is no deadline for the plugin
    // (tonic would panic on it); this host still waits only `timeout`.
    const MAX_GRPC_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);
    let mut request = tonic::Request::new(message);
    if let Some(timeout) = timeout.filter(|t| *t <= MAX_GRPC_TIMEOUT) {
        request.set_timeout(timeout);
    }
    request
}

/// Awaits `call`, giving up after `timeout`: the plugin may never answer, so the
/// `grpc-timeout` header alone cannot bound the wait.
async fn within<T>(
    op: &'static str,
    key: &str,
    timeout: Option<Duration>,
    call: impl Future<Output = Result<T, tonic::Status>>,
) -> Result<T, KvError> {
    let answer = match timeout {
        None => call.await,
        Some(deadline) => match tokio::time::timeout(deadline, call).await {
            Ok(answer) => answer,
            Err(_elapsed) => {
                return Err(KvError::DeadlineExceeded {
                    op,
                    key: key.to_string(),
                    deadline,
                    message: None,
                });
            }
        },
    };
    answer.map_err(|status| KvError::status(op, key, timeout, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Option<Duration> = Some(Duration::from_secs(1));

    #[test]
    fn a_plugins_deadline_answer_is_deadline_exceeded_when_the_call_had_one() {
        // grpc-go's answer.
        let status = tonic::Status::deadline_exceeded("context deadline exceeded");
        let e = KvError::status("get", "k", SECOND, status);
        assert_eq!(e.code(), Some(tonic::Code::DeadlineExceeded));
        match &e {
            KvError::DeadlineExceeded {
                op: "get",
                key,
                deadline,
                message: Some(m),
            } => {
                assert_eq!(key, "k");
                assert_eq!(Some(*deadline), SECOND);
                assert_eq!(m, "context deadline exceeded");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "get \"k\": no answer within 1s (deadline exceeded, reported by the plugin: \
             \"context deadline exceeded\"); the plugin may be frozen or overloaded; raise \
             the call timeout if it is only slow"
        );
        // tonic's channel (or a tonic plugin) enforcing grpc-timeout.
        let e = KvError::status(
            "put",
            "k",
            SECOND,
            tonic::Status::cancelled("Timeout expired"),
        );
        assert!(
            matches!(
                e,
                KvError::DeadlineExceeded {
                    op: "put",
                    message: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), Some(tonic::Code::DeadlineExceeded));
    }

    #[test]
    fn other_statuses_and_calls_without_deadline_stay_rpc_errors() {
        let e = KvError::status("get", "k", None, tonic::Status::deadline_exceeded("x"));
        assert!(
            matches!(
                e,
                KvError::Rpc {
                    code: tonic::Code::DeadlineExceeded,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = KvError::status("put", "k", SECOND, tonic::Status::cancelled("by peer"));
        assert!(
            matches!(
                e,
                KvError::Rpc {
                    code: tonic::Code::Cancelled,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = KvError::status("get", "k", SECOND, tonic::Status::not_found("no"));
        assert_eq!(e.code(), Some(tonic::Code::NotFound));
    }
}
