//! go-plugin's `examples/bidirectional`, both sides: the host calls the plugin's Counter,
//! and for Put serves its own AddHelper through the GRPCBroker under a fresh broker id it
//! puts in the request; the plugin dials that id and has the host do the addition. State
//! is a JSON file `kv_<key>` (`{"Value":N}`, as the Go plugin's `json.Marshal` writes it)
//! in the plugin's working directory, so either plugin reads what the other wrote. The
//! host runs `sh -c "$COUNTER_PLUGIN"`; cookie `BASIC_PLUGIN=hello`, version 1.

use std::io::Write as _;

use anyhow::Context as _;
use plugin_core::{Broker, MagicCookie, ServeConfig};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::host::{Connection, PluginCommand, PluginSpec};
use crate::proto::bidirectional::add_helper_client::AddHelperClient;
use crate::proto::bidirectional::add_helper_server::{AddHelper, AddHelperServer};
use crate::proto::bidirectional::counter_client::CounterClient;
use crate::proto::bidirectional::counter_server::{Counter, CounterServer};
use crate::proto::bidirectional::{
    Empty, GetRequest, GetResponse, PutRequest, SumRequest, SumResponse,
};

/// The variable holding the plugin command (run by `sh -c`).
pub const PLUGIN_ENV: &str = "COUNTER_PLUGIN";

/// The protocol version of `shared.Handshake`.
pub const VERSION: u32 = 1;

/// The host's launch: `sh -c "$COUNTER_PLUGIN"`, `BASIC_PLUGIN=hello`, version 1.
pub fn plugin_spec() -> PluginSpec {
    PluginSpec {
        command: PluginCommand::ShellFromEnv(PLUGIN_ENV),
        cookie: MagicCookie::kv_example(),
        versions: vec![VERSION],
    }
}

/// The plugin's serve config: `BASIC_PLUGIN=hello`, version 1; AutoMTLS and broker
/// multiplexing whenever the host asks for them, as every go-plugin plugin.
pub fn serve_config() -> ServeConfig {
    ServeConfig::new(MagicCookie::kv_example(), vec![VERSION])
}

fn file_name(key: &str) -> String {
    format!("kv_{key}")
}

/// What the Go plugin's Get returns for a file: its JSON `Value`, an error otherwise.
fn read_value(key: &str) -> Result<i64, Status> {
    let file = file_name(key);
    let raw = std::fs::read(&file).map_err(|e| Status::unknown(format!("open {file}: {e}")))?;
    let data: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| Status::unknown(format!("{file} is not JSON: {e}")))?;
    match data.get("Value") {
        // json.Unmarshal leaves a missing field at zero.
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| Status::unknown(format!("{file}: Value {v} is not an int64"))),
    }
}

/// What the Go plugin's `json.Marshal(&data{r})` writes.
pub fn file_content(value: i64) -> String {
    format!("{{\"Value\":{value}}}")
}

/// The plugin's Counter over files `kv_<key>`, asking the host's AddHelper (through the
/// broker) to add.
#[derive(Debug, Clone)]
pub struct FileCounter {
    broker: Broker,
}

impl FileCounter {
    /// A counter that dials the host's AddHelper through `broker` (the plugin's end).
    pub fn new(broker: Broker) -> Self {
        FileCounter { broker }
    }

    /// The gRPC routes serving this counter as `proto.Counter`.
    pub fn routes(self) -> Routes {
        Routes::new(CounterServer::new(self))
    }
}

#[tonic::async_trait]
impl Counter for FileCounter {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let value = read_value(&request.into_inner().key)?;
        Ok(Response::new(GetResponse { value }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<Empty>, Status> {
        let PutRequest {
            add_server,
            key,
            value,
        } = request.into_inner();
        let channel = self
            .broker
            .dial(add_server)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        // As the Go plugin: a key that cannot be read counts from 0.
        let current = read_value(&key).unwrap_or(0);
        let sum = AddHelperClient::new(channel)
            .sum(SumRequest {
                a: current,
                b: value,
            })
            .await?
            .into_inner()
            .r;
        let file = file_name(&key);
        std::fs::write(&file, file_content(sum))
            .map_err(|e| Status::unknown(format!("open {file}: {e}")))?;
        Ok(Response::new(Empty {}))
    }
}

/// The host's AddHelper: `a + b` (an overflow is an error rather than a wrap).
#[derive(Debug, Clone, Copy, Default)]
pub struct Adder;

impl Adder {
    /// The gRPC routes serving `proto.AddHelper`.
    pub fn routes(self) -> Routes {
        Routes::new(AddHelperServer::new(self))
    }
}

#[tonic::async_trait]
impl AddHelper for Adder {
    async fn sum(&self, request: Request<SumRequest>) -> Result<Response<SumResponse>, Status> {
        let SumRequest { a, b } = request.into_inner();
        let r = a
            .checked_add(b)
            .ok_or_else(|| Status::out_of_range(format!("{a} + {b} overflows int64")))?;
        Ok(Response::new(SumResponse { r }))
    }
}

/// The bidirectional host's command line.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum CounterCommand {
    /// Add N to the count stored under KEY (the host does the addition for the plugin).
    Put {
        /// The key (the plugin's file is `kv_<KEY>`).
        key: String,
        /// What to add.
        #[arg(allow_negative_numbers = true)]
        value: i64,
    },
    /// Print the count stored under KEY.
    Get {
        /// The key.
        key: String,
    },
}

/// Runs one command against the plugin: `get` prints the count and a newline on stdout;
/// `put` serves [`Adder`] through the broker for the duration of the call, as go-plugin's
/// `shared.GRPCClient.Put` does.
pub async fn run(connection: Connection, command: &CounterCommand) -> anyhow::Result<()> {
    let mut counter = CounterClient::new(connection.channel);
    match command {
        CounterCommand::Get { key } => {
            let value = counter
                .get(GetRequest { key: key.clone() })
                .await
                .map_err(status_error)?
                .into_inner()
                .value;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{value}")
                .and_then(|()| out.flush())
                .context("writing the count to stdout")?;
        }
        CounterCommand::Put { key, value } => {
            let broker = connection.broker;
            let id = broker.next_id();
            let server = broker
                .accept_and_serve(id, Adder.routes())
                .await
                .with_context(|| format!("serving AddHelper through the broker (id {id})"))?;
            let result = counter
                .put(PutRequest {
                    add_server: id,
                    key: key.clone(),
                    value: *value,
                })
                .await;
            server.stop().await;
            result.map_err(status_error)?;
        }
    }
    Ok(())
}

/// grpc-go's text for a status, as the Go host prints it.
fn status_error(status: Status) -> anyhow::Error {
    anyhow::anyhow!(
        "rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_content_is_what_go_json_marshal_writes() {
        assert_eq!(file_content(12), r#"{"Value":12}"#);
        assert_eq!(file_content(-3), r#"{"Value":-3}"#);
    }

    #[tokio::test]
    async fn adder_adds_and_refuses_to_overflow() {
        let sum = |a, b| async move { Adder.sum(Request::new(SumRequest { a, b })).await };
        assert_eq!(sum(5, 7).await.unwrap().into_inner().r, 12);
        let err = sum(i64::MAX, 1).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::OutOfRange);
    }
}
