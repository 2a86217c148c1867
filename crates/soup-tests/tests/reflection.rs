//! gRPC server reflection, as go-plugin plugins register it: a reflection client (what
//! grpcurl does) lists every service of the real plugin over AutoMTLS, in v1 and in the
//! v1alpha older grpcurl releases use, and gets the KV service's file descriptor.

mod common;

use plugin_core::PluginClient;
use prost::Message as _;
use tokio_stream_shim::once;
use tonic_reflection::pb::{v1, v1alpha};

mod tokio_stream_shim {
    pub fn once<T: Send + 'static>(item: T) -> impl futures::Stream<Item = T> + Send + 'static {
        futures::stream::iter([item])
    }
}

const EXPECTED: &[&str] = &[
    "proto.KV",
    "grpc.health.v1.Health",
    "plugin.GRPCBroker",
    "plugin.GRPCController",
    "plugin.GRPCStdio",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

#[tokio::test]
async fn reflection_lists_every_service_v1_and_v1alpha() {
    let store = tempfile::tempdir().unwrap();
    let plugin = PluginClient::launch(common::kv_launch(store.path(), &[]))
        .await
        .expect("launch");

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(plugin.channel());
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = client
        .server_reflection_info(once(req))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in EXPECTED {
        assert!(names.contains(want), "{want} missing from {names:?}");
    }

    // The KV service's descriptor, as grpcurl fetches it to build requests.
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1::server_reflection_request::MessageRequest::FileContainingSymbol("proto.KV".into()),
        ),
    };
    let mut answers = client
        .server_reflection_info(once(req))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        answer.message_response
    else {
        panic!("not a file descriptor: {answer:?}");
    };
    let file = prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice())
        .unwrap();
    assert_eq!(file.package(), "proto");
    let kv = file
        .service
        .iter()
        .find(|s| s.name() == "KV")
        .expect("service KV");
    let methods: Vec<&str> = kv.method.iter().map(|m| m.name()).collect();
    assert_eq!(methods, ["Get", "Put"]);

    let mut alpha =
        v1alpha::server_reflection_client::ServerReflectionClient::new(plugin.channel());
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = alpha
        .server_reflection_info(once(req))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    assert!(list.service.iter().any(|s| s.name == "proto.KV"));

    plugin.shutdown().await;
}
