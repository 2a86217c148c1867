//! A test plugin that offers a service to its host through the broker (the direction
//! go-plugin's examples do not show): `Get("serve")` reserves an id, serves gRPC health
//! (service `brokered` SERVING) under it, and answers with the id as its value, for
//! the host to `dial`.

use std::sync::Mutex;

use plugin_core::{Broker, BrokeredServer, MagicCookie, PluginContext, ServeConfig};
use tonic::{Request, Response, Status};

struct Offers {
    broker: Broker,
    // Kept so the brokered servers live as long as the plugin.
    served: Mutex<Vec<BrokeredServer>>,
}

#[tonic::async_trait]
impl kv_proto::Kv for Offers {
    async fn get(
        &self,
        req: Request<kv_proto::GetRequest>,
    ) -> Result<Response<kv_proto::GetResponse>, Status> {
        if req.get_ref().key != "serve" {
            return Err(Status::not_found("only \"serve\""));
        }
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("brokered", tonic_health::ServingStatus::Serving)
            .await;
        let id = self.broker.next_id();
        let server = self
            .broker
            .accept_and_serve(id, tonic::service::Routes::new(health))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        self.served.lock().expect("served").push(server);
        Ok(Response::new(kv_proto::GetResponse {
            value: id.to_string().into_bytes(),
        }))
    }
    async fn put(
        &self,
        _req: Request<kv_proto::PutRequest>,
    ) -> Result<Response<kv_proto::Empty>, Status> {
        Err(Status::unimplemented("read-only"))
    }
}

fn main() -> std::process::ExitCode {
    let config = ServeConfig::new(MagicCookie::kv_example(), vec![1]);
    plugin_core::run_plugin_with("broker-plugin", config, |ctx: &PluginContext| {
        tonic::service::Routes::new(kv_proto::KvServer::new(Offers {
            broker: ctx.broker().clone(),
            served: Mutex::new(Vec::new()),
        }))
    })
}
