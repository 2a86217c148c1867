//! Host side, after the handshake: dial the plugin's address (tcp or unix), do TLS
//! with the configured verifier while recording what was negotiated, check gRPC health,
//! and forward GRPCStdio output.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tonic::transport::{Channel, Endpoint};

use crate::handshake::{HandshakeLine, Network};
use crate::host::StdioSink;
use crate::host_error::HostError;
use crate::io::{ClientStream, Socket};
use crate::mux::Mux;
use crate::services::proto;
use crate::tls::{self, TlsSession};

#[derive(Default)]
struct DialState {
    session: Option<TlsSession>,
    error: Option<(bool, String)>,
}

async fn dial(network: Network, address: &str) -> std::io::Result<Socket> {
    match network {
        Network::Tcp => {
            let s = tokio::net::TcpStream::connect(address).await?;
            let _ = s.set_nodelay(true);
            Ok(Socket::Tcp(s))
        }
        Network::Unix => Ok(Socket::Unix(
            tokio::net::UnixStream::connect(address).await?,
        )),
    }
}

/// Connects to the address from `handshake`, eagerly, so TLS problems surface here.
/// Dials the plugin once and starts the yamux session (we are its client) whose streams
/// carry every gRPC connection.
pub(crate) async fn dial_mux(handshake: &HandshakeLine, line: &str) -> Result<Arc<Mux>, HostError> {
    let socket = dial(handshake.network, &handshake.address)
        .await
        .map_err(|e| HostError::Connect {
            address: handshake.address.clone(),
            cause: e.to_string(),
            line: line.to_string(),
            stderr_tail: Vec::new(),
        })?;
    Ok(Mux::start(socket, true, None))
}

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
                    None => dial(network, &address).await,
                };
                let socket = socket.inspect_err(|e| {
                    state.lock().expect("dial state").error = Some((false, e.to_string()));
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
                                    Some((true, e.to_string()));
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
    let endpoint =
        Endpoint::from_static("http://localhost").connect_timeout(Duration::from_secs(10));
    match endpoint.connect_with_connector(connector).await {
        Ok(channel) => {
            let session = state.lock().expect("dial state").session.clone();
            Ok((channel, session))
        }
        Err(e) => {
            let recorded = state.lock().expect("dial state").error.take();
            Err(match recorded {
                Some((true, cause)) => HostError::Tls {
                    peer_key,
                    cause,
                    line,
                    stderr_tail: Vec::new(),
                },
                Some((false, cause)) => HostError::Connect {
                    address,
                    cause,
                    line,
                    stderr_tail: Vec::new(),
                },
                None => HostError::Connect {
                    address,
                    cause: error_chain(&e),
                    line,
                    stderr_tail: Vec::new(),
                },
            })
        }
    }
}

/// `outer: inner: innermost`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

pub(crate) async fn check_health(channel: &Channel, line: &str) -> Result<(), HostError> {
    let health_err = |cause: String| HostError::Health {
        cause,
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
        Err(_) => Err(health_err("no answer within 10 s".into())),
        Ok(Ok(resp)) if resp.get_ref().status() == ServingStatus::Serving => Ok(()),
        Ok(Ok(resp)) => Err(health_err(format!(
            "service \"plugin\" is {}",
            resp.get_ref().status().as_str_name()
        ))),
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
            tracing::warn!(
                "plugin does not implement gRPC health; go-plugin hosts tolerate that until Ping"
            );
            Ok(())
        }
        Ok(Err(status)) => Err(health_err(format!(
            "{:?}: {}",
            status.code(),
            error_chain(&status)
        ))),
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
