//! go-plugin's `examples/bidirectional/plugin-go-grpc`, in Rust: a Counter whose Put asks
//! the host to do the addition, by dialling the host's AddHelper through the GRPCBroker
//! under the id the host put in the request. State is a JSON file `kv_<key>` in the
//! working directory (`{"Value":N}`), as the Go plugin keeps it, so either plugin reads
//! what the other wrote.

use plugin_core::{Broker, MagicCookie, PluginContext, ServeConfig};
use tonic::{Request, Response, Status};

mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/bidirectional/proto.rs"));
}

use proto::add_helper_client::AddHelperClient;
use proto::counter_server::{Counter, CounterServer};

struct CounterImpl {
    broker: Broker,
}

fn read(key: &str) -> Result<i64, Status> {
    let raw = std::fs::read(format!("kv_{key}"))
        .map_err(|e| Status::not_found(format!("kv_{key}: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| Status::data_loss(format!("kv_{key} is not JSON: {e}")))?;
    v.get("Value")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| Status::data_loss(format!("kv_{key} has no integer \"Value\"")))
}

#[tonic::async_trait]
impl Counter for CounterImpl {
    async fn get(
        &self,
        req: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetResponse>, Status> {
        let value = read(&req.into_inner().key)?;
        Ok(Response::new(proto::GetResponse { value }))
    }

    async fn put(&self, req: Request<proto::PutRequest>) -> Result<Response<proto::Empty>, Status> {
        let req = req.into_inner();
        // As the Go plugin: a key not stored yet counts from 0.
        let current = read(&req.key).unwrap_or(0);
        let channel = self
            .broker
            .dial(req.add_server)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let sum = AddHelperClient::new(channel)
            .sum(proto::SumRequest {
                a: current,
                b: req.value,
            })
            .await?
            .into_inner()
            .r;
        std::fs::write(format!("kv_{}", req.key), format!("{{\"Value\":{sum}}}"))
            .map_err(|e| Status::internal(format!("kv_{}: {e}", req.key)))?;
        Ok(Response::new(proto::Empty {}))
    }
}

fn main() -> std::process::ExitCode {
    let config = ServeConfig::new(MagicCookie::new("BASIC_PLUGIN", "hello"), vec![1]);
    plugin_core::run_plugin_with("bidirectional-plugin", config, |ctx: &PluginContext| {
        tonic::service::Routes::new(CounterServer::new(CounterImpl {
            broker: ctx.broker().clone(),
        }))
    })
}
