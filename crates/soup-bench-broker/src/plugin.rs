//! The plugin: a Counter whose Put asks the host to do the addition through the broker,
//! as go-plugin's `examples/bidirectional/plugin-go-grpc`, with the count in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use plugin_core::{Broker, MagicCookie, PluginContext, ServeConfig};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::proto::{self, add_helper_client::AddHelperClient, counter_server};

/// How the plugin reaches the host's AddHelper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dial {
    /// Dial an id once and keep the connection for later Puts naming the same id.
    Once,
    /// Dial for every Put and close before replying (go-plugin's example).
    PerCall,
}

struct Counter {
    broker: Broker,
    dial: Dial,
    /// `Dial::Once`: the connections dialled so far, by broker id.
    dialled: Mutex<HashMap<u32, Channel>>,
    values: Mutex<HashMap<String, i64>>,
}

impl Counter {
    async fn channel(&self, id: u32) -> Result<Channel, Status> {
        if self.dial == Dial::Once
            && let Some(c) = self.dialled.lock().expect("lock").get(&id)
        {
            return Ok(c.clone());
        }
        let c = self
            .broker
            .dial(id)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if self.dial == Dial::Once {
            self.dialled.lock().expect("lock").insert(id, c.clone());
        }
        Ok(c)
    }
}

#[tonic::async_trait]
impl counter_server::Counter for Counter {
    async fn get(
        &self,
        req: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetResponse>, Status> {
        let key = req.into_inner().key;
        let value = self.values.lock().expect("lock").get(&key).copied();
        value
            .map(|value| Response::new(proto::GetResponse { value }))
            .ok_or_else(|| Status::not_found(format!("no value for {key:?}")))
    }

    async fn put(&self, req: Request<proto::PutRequest>) -> Result<Response<proto::Empty>, Status> {
        let req = req.into_inner();
        let current = self
            .values
            .lock()
            .expect("lock")
            .get(&req.key)
            .copied()
            .unwrap_or(0);
        let channel = self.channel(req.add_server).await?;
        let sum = AddHelperClient::new(channel)
            .sum(proto::SumRequest {
                a: current,
                b: req.value,
            })
            .await?
            .into_inner()
            .r;
        // Dial::PerCall: the channel (the only handle) is dropped here, before the reply,
        // as the Go example's deferred conn.Close().
        self.values.lock().expect("lock").insert(req.key, sum);
        Ok(Response::new(proto::Empty {}))
    }
}

/// `soup-bench-broker plugin`.
pub fn main() -> std::process::ExitCode {
    let dial = match std::env::var(crate::DIAL_ENV).as_deref() {
        Ok("per-call") => Dial::PerCall,
        Ok("once") | Err(_) => Dial::Once,
        Ok(other) => {
            eprintln!(
                "soup-bench-broker plugin: {}={other:?}: expected once or per-call",
                crate::DIAL_ENV
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = ServeConfig::new(MagicCookie::new(crate::COOKIE.0, crate::COOKIE.1), vec![1]);
    plugin_core::run_plugin_with("soup-bench-broker", config, move |ctx: &PluginContext| {
        tonic::service::Routes::new(counter_server::CounterServer::new(Counter {
            broker: ctx.broker().clone(),
            dial,
            dialled: Mutex::default(),
            values: Mutex::default(),
        }))
    })
}
