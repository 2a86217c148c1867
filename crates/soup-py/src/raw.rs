//! gRPC calls of any method with serialized messages (bytes in, bytes out) over the
//! plugin's tonic channel: what `soup_rpc`'s grpcio-compatible channel runs on.
//!
//! Every call shape is sent as tonic's bidirectional `streaming` call (unary and server
//! streaming with one request message: the same bytes on the wire as tonic's `unary`),
//! because tonic's `unary` and `client_streaming` merge the trailers into the response
//! headers and grpcio's `Call` keeps initial and trailing metadata apart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{KeyAndValueRef, MetadataMap};
use tonic::transport::Channel;

use crate::errors::Failure;
use crate::runtime;
use soup_client::dynamic::RawCodec as BytesCodec;

/// grpc-timeout holds at most 8 digits of hours: a longer deadline is not sent (tonic
/// would panic on it) but still enforced here.
const MAX_GRPC_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);
/// Response messages a stream buffers ahead of its reader.
const STREAM_BUFFER: usize = 16;

/// A metadata value: text for ASCII keys, bytes for `-bin` keys.
#[derive(Debug, Clone)]
pub enum MetaValue {
    /// An ASCII key's value.
    Ascii(String),
    /// A `-bin` key's value, base64-decoded.
    Binary(Bytes),
}

/// Metadata as grpcio shows it: (key, value) pairs in order, reserved headers left out.
pub type Metadata = Vec<(String, MetaValue)>;

/// What a call was asked to carry besides its messages.
#[derive(Debug)]
pub struct CallOptions {
    /// The method's path, `/package.Service/Method`.
    pub method: PathAndQuery,
    /// The call's deadline (None: none).
    pub timeout: Option<Duration>,
    /// Request metadata.
    pub metadata: MetadataMap,
}

/// A unary (or client-streaming) call's answer.
#[derive(Debug)]
pub struct UnaryReply {
    /// The response message.
    pub message: Bytes,
    /// The response headers' metadata.
    pub initial: Metadata,
    /// The trailers' metadata.
    pub trailing: Metadata,
}

/// `map` without the headers gRPC itself uses (grpcio does not show them either).
pub fn metadata_of(map: &MetadataMap) -> Metadata {
    map.iter()
        .filter_map(|entry| match entry {
            KeyAndValueRef::Ascii(k, v) => {
                let k = k.as_str();
                let reserved = k == "content-type" || k == "te" || k.starts_with("grpc-");
                (!reserved).then(|| {
                    let v = v.to_str().map_or_else(
                        |_| String::from_utf8_lossy(v.as_encoded_bytes()).into_owned(),
                        str::to_string,
                    );
                    (k.to_string(), MetaValue::Ascii(v))
                })
            }
            KeyAndValueRef::Binary(k, v) => {
                let v = v
                    .to_bytes()
                    .unwrap_or_else(|_| Bytes::copy_from_slice(v.as_encoded_bytes()));
                Some((k.as_str().to_string(), MetaValue::Binary(v)))
            }
        })
        .collect()
}

/// A non-OK status as a [`Failure`], with the metadata seen before it.
fn failed(
    options: &CallOptions,
    status: &tonic::Status,
    initial: Metadata,
    deadline: Option<Duration>,
) -> Failure {
    let mut trailing = metadata_of(status.metadata());
    if !status.details().is_empty() {
        // grpcio shows it (grpcio-status reads rich errors from it); tonic moves it out.
        trailing.push((
            "grpc-status-details-bin".into(),
            MetaValue::Binary(Bytes::copy_from_slice(status.details())),
        ));
    }
    // As soup_client's KvError: tonic reports its own grpc-timeout enforcement as
    // CANCELLED "Timeout expired"; with a deadline that is the deadline passing.
    let expired = status.code() == tonic::Code::DeadlineExceeded
        || (status.code() == tonic::Code::Cancelled
            && status.message() == tonic::TimeoutExpired(()).to_string());
    let (code, message, deadline) = match deadline {
        Some(d) if expired && status.code() == tonic::Code::Cancelled => {
            (tonic::Code::DeadlineExceeded, None, Some(d))
        }
        Some(d) if expired => (status.code(), Some(status.message().to_string()), Some(d)),
        _ => (status.code(), Some(status.message().to_string()), None),
    };
    Failure::Status {
        method: options.method.path().to_string(),
        code,
        message,
        deadline,
        initial,
        trailing,
    }
}

