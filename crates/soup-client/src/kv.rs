//! A KV client over a hosted plugin.

use plugin_core::{HostError, LaunchConfig, PluginClient, PluginExit};
use tonic::transport::Channel;

/// A KV operation or launch failed.
#[derive(Debug, thiserror::Error)]
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
}

impl KvError {
    fn rpc(op: &'static str, key: &str, status: tonic::Status) -> Self {
        KvError::Rpc {
            op,
            key: key.to_string(),
            code: status.code(),
            message: status.message().to_string(),
        }
    }

    /// The gRPC status code, for RPC errors.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            KvError::Rpc { code, .. } => Some(*code),
            KvError::Host(_) => None,
        }
    }
}

/// A launched KV plugin.
#[derive(Debug)]
pub struct KvClient {
    plugin: PluginClient,
    kv: kv_proto::KvClient<Channel>,
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
        KvClient { plugin, kv }
    }

    /// Reads a key.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, KvError> {
        self.kv
            .clone()
            .get(kv_proto::GetRequest { key: key.into() })
            .await
            .map(|r| r.into_inner().value)
            .map_err(|s| KvError::rpc("get", key, s))
    }

    /// Writes a key.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.kv
            .clone()
            .put(kv_proto::PutRequest {
                key: key.into(),
                value: value.to_vec(),
            })
            .await
            .map(|_| ())
            .map_err(|s| KvError::rpc("put", key, s))
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
