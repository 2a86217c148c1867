//! go-plugin's `examples/bidirectional/main.go`, in Rust: a host that launches the
//! Counter plugin named by `COUNTER_PLUGIN` (through `sh -c`, as the Go host does) and,
//! for `put`, serves its own AddHelper to the plugin through the GRPCBroker.
//!
//! ```text
//! COUNTER_PLUGIN=./counter bidirectional-host [--tls off|auto] [--multiplex] put KEY N
//! COUNTER_PLUGIN=./counter bidirectional-host [--tls off|auto] [--multiplex] get KEY
//! ```
//! TLS defaults to `off` and multiplexing to off, as go-plugin's example host runs.

use std::process::ExitCode;

use plugin_core::{LaunchConfig, MagicCookie, PluginClient, TlsMode};
use tonic::{Request, Response, Status};

mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/bidirectional/proto.rs"));
}

use proto::add_helper_server::{AddHelper, AddHelperServer};
use proto::counter_client::CounterClient;

struct Adder;

#[tonic::async_trait]
impl AddHelper for Adder {
    async fn sum(
        &self,
        req: Request<proto::SumRequest>,
    ) -> Result<Response<proto::SumResponse>, Status> {
        let req = req.into_inner();
        let r = req
            .a
            .checked_add(req.b)
            .ok_or_else(|| Status::out_of_range("sum overflows int64"))?;
        Ok(Response::new(proto::SumResponse { r }))
    }
}

const USAGE: &str = "usage: bidirectional-host [--tls off|auto] [--multiplex] put KEY N | get KEY (plugin command in COUNTER_PLUGIN)";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut tls = TlsMode::Off;
    if args.first().map(String::as_str) == Some("--tls") {
        match args.get(1).map(|m| m.parse::<TlsMode>()) {
            Some(Ok(m)) => tls = m,
            _ => {
                eprintln!("--tls takes off or auto\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        args.drain(..2);
    }
    let multiplex = args.first().map(String::as_str) == Some("--multiplex");
    if multiplex {
        args.remove(0);
    }
    let Ok(plugin) = std::env::var("COUNTER_PLUGIN") else {
        eprintln!("COUNTER_PLUGIN is not set: it names the plugin command\n{USAGE}");
        return ExitCode::from(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(plugin, tls, multiplex, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(plugin: String, tls: TlsMode, multiplex: bool, args: &[String]) -> Result<(), String> {
    let mut config = LaunchConfig::new(["sh", "-c", plugin.as_str()]);
    config.cookie = MagicCookie::new("BASIC_PLUGIN", "hello");
    config.versions = vec![1];
    config.tls = tls;
    config.multiplex = multiplex;
    // `sh -c` is a wrapper: signal its whole group so the plugin goes with it.
    config.process_group = true;
    let client = PluginClient::launch(config)
        .await
        .map_err(|e| e.to_string())?;
    let result = call(&client, args).await;
    client.shutdown().await;
    result
}

async fn call(client: &PluginClient, args: &[String]) -> Result<(), String> {
    let mut counter = CounterClient::new(client.channel());
    match args {
        [cmd, key] if cmd == "get" => {
            let resp = counter
                .get(proto::GetRequest { key: key.clone() })
                .await
                .map_err(|s| s.message().to_string())?;
            println!("{}", resp.into_inner().value);
            Ok(())
        }
        [cmd, key, n] if cmd == "put" => {
            let value: i64 = n.parse().map_err(|e| format!("{n:?}: {e}"))?;
            let broker = client.broker();
            let id = broker.next_id();
            let server = broker
                .accept_and_serve(id, tonic::service::Routes::new(AddHelperServer::new(Adder)))
                .await
                .map_err(|e| e.to_string())?;
            let res = counter
                .put(proto::PutRequest {
                    add_server: id,
                    key: key.clone(),
                    value,
                })
                .await;
            server.stop().await;
            res.map(|_| ()).map_err(|s| s.message().to_string())
        }
        _ => Err("Please only use 'get' or 'put'".into()),
    }
}
