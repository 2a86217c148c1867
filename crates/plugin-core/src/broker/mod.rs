//! go-plugin's `GRPCBroker`, both sides: extra gRPC connections between host and plugin,
//! negotiated by id over the `plugin.GRPCBroker/StartStream` stream.
//!
//! Either side reserves an id ([`Broker::next_id`]), serves services under it
//! ([`Broker::accept_and_serve`]: a fresh listener whose address goes to the other side
//! as a `ConnInfo`), and passes the id to the other side in an RPC of its own; the other
//! side then [`Broker::dial`]s the id. This is how go-plugin's `examples/bidirectional`
//! lets a plugin call back into its host. Wire-compatible with go-plugin v1.8
//! (`grpc_broker.go`): brokered listeners are unix sockets (as go-plugin's on every OS
//! but Windows) and use the same TLS as the main connection, so AutoMTLS pins the same
//! two certificates. Unlike go-plugin (a hard-coded 5 s, go-plugin#89) the time a dial
//! waits for the other side's `ConnInfo` is [`BrokerConfig::timeout`].
//!
//! With multiplexing (`PLUGIN_MULTIPLEX_GRPC`), brokered connections are yamux streams
//! of the one host↔plugin connection instead: serving an id announces nothing, and a
//! dial first `knock`s for the id over the broker stream, waits for the other side's
//! acknowledgement, then opens a stream (see `crate::transport::mux`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, Streaming};

use crate::protocol::handshake::Network;
use crate::protocol::proto::{self, ConnInfo};
use crate::shutdown::ShutdownSignal;
use crate::tls;
use crate::transport::accept::accept_loop;
use crate::transport::listener::{self, Listener};
use crate::transport::mux::Mux;
use crate::transport::socket::{ClientStream, Socket};

/// go-plugin's fixed wait for a brokered connection's info.
pub const DEFAULT_BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// How a broker listens and how long it waits.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// How long [`Broker::dial`] waits for the other side's `ConnInfo` (go-plugin: 5 s),
    /// and how long an announced but undialled connection info is kept.
    pub timeout: Duration,
    /// Transport of the listeners [`Broker::accept_and_serve`] opens; go-plugin uses unix
    /// sockets (in `PLUGIN_UNIX_SOCKET_DIR` when set) everywhere but Windows.
    pub transport: Network,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            timeout: DEFAULT_BROKER_TIMEOUT,
            transport: Network::Unix,
        }
    }
}

/// Why a brokered connection could not be made or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The other side announced nothing for this id in time.
    #[error(
        "broker: no connection info for id {id} within {after:?}: the other side never called accept_and_serve({id}), or its broker stream is closed"
    )]
    Timeout {
        /// The id dialled.
        id: u32,
        /// How long we waited.
        after: Duration,
    },
    /// The broker was closed (the plugin is shutting down or the stream ended).
    #[error("broker: closed (the plugin connection is shutting down); cannot use id {id}")]
    Closed {
        /// The id asked for.
        id: u32,
    },
    /// The announced network is neither `unix` nor `tcp`.
    #[error("broker: id {id} was announced on unknown network {network:?} (address {address})")]
    UnknownNetwork {
        /// The id.
        id: u32,
        /// What the other side sent.
        network: String,
        /// The address sent with it.
        address: String,
    },
    /// No listener could be opened for a served id.
    #[error("broker: cannot listen for id {id}: {reason}")]
    Listen {
        /// The id.
        id: u32,
        /// Why.
        reason: String,
    },
    /// Connecting or the TLS handshake to an announced address failed.
    #[error("broker: cannot connect to id {id} at {network}:{address}: {source}")]
    Connect {
        /// The id.
        id: u32,
        /// `unix` or `tcp`.
        network: Network,
        /// The address the other side announced.
        address: String,
        /// The socket or TLS error (a TLS failure carries its `rustls::Error` inside).
        #[source]
        source: std::io::Error,
    },
    /// The multiplexing `knock` exchange failed.
    #[error("broker: multiplexing knock for id {id} failed: {reason}")]
    Knock {
        /// The id.
        id: u32,
        /// What the other side or we said.
        reason: String,
    },
}

