//! Calling any gRPC method of any plugin: raw-bytes calls, and message types from the
//! plugin's own gRPC server reflection (go-plugin registers it for every Go plugin) or
//! from `.proto` files, as dynamic messages (prost-reflect) with protobuf's JSON mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_reflection::pb::v1 as refl;

/// A codec that moves message bytes as they are (tonic ships only typed codecs).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// One unary call with raw message bytes; `path` is `/package.Service/Method`.
pub async fn unary_raw(
    channel: &Channel,
    path: &str,
    request: Bytes,
    timeout: Option<Duration>,
) -> Result<Bytes, tonic::Status> {
    let path: http::uri::PathAndQuery = path
        .parse()
        .map_err(|e| tonic::Status::invalid_argument(format!("bad method path {path:?}: {e}")))?;
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connection not ready: {e}")))?;
    let mut req = tonic::Request::new(request);
    if let Some(t) = timeout {
        req.set_timeout(t);
    }
    let call = grpc.unary(req, path, RawCodec);
    let resp = match timeout {
        Some(t) => tokio::time::timeout(t, call)
            .await
            .map_err(|_| tonic::Status::deadline_exceeded(format!("no answer within {t:?}")))??,
        None => call.await?,
    };
    Ok(resp.into_inner())
}

/// Which reflection service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectionVersion {
    /// `grpc.reflection.v1.ServerReflection`.
    V1,
    /// `grpc.reflection.v1alpha.ServerReflection` (older servers, older grpcurl).
    V1alpha,
}

impl ReflectionVersion {
    fn path(self) -> &'static str {
        match self {
            ReflectionVersion::V1 => "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            ReflectionVersion::V1alpha => {
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
            }
        }
    }

    /// The service name.
    pub fn service(self) -> &'static str {
        match self {
            ReflectionVersion::V1 => "grpc.reflection.v1.ServerReflection",
            ReflectionVersion::V1alpha => "grpc.reflection.v1alpha.ServerReflection",
        }
    }
}

/// Why reflection could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ReflectionError {
    /// Neither v1 nor v1alpha is registered.
    #[error("the plugin registers no gRPC server reflection (v1 or v1alpha): {0}")]
    Absent(tonic::Status),
    /// The reflection service failed.
    #[error("gRPC reflection failed: {0}")]
    Failed(String),
    /// The descriptors it sent do not form a valid set.
    #[error("the plugin's reflection sent descriptors that do not build: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
}

/// A reflection conversation (one bidirectional stream), over v1 or v1alpha: the two
/// protocols have the same messages and differ only in the service name.
pub struct Reflection {
    version: ReflectionVersion,
    requests: tokio::sync::mpsc::Sender<refl::ServerReflectionRequest>,
    responses: tonic::Streaming<refl::ServerReflectionResponse>,
    timeout: Duration,
}

impl Reflection {
    /// Opens reflection, v1 first, then v1alpha.
    pub async fn open(channel: &Channel, timeout: Duration) -> Result<Self, ReflectionError> {
        let mut last = None;
        for version in [ReflectionVersion::V1, ReflectionVersion::V1alpha] {
            match Self::open_version(channel, version, timeout).await {
                Ok(mut r) => match r.ask(list_services()).await {
                    Ok(_) => return Ok(r),
                    Err(ReflectionError::Absent(s)) => last = Some(s),
                    Err(e) => return Err(e),
                },
                Err(ReflectionError::Absent(s)) => last = Some(s),
                Err(e) => return Err(e),
            }
        }
        Err(ReflectionError::Absent(last.unwrap_or_else(|| {
            tonic::Status::unimplemented("no reflection")
        })))
    }

