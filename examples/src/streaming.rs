//! go-plugin's `examples/streaming`, both sides: the host configures a file path and a
//! chunk size, streams a text to the plugin in chunks (client streaming), and reads it
//! back in chunks (server streaming) under a 1000-byte gRPC message limit; the plugin
//! stores it in that file, relative to its working directory.
//!
//! go-plugin's Go plugin ends `Write` without a response message (its handler returns
//! nil without `SendAndClose`) and the Go host accepts that (`io.EOF`). Our host does
//! too, reading `Write`'s response as a stream of zero or one messages; a generated
//! client-streaming call would fail on it ("Missing response message"), as grpc-go
//! v1.85's does (the version `go/go.mod` selects: "cardinality violation"), which makes
//! the Go example fail against its own plugin. Our plugin always sends the response.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use plugin_core::{MagicCookie, ServeConfig};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::host::{PluginCommand, PluginSpec};
use crate::proto::streaming::streamer_service_client::StreamerServiceClient;
use crate::proto::streaming::streamer_service_server::{StreamerService, StreamerServiceServer};
use crate::proto::streaming::{configure, read, write};

/// Where the host finds its plugin (relative to its working directory).
pub const PLUGIN_PATH: &str = "./plugin/streamer";

/// The protocol version of the example's handshake.
pub const VERSION: u32 = 1;

/// Bytes per chunk, both ways.
pub const CHUNK_SIZE: i64 = 10;

/// The host's gRPC message size limit, sending and receiving.
pub const MESSAGE_SIZE_LIMIT: usize = 1000;

/// What the host writes and expects to read back.
pub const PAYLOAD: &[u8] = b"Lorem ipsum dolor sit amet";

/// The host's launch: `./plugin/streamer`, `BASIC_PLUGIN=hello`, version 1.
pub fn plugin_spec() -> PluginSpec {
    PluginSpec {
        command: PluginCommand::Path(PLUGIN_PATH),
        cookie: MagicCookie::kv_example(),
        versions: vec![VERSION],
    }
}

/// The plugin's serve config: `BASIC_PLUGIN=hello`, version 1.
pub fn serve_config() -> ServeConfig {
    ServeConfig::new(MagicCookie::kv_example(), vec![VERSION])
}

/// `buf.Next(n)` until empty, as both Go sides chunk: no chunk at all for `n <= 0`.
fn chunks(bytes: &[u8], size: i64) -> Vec<Vec<u8>> {
    match usize::try_from(size) {
        Ok(n) if n > 0 => bytes.chunks(n).map(<[u8]>::to_vec).collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Default)]
struct Configured {
    path: PathBuf,
    chunk_size: i64,
}

/// The plugin's service: one file, configured by the host (shared by every connection,
/// as the Go plugin's single server value is).
#[derive(Debug, Clone, Default)]
pub struct FileStreamer {
    configured: Arc<Mutex<Configured>>,
}

impl FileStreamer {
    /// The gRPC routes serving `proto.StreamerService`.
    pub fn routes(self) -> Routes {
        Routes::new(StreamerServiceServer::new(self))
    }

    fn configured(&self) -> (PathBuf, i64) {
        let c = self.configured.lock().expect("configuration lock");
        (c.path.clone(), c.chunk_size)
    }
}

fn io_status(op: &str, path: &std::path::Path, e: std::io::Error) -> Status {
    Status::unknown(format!("{op} {}: {e}", path.display()))
}

#[tonic::async_trait]
impl StreamerService for FileStreamer {
    async fn configure(
        &self,
        request: Request<configure::Request>,
    ) -> Result<Response<configure::Response>, Status> {
        let configure::Request { path, chunk_size } = request.into_inner();
        tracing::debug!(%path, chunk_size, "FileStreamer: Configure");
        *self.configured.lock().expect("configuration lock") = Configured {
            path: path.into(),
            chunk_size,
        };
        Ok(Response::new(configure::Response {}))
    }

    type ReadStream = tokio_stream::Iter<std::vec::IntoIter<Result<read::ResponseChunk, Status>>>;

    async fn read(
        &self,
        _request: Request<read::Request>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let (path, chunk_size) = self.configured();
        tracing::debug!(path = %path.display(), "FileStreamer: Read");
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| io_status("open", &path, e))?;
        let chunks: Vec<_> = chunks(&bytes, chunk_size)
            .into_iter()
            .map(|read_bytes| Ok(read::ResponseChunk { read_bytes }))
            .collect();
        Ok(Response::new(tokio_stream::iter(chunks)))
    }

    async fn write(
        &self,
        request: Request<Streaming<write::RequestChunk>>,
    ) -> Result<Response<write::Response>, Status> {
        let mut incoming = request.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = incoming.message().await? {
            bytes.extend_from_slice(&chunk.bytes_to_write);
        }
        let (path, _) = self.configured();
        tracing::debug!(path = %path.display(), "FileStreamer: Write");
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| io_status("open", &path, e))?;
        tracing::debug!(bytes_written = bytes.len(), "FileStreamer: Write finished");
        Ok(Response::new(write::Response {}))
    }
}

/// The host's side of the service, with the example's message size limit.
#[derive(Debug, Clone)]
pub struct Streamer {
    channel: Channel,
    client: StreamerServiceClient<Channel>,
    chunk_size: i64,
}

impl Streamer {
    /// A client on the plugin's channel.
    pub fn new(channel: Channel) -> Self {
        let client = StreamerServiceClient::new(channel.clone())
            .max_decoding_message_size(MESSAGE_SIZE_LIMIT)
            .max_encoding_message_size(MESSAGE_SIZE_LIMIT);
        Streamer {
            channel,
            client,
            chunk_size: 0,
        }
    }

    /// Tells the plugin which file to use and the chunk size for both directions.
    pub async fn configure(&mut self, path: &str, chunk_size: i64) -> Result<(), Status> {
        self.chunk_size = chunk_size;
        self.client
            .configure(configure::Request {
                path: path.to_string(),
                chunk_size,
            })
            .await?;
        Ok(())
    }

    /// Streams `bytes` to the plugin in chunks; the plugin may answer with no response
    /// message (go-plugin's Go plugin does), which is success.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), Status> {
        let requests: Vec<write::RequestChunk> = chunks(bytes, self.chunk_size)
            .into_iter()
            .map(|bytes_to_write| write::RequestChunk { bytes_to_write })
            .collect();
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(MESSAGE_SIZE_LIMIT)
            .max_encoding_message_size(MESSAGE_SIZE_LIMIT);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("plugin channel not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<write::RequestChunk, write::Response>::default();
        let path = PathAndQuery::from_static("/proto.StreamerService/Write");
        let mut responses = grpc
            .streaming(Request::new(tokio_stream::iter(requests)), path, codec)
            .await?
            .into_inner();
        while responses.message().await?.is_some() {}
        Ok(())
    }

    /// Reads the file back, concatenating the plugin's chunks.
    pub async fn read(&mut self) -> Result<Vec<u8>, Status> {
        let mut stream = self.client.read(read::Request {}).await?.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await? {
            bytes.extend_from_slice(&chunk.read_bytes);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn chunks_like_go_buffer_next() {
        assert_eq!(
            chunks(b"Lorem ipsum dolor sit amet", 10),
            [&b"Lorem ipsu"[..], b"m dolor si", b"t amet"]
        );
        assert!(chunks(b"abc", 0).is_empty());
        assert!(chunks(b"abc", -1).is_empty());
        assert!(chunks(b"", 10).is_empty());
    }
}