/// This host gave up waiting at `deadline`.
fn expired(options: &CallOptions, deadline: Duration, initial: Metadata) -> Failure {
    Failure::Status {
        method: options.method.path().to_string(),
        code: tonic::Code::DeadlineExceeded,
        message: None,
        deadline: Some(deadline),
        initial,
        trailing: Vec::new(),
    }
}

/// The tonic request for `messages`, with the options' metadata and `grpc-timeout`.
fn request<S>(messages: S, options: &CallOptions) -> tonic::Request<S> {
    let mut request = tonic::Request::new(messages);
    *request.metadata_mut() = options.metadata.clone();
    if let Some(timeout) = options.timeout.filter(|t| *t <= MAX_GRPC_TIMEOUT) {
        request.set_timeout(timeout);
    }
    request
}

fn grpc(channel: Channel) -> tonic::client::Grpc<Channel> {
    tonic::client::Grpc::new(channel)
        .max_decoding_message_size(plugin_core::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(plugin_core::MAX_MESSAGE_SIZE)
}

/// Makes a unary call: `message` in, one message out.
pub async fn unary(
    channel: Channel,
    message: Bytes,
    options: CallOptions,
) -> Result<UnaryReply, Failure> {
    let call = async {
        let mut grpc = grpc(channel);
        let unready = |e: tonic::transport::Error| {
            tonic::Status::unavailable(format!("the plugin's connection is not ready: {e}"))
        };
        grpc.ready()
            .await
            .map_err(|e| failed(&options, &unready(e), Vec::new(), options.timeout))?;
        let messages = tonic::codegen::tokio_stream::once(message);
        let response = grpc
            .streaming(
                request(messages, &options),
                options.method.clone(),
                BytesCodec,
            )
            .await
            .map_err(|s| failed(&options, &s, Vec::new(), options.timeout))?;
        let (headers, mut stream, _) = response.into_parts();
        let initial = metadata_of(&headers);
        let message = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                let missing = tonic::Status::internal("the plugin sent no response message");
                return Err(failed(&options, &missing, initial, None));
            }
            Err(s) => return Err(failed(&options, &s, initial, options.timeout)),
        };
        let trailing = match stream.trailers().await {
            Ok(t) => t.as_ref().map(metadata_of).unwrap_or_default(),
            Err(s) => return Err(failed(&options, &s, initial, options.timeout)),
        };
        Ok(UnaryReply {
            message,
            initial,
            trailing,
        })
    };
    match options.timeout {
        None => call.await,
        Some(deadline) => match tokio::time::timeout(deadline, call).await {
            Ok(answer) => answer,
            Err(_elapsed) => Err(expired(&options, deadline, Vec::new())),
        },
    }
}

/// What a streaming call's task hands its reader.
#[derive(Debug)]
enum Event {
    /// A response message.
    Message(Bytes),
    /// The call ended: the trailing metadata, or the failure.
    End(Result<Metadata, Failure>),
}

/// A call in flight with a request stream and a response stream (any of the streaming
/// shapes), run by its own task on the runtime.
#[derive(Debug)]
pub struct StreamCall {
    requests: Mutex<Option<mpsc::Sender<Bytes>>>,
    events: tokio::sync::Mutex<Reader>,
    initial: watch::Receiver<Option<Arc<Metadata>>>,
    trailing: Mutex<Option<Metadata>>,
    task: tokio::task::AbortHandle,
}

/// The reading end of a stream call.
#[derive(Debug)]
struct Reader {
    events: mpsc::Receiver<Event>,
    ended: bool,
}

