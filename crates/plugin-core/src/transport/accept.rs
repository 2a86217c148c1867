//! The server side's accept loop: each connection's TLS handshake on its own task,
//! so a slow or hostile peer stalls nobody.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::shutdown::ShutdownSignal;

use super::listener::Listener;
use super::socket::ServerStream;

/// How long a connection may take to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn accept_loop(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: ShutdownSignal,
) -> ReceiverStream<std::io::Result<ServerStream>> {
    let (tx, rx) = mpsc::channel(16);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                _ = shutdown.wait() => break,
                s = listener.accept() => s,
            };
            let socket = match socket {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            // Each handshake runs on its own so a slow or hostile peer stalls nobody.
            tokio::spawn(async move {
                let stream = match acceptor {
                    None => ServerStream::Plain(socket),
                    Some(acc) => {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acc.accept(socket)).await
                        {
                            Ok(Ok(s)) => ServerStream::Tls(Box::new(s)),
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "TLS handshake with host failed");
                                return;
                            }
                            Err(_) => {
                                tracing::warn!("TLS handshake with host timed out");
                                return;
                            }
                        }
                    }
                };
                let _ = tx.send(Ok(stream)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}