/// The TLS a broker uses for its own listeners and for its dials: the same identities
/// and pins as the main connection.
#[derive(Clone)]
pub(crate) struct BrokerTls {
    pub(crate) server: Arc<rustls::ServerConfig>,
    pub(crate) client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for BrokerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerTls { .. }")
    }
}

/// One side's GRPCBroker. Cheap to clone; every clone is the same broker.
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    side: &'static str,
    next_id: AtomicU32,
    outgoing: mpsc::Sender<ConnInfo>,
    outgoing_rx: Mutex<Option<mpsc::Receiver<ConnInfo>>>,
    announced: Mutex<HashMap<u32, watch::Sender<Option<ConnInfo>>>>,
    /// The timers that forget undialled announcements, by id (aborted when dialled).
    expiry: Mutex<HashMap<u32, tokio::task::AbortHandle>>,
    tls: Option<BrokerTls>,
    config: BrokerConfig,
    closed: ShutdownSignal,
    /// `None`: not multiplexed. `Some(watch)`: multiplexed; the session appears once the
    /// main connection is up.
    mux: Option<watch::Sender<Option<Arc<Mux>>>>,
}

impl Broker {
    pub(crate) fn new(side: &'static str, tls: Option<BrokerTls>, config: BrokerConfig) -> Self {
        Self::with_mux(side, tls, config, false)
    }

    /// A broker whose connections are streams of a yamux session, set with
    /// [`Broker::set_mux`] once the main connection is up.
    pub(crate) fn with_mux(
        side: &'static str,
        tls: Option<BrokerTls>,
        config: BrokerConfig,
        multiplexed: bool,
    ) -> Self {
        let (outgoing, rx) = mpsc::channel(64);
        Broker {
            inner: Arc::new(Inner {
                side,
                next_id: AtomicU32::new(0),
                outgoing,
                outgoing_rx: Mutex::new(Some(rx)),
                announced: Mutex::new(HashMap::new()),
                expiry: Mutex::new(HashMap::new()),
                tls,
                config,
                closed: ShutdownSignal::default(),
                mux: multiplexed.then(|| watch::channel(None).0),
            }),
        }
    }

    pub(crate) fn set_mux(&self, mux: Arc<Mux>) {
        if let Some(w) = &self.inner.mux {
            w.send_replace(Some(mux));
        }
    }

    /// Whether brokered connections are multiplexed over the main connection.
    pub fn is_multiplexed(&self) -> bool {
        self.inner.mux.is_some()
    }

