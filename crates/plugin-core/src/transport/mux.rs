//! gRPC broker multiplexing (`PLUGIN_MULTIPLEX_GRPC`, go-plugin ≥ 1.6): one connection
//! between host and plugin carries a yamux session (hashicorp/yamux's wire format, spoken
//! here by the `yamux` crate), and every gRPC connection, the main one and each brokered
//! one, is a yamux stream with its own TLS inside.
//!
//! As go-plugin's `internal/grpcmux`: the host dials the plugin's address once and is
//! the yamux client; the plugin is the server. Streams a side accepts go to its main gRPC
//! server (plugin) unless a `knock` for a broker id came first over the broker stream:
//! then the next accepted stream belongs to that id's brokered server. A side that dials
//! a brokered id knocks, waits for the acknowledgement, then opens a stream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt as _, TokioAsyncReadCompatExt as _};

use crate::shutdown::ShutdownSignal;

use super::socket::{MuxStream, Socket};

type OpenReply = oneshot::Sender<Result<yamux::Stream, yamux::ConnectionError>>;

/// One side of a yamux session, driven by its own task.
#[derive(Debug)]
pub(crate) struct Mux {
    open: mpsc::UnboundedSender<OpenReply>,
    routes: Arc<Mutex<Routes>>,
    /// Dials of brokered ids are sequential (knock, ack, open), as go-plugin's.
    pub(crate) dial_lock: tokio::sync::Mutex<()>,
    closed: ShutdownSignal,
}

#[derive(Debug, Default)]
struct Routes {
    /// Ids knocked for, in order: the next accepted streams are theirs.
    knocked: VecDeque<u32>,
    /// Brokered listeners by id.
    listeners: HashMap<u32, mpsc::UnboundedSender<MuxStream>>,
    /// Where unclaimed streams go (the plugin's main gRPC server); `None`: closed.
    default: Option<mpsc::UnboundedSender<MuxStream>>,
}

impl Mux {
    /// Starts a yamux session over `socket`: `client` on the host, server on the plugin.
    /// Streams nobody knocked for go to `default` (or are closed when it is `None`).
    pub(crate) fn start(
        socket: Socket,
        client: bool,
        default: Option<mpsc::UnboundedSender<MuxStream>>,
    ) -> Arc<Mux> {
        let mode = if client {
            yamux::Mode::Client
        } else {
            yamux::Mode::Server
        };
        let conn = yamux::Connection::new(socket.compat(), yamux::Config::default(), mode);
        let (open, open_rx) = mpsc::unbounded_channel();
        let routes = Arc::new(Mutex::new(Routes {
            default,
            ..Routes::default()
        }));
        let closed = ShutdownSignal::default();
        tokio::spawn(drive(conn, open_rx, routes.clone(), closed.clone()));
        Arc::new(Mux {
            open,
            routes,
            dial_lock: tokio::sync::Mutex::new(()),
            closed,
        })
    }

    /// Opens a new stream to the other side.
    pub(crate) async fn open(&self) -> std::io::Result<Socket> {
        let (tx, rx) = oneshot::channel();
        self.open
            .send(tx)
            .map_err(|_| std::io::Error::other("the multiplexed connection is closed"))?;
        match rx.await {
            Ok(Ok(stream)) => Ok(Socket::Mux(stream.compat())),
            Ok(Err(e)) => Err(std::io::Error::other(format!("yamux: {e}"))),
            Err(_) => Err(std::io::Error::other(
                "the multiplexed connection is closed",
            )),
        }
    }

    /// A listener for broker id `id`: streams arrive after knocks for it.
    pub(crate) fn listen(&self, id: u32) -> mpsc::UnboundedReceiver<MuxStream> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes
            .lock()
            .expect("mux routes")
            .listeners
            .insert(id, tx);
        rx
    }

    /// Stops routing to `id`.
    pub(crate) fn unlisten(&self, id: u32) {
        self.routes
            .lock()
            .expect("mux routes")
            .listeners
            .remove(&id);
    }

    /// The other side knocked for `id`: its next stream is `id`'s. Err when nobody
    /// listens on `id` (go-plugin: "no listener for id N").
    pub(crate) fn accept_knock(&self, id: u32) -> Result<(), String> {
        let mut routes = self.routes.lock().expect("mux routes");
        if !routes.listeners.contains_key(&id) {
            return Err(format!("no listener for id {id}"));
        }
        routes.knocked.push_back(id);
        Ok(())
    }

    /// Ends the session.
    pub(crate) fn close(&self) {
        self.closed.trigger();
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        self.closed.trigger();
    }
}

async fn drive(
    mut conn: yamux::Connection<Compat<Socket>>,
    mut open_rx: mpsc::UnboundedReceiver<OpenReply>,
    routes: Arc<Mutex<Routes>>,
    closed: ShutdownSignal,
) {
    use std::task::Poll;
    let mut pending: VecDeque<OpenReply> = VecDeque::new();
    let run = std::future::poll_fn(|cx| {
        while let Poll::Ready(Some(req)) = open_rx.poll_recv(cx) {
            pending.push_back(req);
        }
        while !pending.is_empty() {
            match conn.poll_new_outbound(cx) {
                Poll::Ready(res) => {
                    let req = pending.pop_front().expect("not empty");
                    let _ = req.send(res);
                }
                Poll::Pending => break,
            }
        }
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => route(&routes, stream.compat()),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    });
    tokio::select! {
        res = run => match res {
            Ok(()) => tracing::debug!("yamux session ended"),
            Err(e) => tracing::debug!(error = %e, "yamux session failed"),
        },
        _ = closed.wait() => {
            let _ = std::future::poll_fn(|cx| conn.poll_close(cx)).await;
        }
    }
    // Whoever waits for a stream learns the session is gone.
    let mut routes = routes.lock().expect("mux routes");
    routes.listeners.clear();
    routes.default = None;
}

fn route(routes: &Mutex<Routes>, stream: MuxStream) {
    let mut routes = routes.lock().expect("mux routes");
    if let Some(id) = routes.knocked.pop_front() {
        if let Some(tx) = routes.listeners.get(&id) {
            tracing::debug!(id, "mux: stream for a brokered listener");
            let _ = tx.send(stream);
            return;
        }
        tracing::warn!(
            id,
            "mux: knocked id has no listener any more; stream dropped"
        );
        return;
    }
    match &routes.default {
        Some(tx) => {
            let _ = tx.send(stream);
        }
        None => tracing::warn!("mux: a stream nobody knocked for; closing it"),
    }
}
