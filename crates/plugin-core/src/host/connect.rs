//! Host side, after the handshake: dial the plugin's address (tcp or unix), do TLS
//! with the configured verifier while recording what was negotiated, check gRPC health,
//! and forward GRPCStdio output.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tonic::transport::{Channel, Endpoint};

use crate::protocol::handshake::HandshakeLine;
use crate::protocol::proto;
use crate::tls::{self, TlsSession};
use crate::transport::mux::Mux;
use crate::transport::socket::{ClientStream, Socket};

use crate::error_chain::error_chain;

use super::error::HostError;
use super::stdio::StdioSink;

#[derive(Default)]
struct DialState {
    session: Option<TlsSession>,
    error: Option<Failure>,
}

/// What failed while connecting, with its typed cause.
struct Failure {
    tls: bool,
    cause: String,
    kind: std::io::ErrorKind,
    rustls: Option<Box<rustls::Error>>,
}

impl Failure {
    fn of(tls: bool, e: &std::io::Error) -> Self {
        Failure {
            tls,
            cause: e.to_string(),
            kind: e.kind(),
            // tokio-rustls carries rustls' own error inside the io::Error.
            rustls: e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|e| Box::new(e.clone())),
        }
    }
}

/// Dials the plugin once and starts the yamux session (we are its client) whose streams
/// carry every gRPC connection.
pub(crate) async fn dial_mux(handshake: &HandshakeLine, line: &str) -> Result<Arc<Mux>, HostError> {
    let socket = Socket::connect(handshake.network, &handshake.address)
        .await
        .map_err(|e| HostError::Connect {
            address: handshake.address.clone(),
            cause: e.to_string(),
            kind: Some(e.kind()),
            line: line.to_string(),
            stderr_tail: Vec::new(),
        })?;
    Ok(Mux::start(socket, true, None))
}

/// Connects to the address from `handshake`, eagerly, so TLS problems surface here.
pub(crate) async fn connect(
    handshake: &HandshakeLine,
    tls: Option<Arc<rustls::ClientConfig>>,
    peer_key: Option<String>,
    line: &str,
    mux: Option<Arc<Mux>>,
) -> Result<(Channel, Option<TlsSession>), HostError> {
    let line = line.to_string();
    let state = Arc::new(Mutex::new(DialState::default()));
    let network = handshake.network;
    let address = handshake.address.clone();
    let connector = {
        let state = state.clone();
        let address = address.clone();
        tower::service_fn(move |_uri: http::Uri| {
            let state = state.clone();
            let address = address.clone();
            let tls = tls.clone();
            let mux = mux.clone();
            async move {
                let socket = match &mux {
                    Some(m) => m.open().await,
                    None => Socket::connect(network, &address).await,
                };
                let socket = socket.inspect_err(|e| {
                    state.lock().expect("dial state").error = Some(Failure::of(false, e));
                })?;
                let stream = match tls {
                    None => ClientStream::Plain(socket),
                    Some(cfg) => {
                        let name = ServerName::try_from(tls::SERVER_NAME).expect("valid name");
                        let s = tokio_rustls::TlsConnector::from(cfg)
                            .connect(name, socket)
                            .await
                            .inspect_err(|e| {
                                state.lock().expect("dial state").error =
                                    Some(Failure::of(true, e));
                            })?;
                        state.lock().expect("dial state").session =
                            Some(TlsSession::from_connection(s.get_ref().1));
                        ClientStream::Tls(Box::new(s))
                    }
                };
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        })
    };
    let endpoint = crate::transport::h2::endpoint(Endpoint::from_static("http://localhost"))
        .connect_timeout(Duration::from_secs(10));
    match endpoint.connect_with_connector(connector).await {
        Ok(channel) => {
            let session = state.lock().expect("dial state").session.clone();
            Ok((channel, session))
        }
        Err(e) => {
            let recorded = state.lock().expect("dial state").error.take();
            Err(match recorded {
                Some(f) if f.tls => HostError::Tls {
                    peer_key,
                    cause: f.cause,
                    rustls: f.rustls,
                    line,
                    stderr_tail: Vec::new(),
                },
                Some(f) => HostError::Connect {
                    address,
                    cause: f.cause,
                    kind: Some(f.kind),
                    line,
                    stderr_tail: Vec::new(),
                },
                None => HostError::Connect {
                    address,
                    cause: error_chain(&e),
                    kind: None,
                    line,
                    stderr_tail: Vec::new(),
                },
            })
        }
    }
}

/// What the plugin's gRPC health service said about service `plugin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// `SERVING`, as go-plugin requires.
    Serving,
    /// The plugin has no health service (tolerated, as go-plugin hosts do until Ping).
    Unimplemented,
}

pub(crate) async fn check_health(channel: &Channel, line: &str) -> Result<HealthStatus, HostError> {
    let health_err = |cause: String, code: Option<tonic::Code>| HostError::Health {
        cause,
        code,
        line: line.to_string(),
        stderr_tail: Vec::new(),
    };
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let req = HealthCheckRequest {
        service: "plugin".into(),
    };
    match tokio::time::timeout(Duration::from_secs(10), health.check(req)).await {
        Err(_) => Err(health_err("no answer within 10 s".into(), None)),
        Ok(Ok(resp)) if resp.get_ref().status() == ServingStatus::Serving => {
            Ok(HealthStatus::Serving)
        }
        Ok(Ok(resp)) => Err(health_err(
            format!(
                "service \"plugin\" is {}",
                resp.get_ref().status().as_str_name()
            ),
            None,
        )),
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
            tracing::warn!(
                "plugin does not implement gRPC health; go-plugin hosts tolerate that until Ping"
            );
            Ok(HealthStatus::Unimplemented)
        }
        Ok(Err(status)) => Err(health_err(
            format!("{:?}: {}", status.code(), error_chain(&status)),
            Some(status.code()),
        )),
    }
}

/// Opens GRPCStdio as go-plugin hosts do (a Go plugin blocks writes to its redirected
/// stdout/stderr when nobody reads) and forwards what arrives to the chosen sinks.
pub(crate) async fn forward_stdio(
    channel: Channel,
    name: String,
    stdout: StdioSink,
    stderr: StdioSink,
) {
    let mut client = proto::grpc_stdio_client::GrpcStdioClient::new(channel);
    let Ok(resp) = client.stream_stdio(()).await else {
        return;
    };
    let mut stream = resp.into_inner();
    while let Ok(Some(data)) = stream.message().await {
        let is_stderr = data.channel == proto::stdio_data::Channel::Stderr as i32;
        let sink = if is_stderr { &stderr } else { &stdout };
        match sink {
            StdioSink::Discard => {}
            StdioSink::Log => {
                let text = String::from_utf8_lossy(&data.data);
                tracing::debug!(plugin = %name, channel = data.channel, "stdio: {}", text.trim_end());
            }
            StdioSink::Stderr => {
                use std::io::Write as _;
                let _ = std::io::stderr().write_all(&data.data);
            }
            StdioSink::Inherit => {
                use std::io::Write as _;
                let _ = if is_stderr {
                    std::io::stderr().write_all(&data.data)
                } else {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&data.data).and_then(|_| out.flush())
                };
            }
            StdioSink::Writer(w) => {
                if let Ok(mut w) = w.lock() {
                    let _ = w.write_all(&data.data).and_then(|_| w.flush());
                }
            }
        }
    }
}