    async fn mux(&self, id: u32) -> Result<Option<Arc<Mux>>, BrokerError> {
        let Some(w) = &self.inner.mux else {
            return Ok(None);
        };
        let mut rx = w.subscribe();
        let timeout = self.inner.config.timeout;
        tokio::select! {
            r = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)) => match r {
                Ok(Ok(m)) => Ok(m.clone()),
                Ok(Err(_)) => Err(BrokerError::Closed { id }),
                Err(_) => Err(BrokerError::Knock {
                    id,
                    reason: format!("the multiplexed connection was not up within {timeout:?}"),
                }),
            },
            _ = self.inner.closed.wait() => Err(BrokerError::Closed { id }),
        }
    }

    /// A fresh id (1, 2, ...), unique on this side, as go-plugin's `NextId`.
    pub fn next_id(&self) -> u32 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The configured timeouts and transport.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// Serves `routes` under `id`: opens a listener, tells the other side its address,
    /// and serves until the returned handle is stopped or dropped, or the broker closes.
    pub async fn accept_and_serve(
        &self,
        id: u32,
        routes: Routes,
    ) -> Result<BrokeredServer, BrokerError> {
        if self.inner.closed.is_triggered() {
            return Err(BrokerError::Closed { id });
        }
        if let Some(mux) = self.mux(id).await? {
            // Multiplexed: no listener and no announcement; streams come after knocks.
            let listener = Listener::mux(mux.listen(id), Network::Unix, format!("mux:{id}"));
            tracing::debug!(side = self.inner.side, id, "broker: serving (multiplexed)");
            return Ok(self.serve_on(id, listener, Some(mux), routes));
        }
        let listener = listener::bind(self.inner.config.transport)
            .await
            .map_err(|e| BrokerError::Listen {
                id,
                reason: e.to_string(),
            })?;
        let info = ConnInfo {
            service_id: id,
            network: listener.network().as_str().to_string(),
            address: listener.address(),
            knock: None,
        };
        tracing::debug!(side = self.inner.side, id, address = %info.address, "broker: serving");
        if self.inner.outgoing.send(info).await.is_err() {
            listener.cleanup();
            return Err(BrokerError::Closed { id });
        }
        Ok(self.serve_on(id, listener, None, routes))
    }

    fn serve_on(
        &self,
        id: u32,
        listener: Listener,
        mux: Option<Arc<Mux>>,
        routes: Routes,
    ) -> BrokeredServer {
        let stop = ShutdownSignal::default();
        let tls = self.inner.tls.as_ref().map(|t| t.server.clone());
        let closed = self.inner.closed.clone();
        let task = {
            let stop = stop.clone();
            let listener = listener.clone();
            tokio::spawn(async move {
                {
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = closed.wait() => stop.trigger(),
                            _ = stop.wait() => {}
                        }
                    });
                }
                let incoming = accept_loop(listener.clone(), tls, stop.clone());
                let res = crate::transport::h2::server(tonic::transport::Server::builder())
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, async move { stop.wait().await })
                    .await;
                if let Err(e) = res {
                    tracing::warn!(id, error = %e, "broker: brokered server failed");
                }
                listener.cleanup();
                if let Some(mux) = mux {
                    mux.unlisten(id);
                }
            })
        };
        BrokeredServer {
            id,
            stop,
            task: Some(task),
            listener,
        }
    }

    /// Connects to the services the other side serves under `id`, waiting up to
    /// [`BrokerConfig::timeout`] for its address. The connection is made eagerly, so
    /// socket and TLS problems surface here.
    pub async fn dial(&self, id: u32) -> Result<Channel, BrokerError> {
        if let Some(mux) = self.mux(id).await? {
            let tls = self.inner.tls.as_ref().map(|t| t.client.clone());
            return dial_channel(id, Target::Mux(self.clone(), mux), tls).await;
        }
        let info = self.wait_for_info(id).await?;
        let network: Network = match info.network.parse() {
            Ok(n) => n,
            Err(_) => {
                return Err(BrokerError::UnknownNetwork {
                    id,
                    network: info.network,
                    address: info.address,
                });
            }
        };
        dial_channel(
            id,
            Target::Addr(network, info.address),
            self.inner.tls.as_ref().map(|t| t.client.clone()),
        )
        .await
    }

    /// One multiplexed connection to `id`: knock, wait for the acknowledgement, open a
    /// stream (go-plugin's `muxDial`).
    async fn knock_and_open(&self, id: u32, mux: &Mux) -> Result<Socket, BrokerError> {
        let _sequential = mux.dial_lock.lock().await;
        let knock = ConnInfo {
            service_id: id,
            network: String::new(),
            address: String::new(),
            knock: Some(proto::conn_info::Knock {
                knock: true,
                ack: false,
                error: String::new(),
            }),
        };
        let knock_err = |reason: String| BrokerError::Knock { id, reason };
        if self.inner.outgoing.send(knock).await.is_err() {
            return Err(BrokerError::Closed { id });
        }
        let ack = self.wait_for_info(id).await.map_err(|e| match e {
            BrokerError::Timeout { after, .. } => {
                knock_err(format!("no acknowledgement within {after:?}"))
            }
            other => other,
        })?;
        match ack.knock {
            Some(k) if k.knock && k.ack && k.error.is_empty() => {
                mux.open().await.map_err(|source| BrokerError::Connect {
                    id,
                    network: Network::Unix,
                    address: format!("mux:{id}"),
                    source,
                })
            }
            Some(k) if k.knock && k.ack => {
                Err(knock_err(format!("the other side said: {}", k.error)))
            }
            other => Err(knock_err(format!(
                "expected a knock acknowledgement, got {other:?}"
            ))),
        }
    }

    /// Closes the broker: brokered servers stop, pending and later dials fail.
    pub fn close(&self) {
        self.inner.closed.trigger();
    }

    /// Ends the multiplexed session (after the last RPC on the main connection).
    pub(crate) fn close_mux(&self) {
        if let Some(mux) = self.inner.mux.as_ref().and_then(|w| w.borrow().clone()) {
            mux.close();
        }
    }

    /// Whether [`Broker::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_triggered()
    }

    fn slot(&self, id: u32) -> watch::Sender<Option<ConnInfo>> {
        self.inner
            .announced
            .lock()
            .expect("broker lock")
            .entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }

    async fn wait_for_info(&self, id: u32) -> Result<ConnInfo, BrokerError> {
        let slot = self.slot(id);
        let mut rx = slot.subscribe();
        let timeout = self.inner.config.timeout;
        let got = tokio::select! {
            r = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)) => match r {
                Ok(Ok(info)) => info.clone(),
                Ok(Err(_)) => None,
                Err(_) => return Err(BrokerError::Timeout { id, after: timeout }),
            },
            _ = self.inner.closed.wait() => None,
        };
        self.remove_slot(id, &slot);
        if let Some(timer) = self.inner.expiry.lock().expect("broker lock").remove(&id) {
            timer.abort();
        }
        got.ok_or(BrokerError::Closed { id })
    }

    fn remove_slot(&self, id: u32, slot: &watch::Sender<Option<ConnInfo>>) {
        let mut map = self.inner.announced.lock().expect("broker lock");
        if map.get(&id).is_some_and(|s| s.same_channel(slot)) {
            map.remove(&id);
        }
    }

    /// What arrived on the stream from the other side.
    fn deliver(&self, info: ConnInfo) {
        if let Some(knock) = &info.knock
            && knock.knock
            && !knock.ack
        {
            let mux = self.inner.mux.as_ref().and_then(|w| w.borrow().clone());
            let error = match mux {
                Some(mux) => mux.accept_knock(info.service_id).err().unwrap_or_default(),
                None => {
                    "soup-rpc broker: gRPC broker multiplexing is not enabled on this side".into()
                }
            };
            if !error.is_empty() {
                tracing::warn!(id = info.service_id, %error, "broker: refusing a knock");
            }
            let reply = ConnInfo {
                service_id: info.service_id,
                network: String::new(),
                address: String::new(),
                knock: Some(proto::conn_info::Knock {
                    knock: true,
                    ack: true,
                    error,
                }),
            };
            let _ = self.inner.outgoing.try_send(reply);
            return;
        }
        let id = info.service_id;
        tracing::debug!(side = self.inner.side, id, network = %info.network, address = %info.address, "broker: the other side serves an id");
        let slot = self.slot(id);
        slot.send_replace(Some(info));
        // As go-plugin: an announcement nobody dials is forgotten after the timeout.
        let this = self.clone();
        let timeout = self.inner.config.timeout;
        let timer = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timeout) => this.remove_slot(id, &slot),
                _ = this.inner.closed.wait() => {}
            }
        });
        if let Some(old) = self
            .inner
            .expiry
            .lock()
            .expect("broker lock")
            .insert(id, timer.abort_handle())
        {
            old.abort();
        }
    }

    fn take_outgoing(&self) -> Option<mpsc::Receiver<ConnInfo>> {
        self.inner.outgoing_rx.lock().expect("broker lock").take()
    }

    /// Plugin side: the host opened `StartStream`.
    pub(crate) fn serve_stream(
        &self,
        mut incoming: Streaming<ConnInfo>,
    ) -> Result<ReceiverStream<Result<ConnInfo, Status>>, Status> {
        let Some(mut outgoing) = self.take_outgoing() else {
            return Err(Status::already_exists(
                "the broker stream is already open; go-plugin hosts open it once",
            ));
        };
        let (tx, rx) = mpsc::channel(16);
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = this.inner.closed.wait() => break,
                    msg = incoming.message() => match msg {
                        Ok(Some(info)) => this.deliver(info),
                        _ => break,
                    },
                    out = outgoing.recv() => match out {
                        Some(info) => if tx.send(Ok(info)).await.is_err() { break },
                        None => break,
                    },
                }
            }
            tracing::debug!(side = this.inner.side, "broker: stream ended");
        });
        Ok(ReceiverStream::new(rx))
    }

    /// Host side: open `StartStream` on the plugin's connection and pump it.
    pub(crate) fn spawn_client_stream(&self, channel: Channel) -> Option<JoinHandle<()>> {
        let mut outgoing = self.take_outgoing()?;
        let this = self.clone();
        Some(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel::<ConnInfo>(16);
            // Our announcements flow from the start: a grpc-go plugin sends the stream's
            // response headers only with its first message, so waiting for them first
            // would hold back the ConnInfo it is waiting for.
            let forward = {
                let this = this.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = this.inner.closed.wait() => break,
                            out = outgoing.recv() => match out {
                                Some(info) => if tx.send(info).await.is_err() { break },
                                None => break,
                            },
                        }
                    }
                })
            };
            let mut client = proto::grpc_broker_client::GrpcBrokerClient::new(channel);
            let call = client.start_stream(ReceiverStream::new(rx));
            let mut incoming = tokio::select! {
                r = call => match r {
                    Ok(resp) => resp.into_inner(),
                    Err(status) => {
                        tracing::debug!(code = ?status.code(), "broker: the plugin has no broker stream");
                        forward.abort();
                        return;
                    }
                },
                _ = this.inner.closed.wait() => { forward.abort(); return },
            };
            loop {
                tokio::select! {
                    _ = this.inner.closed.wait() => break,
                    msg = incoming.message() => match msg {
                        Ok(Some(info)) => this.deliver(info),
                        _ => break,
                    },
                }
            }
            forward.abort();
            tracing::debug!(side = this.inner.side, "broker: stream ended");
        }))
    }
}