    async fn open_version(
        channel: &Channel,
        version: ReflectionVersion,
        timeout: Duration,
    ) -> Result<Self, ReflectionError> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready()
            .await
            .map_err(|e| ReflectionError::Failed(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static(version.path());
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let codec = tonic_prost::ProstCodec::<
            refl::ServerReflectionRequest,
            refl::ServerReflectionResponse,
        >::default();
        // The call only completes once the server sent its headers, which grpc-go does
        // with the first answer: send the first request before awaiting it.
        let first = tx.clone();
        let pending = tokio::spawn(async move {
            let _ = first.send(list_services()).await;
        });
        let call = grpc.streaming(tonic::Request::new(stream), path, codec);
        let responses = match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                return Err(ReflectionError::Failed(format!(
                    "no answer from {} within {timeout:?}",
                    version.service()
                )));
            }
            Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {
                return Err(ReflectionError::Absent(s));
            }
            Ok(Err(s)) => return Err(ReflectionError::Failed(s.to_string())),
            Ok(Ok(r)) => r.into_inner(),
        };
        let _ = pending.await;
        let mut r = Reflection {
            version,
            requests: tx,
            responses,
            timeout,
        };
        // The answer to the list request sent above.
        r.next().await?;
        Ok(r)
    }

    /// Which reflection version answered.
    pub fn version(&self) -> ReflectionVersion {
        self.version
    }

    async fn next(
        &mut self,
    ) -> Result<refl::server_reflection_response::MessageResponse, ReflectionError> {
        let answer = tokio::time::timeout(self.timeout, self.responses.message())
            .await
            .map_err(|_| ReflectionError::Failed(format!("no answer within {:?}", self.timeout)))?;
        match answer {
            Err(s) if s.code() == tonic::Code::Unimplemented => Err(ReflectionError::Absent(s)),
            Err(s) => Err(ReflectionError::Failed(s.to_string())),
            Ok(None) => Err(ReflectionError::Failed("the stream ended".into())),
            Ok(Some(r)) => match r.message_response {
                Some(refl::server_reflection_response::MessageResponse::ErrorResponse(e)) => Err(
                    ReflectionError::Failed(format!("{} (code {})", e.error_message, e.error_code)),
                ),
                Some(m) => Ok(m),
                None => Err(ReflectionError::Failed("an empty answer".into())),
            },
        }
    }

    async fn ask(
        &mut self,
        req: refl::ServerReflectionRequest,
    ) -> Result<refl::server_reflection_response::MessageResponse, ReflectionError> {
        self.requests
            .send(req)
            .await
            .map_err(|_| ReflectionError::Failed("the stream closed".into()))?;
        self.next().await
    }

    /// The services the plugin registers, sorted.
    pub async fn services(&mut self) -> Result<Vec<String>, ReflectionError> {
        use refl::server_reflection_response::MessageResponse;
        match self.ask(list_services()).await? {
            MessageResponse::ListServicesResponse(l) => {
                let mut names: Vec<String> = l.service.into_iter().map(|s| s.name).collect();
                names.sort();
                Ok(names)
            }
            other => Err(ReflectionError::Failed(format!(
                "not a service list: {other:?}"
            ))),
        }
    }

    /// A pool with the files that define `symbols`, and every file they import.
    pub async fn pool_for(
        &mut self,
        symbols: &[String],
    ) -> Result<DescriptorPool, ReflectionError> {
        use refl::server_reflection_request::MessageRequest;
        use refl::server_reflection_response::MessageResponse;
        let mut files: BTreeMap<String, prost_types::FileDescriptorProto> = BTreeMap::new();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        let absorb = |answer: MessageResponse,
                      files: &mut BTreeMap<String, prost_types::FileDescriptorProto>,
                      wanted: &mut BTreeSet<String>|
         -> Result<(), ReflectionError> {
            let MessageResponse::FileDescriptorResponse(f) = answer else {
                return Err(ReflectionError::Failed(format!(
                    "not a file descriptor answer: {answer:?}"
                )));
            };
            for bytes in f.file_descriptor_proto {
                let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .map_err(|e| ReflectionError::Failed(format!("bad descriptor: {e}")))?;
                wanted.extend(file.dependency.iter().cloned());
                files.insert(file.name().to_string(), file);
            }
            Ok(())
        };
        for symbol in symbols {
            let answer = self
                .ask(request(MessageRequest::FileContainingSymbol(
                    symbol.clone(),
                )))
                .await?;
            absorb(answer, &mut files, &mut wanted)?;
        }
        loop {
            let missing: Vec<String> = wanted
                .iter()
                .filter(|f| !files.contains_key(*f))
                .cloned()
                .collect();
            if missing.is_empty() {
                break;
            }
            for name in missing {
                let answer = self
                    .ask(request(MessageRequest::FileByFilename(name.clone())))
                    .await;
                match answer {
                    Ok(a) => absorb(a, &mut files, &mut wanted)?,
                    Err(_) => {
                        // A well-known type the server does not serve: take prost-reflect's.
                        wanted.remove(&name);
                        if let Some(f) = DescriptorPool::global().get_file_by_name(&name) {
                            files.insert(name, f.file_descriptor_proto().clone());
                        } else {
                            return Err(ReflectionError::Failed(format!(
                                "the plugin does not serve {name:?}, which its descriptors import"
                            )));
                        }
                    }
                }
            }
        }
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files.into_values())?;
        Ok(pool)
    }
}

fn request(
    message: refl::server_reflection_request::MessageRequest,
) -> refl::ServerReflectionRequest {
    refl::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    }
}

fn list_services() -> refl::ServerReflectionRequest {
    request(refl::server_reflection_request::MessageRequest::ListServices(String::new()))
}

