//! go-plugin's Go streaming plugin ends `Write` without a response message; go-plugin's
//! host accepts that, and so must ours. A stand-in server answers exactly that way
//! (HTTP/2 headers and `grpc-status: 0`, no message), in process.

use std::convert::Infallible;
use std::task::{Context, Poll};

use go_plugin_examples::proto::streaming::streamer_service_client::StreamerServiceClient;
use go_plugin_examples::proto::streaming::write;
use go_plugin_examples::streaming::{FileStreamer, Streamer};
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::{Channel, Server};

/// `proto.StreamerService` whose every call ends OK without a message.
#[derive(Clone)]
struct NoResponseMessage;

impl NamedService for NoResponseMessage {
    const NAME: &'static str = "proto.StreamerService";
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for NoResponseMessage {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "0")
            .body(tonic::body::Body::empty())
            .expect("valid response");
        std::future::ready(Ok(response))
    }
}

async fn serve(routes: Routes) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn write_without_a_response_message_is_success_as_in_go_plugins_host() {
    let channel = serve(Routes::new(NoResponseMessage)).await;
    let mut streamer = Streamer::new(channel.clone());
    // Configure is unary, which does need a message; like the Go client, ours records the
    // chunk size before the call.
    streamer.configure("ignored", 10).await.unwrap_err();
    streamer.write(b"Lorem ipsum dolor sit amet").await.unwrap();

    // What a generated client-streaming call does with the same answer.
    let err = StreamerServiceClient::new(channel)
        .write(tokio_stream::iter([write::RequestChunk {
            bytes_to_write: b"x".to_vec(),
        }]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
}

#[tokio::test]
async fn write_with_a_response_message_is_success_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let channel = serve(FileStreamer::default().routes()).await;
    let mut streamer = Streamer::new(channel);
    streamer.configure(file.to_str().unwrap(), 4).await.unwrap();
    streamer.write(b"0123456789").await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"0123456789");
    assert_eq!(streamer.read().await.unwrap(), b"0123456789");
}