/// A service set served under a broker id. Dropping it stops the server.
#[derive(Debug)]
pub struct BrokeredServer {
    id: u32,
    stop: ShutdownSignal,
    task: Option<JoinHandle<()>>,
    listener: Listener,
}

impl BrokeredServer {
    /// The broker id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The address announced to the other side.
    pub fn address(&self) -> String {
        self.listener.address()
    }

    /// Stops serving (in-flight calls finish) and waits for the server to end.
    pub async fn stop(mut self) {
        self.stop.trigger();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for BrokeredServer {
    fn drop(&mut self) {
        self.stop.trigger();
    }
}

/// Where a brokered connection goes.
#[derive(Clone)]
enum Target {
    /// An announced listener.
    Addr(Network, String),
    /// A stream of the multiplexed connection, after a knock.
    Mux(Broker, Arc<Mux>),
}

async fn dial_channel(
    id: u32,
    target: Target,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Channel, BrokerError> {
    let (network, address) = match &target {
        Target::Addr(n, a) => (*n, a.clone()),
        Target::Mux(..) => (Network::Unix, format!("mux:{id}")),
    };
    // What failed, typed: a knock's own error, or the socket/TLS error.
    let failure: Arc<Mutex<Option<BrokerError>>> = Arc::default();
    let connector = {
        let failure = failure.clone();
        let address = address.clone();
        tower::service_fn(move |_uri: http::Uri| {
            let target = target.clone();
            let tls = tls.clone();
            let failure = failure.clone();
            let address = address.clone();
            async move {
                let socket = match &target {
                    Target::Addr(network, address) => Socket::connect(*network, address)
                        .await
                        .map_err(|source| BrokerError::Connect {
                            id,
                            network: *network,
                            address: address.clone(),
                            source,
                        }),
                    Target::Mux(broker, mux) => broker.knock_and_open(id, mux).await,
                };
                let socket = match socket {
                    Ok(s) => s,
                    Err(e) => {
                        let copy = std::io::Error::other(e.to_string());
                        *failure.lock().expect("dial lock") = Some(e);
                        return Err(copy);
                    }
                };
                let attempt = async {
                    Ok::<_, std::io::Error>(match tls {
                        None => ClientStream::Plain(socket),
                        Some(cfg) => {
                            let name = ServerName::try_from(tls::SERVER_NAME).expect("valid name");
                            let s = tokio_rustls::TlsConnector::from(cfg)
                                .connect(name, socket)
                                .await?;
                            ClientStream::Tls(Box::new(s))
                        }
                    })
                };
                match attempt.await {
                    Ok(stream) => Ok(TokioIo::new(stream)),
                    Err(e) => {
                        let copy = std::io::Error::new(e.kind(), e.to_string());
                        *failure.lock().expect("dial lock") = Some(BrokerError::Connect {
                            id,
                            network,
                            address: address.clone(),
                            source: e,
                        });
                        Err(copy)
                    }
                }
            }
        })
    };
    let endpoint = crate::transport::h2::endpoint(Endpoint::from_static("http://localhost"))
        .connect_timeout(Duration::from_secs(10));
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|e| {
            failure
                .lock()
                .expect("dial lock")
                .take()
                .unwrap_or_else(|| BrokerError::Connect {
                    id,
                    network,
                    address: address.clone(),
                    source: std::io::Error::other(crate::error_chain::error_chain(&e)),
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn broker(timeout_ms: u64) -> Broker {
        Broker::new(
            "test",
            None,
            BrokerConfig {
                timeout: Duration::from_millis(timeout_ms),
                transport: Network::Unix,
            },
        )
    }

    /// What `a` announced, handed to `b` as its stream would.
    async fn relay(a: &Broker, b: &Broker) -> ConnInfo {
        let mut rx = a.take_outgoing().expect("outgoing not taken");
        let info = rx.recv().await.expect("an announcement");
        b.deliver(info.clone());
        info
    }

    #[tokio::test]
    async fn a_dial_reaches_what_the_other_side_serves() {
        let (plugin, host) = (broker(2000), broker(2000));
        let id = host.next_id();
        assert_eq!((id, host.next_id()), (1, 2), "ids count from 1");
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("brokered", tonic_health::ServingStatus::Serving)
            .await;
        let server = host
            .accept_and_serve(id, Routes::new(health))
            .await
            .unwrap();
        let info = relay(&host, &plugin).await;
        assert_eq!((info.service_id, info.network.as_str()), (id, "unix"));
        assert_eq!(info.address, server.address());

        let channel = plugin.dial(id).await.expect("dial");
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let status = client
            .check(tonic_health::pb::HealthCheckRequest {
                service: "brokered".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, tonic_health::ServingStatus::Serving as i32);

        let path = server.address();
        server.stop().await;
        assert!(
            !std::path::Path::new(&path).exists(),
            "socket {path} removed at stop"
        );
    }

    #[tokio::test]
    async fn a_dial_nobody_serves_times_out_with_the_id() {
        let b = broker(200);
        let started = Instant::now();
        let err = b.dial(7).await.unwrap_err();
        assert!(matches!(err, BrokerError::Timeout { id: 7, .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("accept_and_serve(7)"), "{err}");
    }

    #[tokio::test]
    async fn closing_ends_pending_dials_and_refuses_new_work() {
        let b = broker(10_000);
        let pending = tokio::spawn({
            let b = b.clone();
            async move { b.dial(3).await }
        });
        tokio::task::yield_now().await;
        b.close();
        let err = tokio::time::timeout(Duration::from_secs(2), pending)
            .await
            .expect("the dial ends at close")
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, BrokerError::Closed { id: 3 }), "{err:?}");
        let err = b.accept_and_serve(4, Routes::default()).await.unwrap_err();
        assert!(matches!(err, BrokerError::Closed { id: 4 }), "{err:?}");
    }

    #[tokio::test]
    async fn an_announced_address_that_refuses_is_a_connect_error_naming_it() {
        let b = broker(1000);
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("no-such-socket");
        b.deliver(ConnInfo {
            service_id: 9,
            network: "unix".into(),
            address: gone.display().to_string(),
            knock: None,
        });
        let err = b.dial(9).await.unwrap_err();
        let BrokerError::Connect {
            id, ref address, ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(id, 9);
        assert_eq!(address, &gone.display().to_string());
        assert!(err.to_string().contains("no-such-socket"), "{err}");

        b.deliver(ConnInfo {
            service_id: 10,
            network: "udp".into(),
            address: "x".into(),
            knock: None,
        });
        let err = b.dial(10).await.unwrap_err();
        assert!(
            matches!(err, BrokerError::UnknownNetwork { id: 10, ref network, .. } if network == "udp"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_knock_is_answered_with_an_error_while_multiplexing_is_off() {
        let b = broker(1000);
        let mut rx = b.take_outgoing().unwrap();
        b.deliver(ConnInfo {
            service_id: 5,
            network: String::new(),
            address: String::new(),
            knock: Some(proto::conn_info::Knock {
                knock: true,
                ack: false,
                error: String::new(),
            }),
        });
        let reply = rx.recv().await.unwrap();
        let knock = reply.knock.expect("a knock reply");
        assert_eq!(reply.service_id, 5);
        assert!(knock.knock && knock.ack);
        assert!(knock.error.contains("multiplexing"), "{}", knock.error);
    }
}