/// A pool from `.proto` files (imports resolved next to each file and in its parents).
pub fn pool_from_protos(files: &[std::path::PathBuf]) -> Result<DescriptorPool, DynamicError> {
    let mut includes: Vec<std::path::PathBuf> = Vec::new();
    for f in files {
        let mut dir = f.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if !includes.contains(&d) {
                includes.push(d.clone());
            }
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    let includes: Vec<std::path::PathBuf> = includes
        .into_iter()
        .map(|p| {
            if p.as_os_str().is_empty() {
                ".".into()
            } else {
                p
            }
        })
        .collect();
    let set = protox::compile(files, &includes).map_err(|e| DynamicError::Proto(e.to_string()))?;
    DescriptorPool::from_file_descriptor_set(set).map_err(|e| DynamicError::Proto(e.to_string()))
}

/// Why a dynamic call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// The method path is not `/package.Service/Method`.
    #[error(
        "{0:?} is not a gRPC method: give it as /package.Service/Method (e.g. /tfplugin6.Provider/GetProviderSchema)"
    )]
    BadMethod(String),
    /// The service is not in the descriptors.
    #[error("the plugin has no service {service:?}; it has: {}", known.join(", "))]
    NoService {
        /// What was asked for.
        service: String,
        /// The services it has.
        known: Vec<String>,
    },
    /// The method is not in the service.
    #[error("service {service} has no method {method:?}; it has: {}", known.join(", "))]
    NoMethod {
        /// The service.
        service: String,
        /// What was asked for.
        method: String,
        /// Its methods.
        known: Vec<String>,
    },
    /// Streaming methods are not callable from the command line.
    #[error("{0} is a streaming method; `soup call` calls unary methods")]
    Streaming(String),
    /// The request JSON does not match the request type.
    #[error("the request does not match {message}: {cause}")]
    Json {
        /// The request type.
        message: String,
        /// serde's explanation (names the field).
        cause: String,
    },
    /// The response bytes are not the declared response type.
    #[error("the plugin's answer is not a valid {message}: {cause}")]
    Decode {
        /// The response type.
        message: String,
        /// Why.
        cause: String,
    },
    /// A `.proto` file could not be compiled.
    #[error("cannot compile the .proto files: {0}")]
    Proto(String),
}

/// Splits `/pkg.Service/Method` (or `pkg.Service/Method`, `pkg.Service.Method`).
pub fn split_method(path: &str) -> Result<(String, String), DynamicError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = match trimmed.split_once('/') {
        Some((s, m)) if !m.contains('/') => (s, m),
        Some(_) => return Err(DynamicError::BadMethod(path.into())),
        None => trimmed
            .rsplit_once('.')
            .ok_or_else(|| DynamicError::BadMethod(path.into()))?,
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|p| {
                p.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    if !ident(service) || !ident(method) || method.contains('.') {
        return Err(DynamicError::BadMethod(path.into()));
    }
    Ok((service.to_string(), method.to_string()))
}

/// Finds a method in a pool, with errors listing what exists.
pub fn find_method(
    pool: &DescriptorPool,
    service: &str,
    method: &str,
) -> Result<MethodDescriptor, DynamicError> {
    let svc = pool
        .get_service_by_name(service)
        .ok_or_else(|| DynamicError::NoService {
            service: service.into(),
            known: pool.services().map(|s| s.full_name().to_string()).collect(),
        })?;
    svc.methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| DynamicError::NoMethod {
            service: service.into(),
            method: method.into(),
            known: svc.methods().map(|m| m.name().to_string()).collect(),
        })
}

/// Encodes a JSON request as the method's input type.
pub fn encode_json(method: &MethodDescriptor, json: &str) -> Result<Bytes, DynamicError> {
    let input = method.input();
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(input.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| DynamicError::Json {
            message: input.full_name().to_string(),
            cause: e.to_string(),
        })?;
    Ok(Bytes::from(msg.encode_to_vec()))
}

/// Decodes a response as the method's output type.
pub fn decode(method: &MethodDescriptor, bytes: Bytes) -> Result<DynamicMessage, DynamicError> {
    let output = method.output();
    DynamicMessage::decode(output.clone(), bytes).map_err(|e| DynamicError::Decode {
        message: output.full_name().to_string(),
        cause: e.to_string(),
    })
}

/// A dynamic message as protobuf JSON (field names as in the .proto, defaults skipped).
pub fn to_json(msg: &DynamicMessage) -> serde_json::Value {
    let options = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false);
    msg.serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_in_every_spelling() {
        for p in [
            "/tfplugin6.Provider/GetProviderSchema",
            "tfplugin6.Provider/GetProviderSchema",
            "tfplugin6.Provider.GetProviderSchema",
        ] {
            assert_eq!(
                split_method(p).unwrap(),
                ("tfplugin6.Provider".into(), "GetProviderSchema".into()),
                "{p}"
            );
        }
        for bad in ["/usr/bin/plugin", "Get", "/a/b/c", "/pkg.S/", "./plugin"] {
            assert!(split_method(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_errors_name_the_field_and_the_type() {
        let pool = pool_from_protos(&[std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../kv-proto/proto/kv.proto"
        ))])
        .unwrap();
        let m = find_method(&pool, "proto.KV", "Get").unwrap();
        let err = encode_json(&m, r#"{"kee": "x"}"#).unwrap_err().to_string();
        assert!(
            err.contains("proto.GetRequest") && err.contains("kee"),
            "{err}"
        );
        let ok = encode_json(&m, r#"{"key": "x"}"#).unwrap();
        assert_eq!(ok.as_ref(), b"\x0a\x01x");
        let err = find_method(&pool, "proto.KV", "Delete")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Get") && err.contains("Put"), "{err}");
    }
}