impl StreamCall {
    /// Starts the call on the runtime; its requests are whatever [`send`](Self::send)
    /// queues until [`done_sending`](Self::done_sending).
    pub fn start(
        channel: impl std::future::Future<Output = Result<Channel, Failure>> + Send + 'static,
        options: CallOptions,
    ) -> Result<StreamCall, Failure> {
        let (request_tx, request_rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
        let (event_tx, event_rx) = mpsc::channel::<Event>(STREAM_BUFFER);
        let (initial_tx, initial_rx) = watch::channel::<Option<Arc<Metadata>>>(None);
        let task = runtime::spawn_task(async move {
            let outcome = run_stream(channel, options, request_rx, &event_tx, &initial_tx).await;
            initial_tx.send_if_modified(|seen| {
                // Ended before any headers: nobody waits for them forever.
                seen.is_none() && seen.replace(Arc::new(Vec::new())).is_none()
            });
            let _ = event_tx.send(Event::End(outcome)).await;
        })?;
        Ok(StreamCall {
            requests: Mutex::new(Some(request_tx)),
            events: tokio::sync::Mutex::new(Reader {
                events: event_rx,
                ended: false,
            }),
            initial: initial_rx,
            trailing: Mutex::new(None),
            task: task.abort_handle(),
        })
    }

    /// Queues a request message; false when the call has ended (or sending was closed).
    pub fn send(&self, message: Bytes) -> impl std::future::Future<Output = bool> + Send + use<> {
        let tx = lock(&self.requests).clone();
        async move {
            match tx {
                Some(tx) => tx.send(message).await.is_ok(),
                None => false,
            }
        }
    }

    /// Ends the request stream (half-close).
    pub fn done_sending(&self) {
        lock(&self.requests).take();
    }

    /// Cancels the call (RST_STREAM); the reader then sees CANCELLED.
    pub fn cancel(&self) {
        self.done_sending();
        self.task.abort();
    }

    /// The next response message; None once the call ended OK (its trailing metadata
    /// is then [`trailing_metadata`](Self::trailing_metadata)). `method` names the
    /// call in the CANCELLED failure of a cancelled call.
    pub fn next(
        self: &Arc<Self>,
        method: String,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, Failure>> + Send + use<> {
        let me = self.clone();
        async move {
            let mut reader = me.events.lock().await;
            if reader.ended {
                return Ok(None);
            }
            let event = reader.events.recv().await;
            if !matches!(event, Some(Event::Message(_))) {
                reader.ended = true;
            }
            match event {
                Some(Event::Message(m)) => Ok(Some(m)),
                Some(Event::End(Ok(trailing))) => {
                    *lock(&me.trailing) = Some(trailing);
                    Ok(None)
                }
                Some(Event::End(Err(failure))) => Err(failure),
                None => Err(Failure::Status {
                    method,
                    code: tonic::Code::Cancelled,
                    message: Some("Locally cancelled by application!".into()),
                    deadline: None,
                    initial: Vec::new(),
                    trailing: Vec::new(),
                }),
            }
        }
    }

    /// The trailing metadata of a call that ended OK (None before that).
    pub fn trailing_metadata(&self) -> Option<Metadata> {
        lock(&self.trailing).clone()
    }

    /// The response headers' metadata, once they came (empty if the call failed first).
    pub fn initial_metadata(&self) -> impl std::future::Future<Output = Metadata> + Send + use<> {
        let mut rx = self.initial.clone();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(seen) => seen.as_deref().cloned().unwrap_or_default(),
                Err(_) => Vec::new(), // the task was aborted (cancelled)
            }
        }
    }
}

impl Drop for StreamCall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_stream(
    channel: impl std::future::Future<Output = Result<Channel, Failure>>,
    options: CallOptions,
    requests: mpsc::Receiver<Bytes>,
    events: &mpsc::Sender<Event>,
    initial_tx: &watch::Sender<Option<Arc<Metadata>>>,
) -> Result<Metadata, Failure> {
    let call = async {
        let mut grpc = grpc(channel.await?);
        grpc.ready().await.map_err(|e| {
            let status =
                tonic::Status::unavailable(format!("the plugin's connection is not ready: {e}"));
            failed(&options, &status, Vec::new(), options.timeout)
        })?;
        let messages = ReceiverStream::new(requests);
        let response = grpc
            .streaming(
                request(messages, &options),
                options.method.clone(),
                BytesCodec,
            )
            .await
            .map_err(|s| failed(&options, &s, Vec::new(), options.timeout))?;
        let (headers, mut stream, _) = response.into_parts();
        let initial = metadata_of(&headers);
        initial_tx.send_replace(Some(Arc::new(initial.clone())));
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    if events.send(Event::Message(m)).await.is_err() {
                        return Ok(Vec::new()); // nobody reads any more
                    }
                }
                Ok(None) => break,
                Err(s) => return Err(failed(&options, &s, initial, options.timeout)),
            }
        }
        match stream.trailers().await {
            Ok(t) => Ok(t.as_ref().map(metadata_of).unwrap_or_default()),
            Err(s) => Err(failed(&options, &s, initial, options.timeout)),
        }
    };
    match options.timeout {
        None => call.await,
        Some(deadline) => match tokio::time::timeout(deadline, call).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                let initial = initial_tx.borrow().as_deref().cloned().unwrap_or_default();
                Err(expired(&options, deadline, initial))
            }
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
