//! Byte streams a plugin serves on: tcp or unix, plaintext or TLS, with what the TLS
//! handshake negotiated attached for the services to read.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::tls::TlsSession;

/// A yamux stream as a tokio byte stream (`PLUGIN_MULTIPLEX_GRPC`).
pub type MuxStream = tokio_util::compat::Compat<yamux::Stream>;

/// A tcp or unix stream.
#[derive(Debug)]
pub enum Socket {
    /// Loopback TCP.
    Tcp(TcpStream),
    /// A unix socket.
    Unix(UnixStream),
    /// A yamux stream of a multiplexed connection (`PLUGIN_MULTIPLEX_GRPC`).
    Mux(MuxStream),
}

impl Socket {
    /// Connects to a plugin's (or a brokered) address: loopback tcp with `TCP_NODELAY`, or
    /// a unix socket.
    pub async fn connect(
        network: crate::protocol::handshake::Network,
        address: &str,
    ) -> std::io::Result<Socket> {
        use crate::protocol::handshake::Network;
        match network {
            Network::Tcp => {
                let s = TcpStream::connect(address).await?;
                let _ = s.set_nodelay(true);
                Ok(Socket::Tcp(s))
            }
            Network::Unix => Ok(Socket::Unix(UnixStream::connect(address).await?)),
        }
    }
}

/// A plugin-side connection, plaintext or TLS.
#[derive(Debug)]
pub enum ServerStream {
    /// No TLS.
    Plain(Socket),
    /// TLS, handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<Socket>>),
}

/// What a service can learn about the connection that carried a request:
/// `request.extensions().get::<PeerInfo>()`.
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// The TLS session, when the connection is TLS.
    pub tls: Option<TlsSession>,
}

impl PeerInfo {
    /// The TLS info of the connection that carried `request`, if any.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&PeerInfo> {
        request.extensions().get::<PeerInfo>()
    }
}

impl tonic::transport::server::Connected for ServerStream {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        match self {
            ServerStream::Plain(_) => PeerInfo { tls: None },
            ServerStream::Tls(s) => PeerInfo {
                tls: Some(TlsSession::from_connection(s.get_ref().1)),
            },
        }
    }
}

macro_rules! delegate_io {
    ($ty:ty, $($variant:path),+) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() { $($variant(s) => Pin::new(s).poll_read(cx, buf),)+ }
            }
        }
        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
                match self.get_mut() { $($variant(s) => Pin::new(s).poll_write(cx, buf),)+ }
            }
            fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
                match self.get_mut() { $($variant(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+ }
            }
            fn is_write_vectored(&self) -> bool {
                match self { $($variant(s) => s.is_write_vectored(),)+ }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() { $($variant(s) => Pin::new(s).poll_flush(cx),)+ }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() { $($variant(s) => Pin::new(s).poll_shutdown(cx),)+ }
            }
        }
    };
}

delegate_io!(Socket, Socket::Tcp, Socket::Unix, Socket::Mux);
delegate_io!(ServerStream, ServerStream::Plain, ServerStream::Tls);

/// A host-side connection, plaintext or TLS.
#[derive(Debug)]
pub enum ClientStream {
    /// No TLS.
    Plain(Socket),
    /// TLS, handshake done.
    Tls(Box<tokio_rustls::client::TlsStream<Socket>>),
}

delegate_io!(ClientStream, ClientStream::Plain, ClientStream::Tls);
