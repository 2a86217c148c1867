//! go-plugin's internal services, plugin side: GRPCController (graceful shutdown),
//! GRPCStdio (held open, silent: we log straight to stderr) and GRPCBroker (the stream
//! is accepted and held; brokered connections are not offered).

use std::pin::Pin;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// Generated code for go-plugin's internal protos (package `plugin`).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("plugin");
}

use proto::grpc_broker_server::GrpcBroker;
use proto::grpc_controller_server::GrpcController;
use proto::grpc_stdio_server::GrpcStdio;
use proto::{ConnInfo, Empty, StdioData};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Signals that the plugin should stop; every long-lived stream ends when it fires.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    tx: watch::Sender<bool>,
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        ShutdownSignal {
            tx: watch::channel(false).0,
        }
    }
}

impl ShutdownSignal {
    /// Asks for shutdown (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once shutdown was asked for.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Whether shutdown was asked for.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }
}

/// A stream that sends nothing and ends when the plugin shuts down.
fn silent_until<T: Send + 'static>(shutdown: &ShutdownSignal) -> BoxStream<T> {
    let (tx, rx) = mpsc::channel::<Result<T, Status>>(1);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tx.closed() => {}
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// `plugin.GRPCController`: Shutdown replies, then stops the plugin.
#[derive(Debug, Clone)]
pub struct Controller {
    pub(crate) shutdown: ShutdownSignal,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _req: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::info!("host asked for shutdown");
        // Graceful shutdown lets this in-flight reply reach the host first.
        self.shutdown.trigger();
        Ok(Response::new(Empty {}))
    }
}

/// `plugin.GRPCStdio`: we write logs straight to stderr, so the stream stays silent.
#[derive(Debug, Clone)]
pub struct Stdio {
    pub(crate) shutdown: ShutdownSignal,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<StdioData>;
    async fn stream_stdio(
        &self,
        _req: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(silent_until(&self.shutdown)))
    }
}

/// `plugin.GRPCBroker`: accepts the stream and logs what the host announces; we offer
/// no brokered services of our own.
#[derive(Debug, Clone)]
pub struct Broker {
    pub(crate) shutdown: ShutdownSignal,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = BoxStream<ConnInfo>;
    async fn start_stream(
        &self,
        req: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = req.into_inner();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait() => break,
                    msg = incoming.message() => match msg {
                        Ok(Some(info)) => tracing::debug!(
                            service_id = info.service_id,
                            network = %info.network,
                            address = %info.address,
                            "broker: host announced a connection (brokered services are not used by this plugin)"
                        ),
                        _ => break,
                    },
                }
            }
        });
        Ok(Response::new(silent_until(&self.shutdown)))
    }
}
