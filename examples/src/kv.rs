//! go-plugin's KV example, both sides, as examples/grpc and version 3 of
//! examples/negotiated use it: the plugin keeps each key in a file `kv_<key>` in its
//! working directory, marking what it writes and reads with its own text; the host's
//! command line is `put KEY VALUE` / `get KEY`, with `KV_PROTO` choosing the protocol.

use std::io::Write as _;

use anyhow::Context as _;
use kv_proto::{Empty, GetRequest, GetResponse, Kv, KvClient, KvServer, PutRequest};
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The variable go-plugin's KV example hosts read to pick the protocol.
pub const KV_PROTO: &str = "KV_PROTO";

/// What go-plugin's KV example hosts print (on stdout, then exit 1) when `KV_PROTO` is
/// neither `grpc` nor `netrpc`.
pub const KV_PROTO_UNSET: &str = "must set KV_PROTO to netrpc or grpc";

/// The protocol `KV_PROTO` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvProtocol {
    /// `grpc`: the protocol soup-rpc speaks.
    Grpc,
    /// `netrpc`: go-plugin's net/rpc over yamux, which soup-rpc does not implement.
    NetRpc,
}

impl KvProtocol {
    /// `KV_PROTO` from the environment; `None` when unset or unknown.
    pub fn from_env() -> Option<Self> {
        match std::env::var(KV_PROTO).ok()?.as_str() {
            "grpc" => Some(KvProtocol::Grpc),
            "netrpc" => Some(KvProtocol::NetRpc),
            _ => None,
        }
    }
}

/// The texts a KV plugin adds: after the value it writes, and after the file it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvTexts {
    /// Appended to every value before it is written.
    pub written: &'static str,
    /// Appended to the file's content on every Get.
    pub read: &'static str,
}

/// The KV service over files `kv_<key>` in the working directory.
#[derive(Debug, Clone, Copy)]
pub struct FileKv {
    texts: KvTexts,
}

impl FileKv {
    /// A store that marks values with `texts`.
    pub fn new(texts: KvTexts) -> Self {
        FileKv { texts }
    }

    /// The gRPC routes serving this store as `proto.KV`.
    pub fn routes(self) -> Routes {
        Routes::new(KvServer::new(self))
    }
}

fn file_name(key: &str) -> String {
    format!("kv_{key}")
}

#[tonic::async_trait]
impl Kv for FileKv {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let file = file_name(&request.into_inner().key);
        let mut value = tokio::fs::read(&file)
            .await
            .map_err(|e| Status::unknown(format!("open {file}: {e}")))?;
        value.extend_from_slice(self.texts.read.as_bytes());
        Ok(Response::new(GetResponse { value }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<Empty>, Status> {
        let PutRequest { key, mut value } = request.into_inner();
        value.extend_from_slice(self.texts.written.as_bytes());
        let file = file_name(&key);
        tokio::fs::write(&file, value)
            .await
            .map_err(|e| Status::unknown(format!("open {file}: {e}")))?;
        Ok(Response::new(Empty {}))
    }
}

/// The KV example host's command line.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum KvCommand {
    /// Store VALUE under KEY (the plugin adds its text after it).
    Put {
        /// The key (the plugin's file is `kv_<KEY>`).
        key: String,
        /// The value.
        value: String,
    },
    /// Print the value stored under KEY.
    Get {
        /// The key.
        key: String,
    },
}

/// Runs one KV command against the plugin: `get` prints the value and a newline on
/// stdout, as go-plugin's example host does.
pub async fn run(channel: Channel, command: &KvCommand) -> anyhow::Result<()> {
    let mut kv = KvClient::new(channel);
    match command {
        KvCommand::Put { key, value } => {
            kv.put(PutRequest {
                key: key.clone(),
                value: value.clone().into_bytes(),
            })
            .await
            .map_err(|s| status_error("put", key, s))?;
        }
        KvCommand::Get { key } => {
            let value = kv
                .get(GetRequest { key: key.clone() })
                .await
                .map_err(|s| status_error("get", key, s))?
                .into_inner()
                .value;
            let mut out = std::io::stdout().lock();
            out.write_all(&value)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush())
                .context("writing the value to stdout")?;
        }
    }
    Ok(())
}

fn status_error(op: &str, key: &str, status: Status) -> anyhow::Error {
    anyhow::anyhow!(
        "{op} {key:?}: rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    )
}
