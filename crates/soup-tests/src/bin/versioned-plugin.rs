//! A test plugin with a different service set per app protocol version (go-plugin's
//! `VersionedPlugins`): versions 1 and 2 both serve KV, and every Get answers with the
//! version whose set is serving it.

use plugin_core::{MagicCookie, PluginContext, ServeConfig};
use tonic::{Request, Response, Status};

struct Versioned(u32);

#[tonic::async_trait]
impl kv_proto::Kv for Versioned {
    async fn get(
        &self,
        _req: Request<kv_proto::GetRequest>,
    ) -> Result<Response<kv_proto::GetResponse>, Status> {
        Ok(Response::new(kv_proto::GetResponse {
            value: format!("served by version {}", self.0).into_bytes(),
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
    let config = ServeConfig::new(MagicCookie::kv_example(), vec![1, 2]);
    plugin_core::run_plugin_with("versioned-plugin", config, |ctx: &PluginContext| {
        match ctx.version() {
            v @ (1 | 2) => tonic::service::Routes::new(kv_proto::KvServer::new(Versioned(v))),
            // Negotiation only ever picks one of the versions above.
            other => unreachable!("no service set for version {other}"),
        }
    })
}
