//! The native half of `soup_rpc`'s grpcio-compatible channel: raw calls (serialized
//! messages in and out) on a plugin's connection. `soup_rpc/_channel.py` (blocking) and
//! `soup_rpc/_aio_channel.py` (asyncio) build grpcio's `Channel` surface on them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyTuple};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use crate::aio;
use crate::errors::metadata_tuple;
use crate::raw::{CallOptions, Metadata, StreamCall, UnaryReply};
use crate::runtime;
use crate::session::{CallTimeout, Session};

/// Raw gRPC calls on one plugin's connection (wrapped by `soup_rpc.Channel`).
#[pyclass(frozen, module = "soup_rpc._native")]
pub struct RawChannel {
    session: Arc<Session>,
}

impl RawChannel {
    /// The raw channel of a session.
    pub fn new(session: Arc<Session>) -> Self {
        RawChannel { session }
    }
}

/// One streaming call in flight (any of the three streaming shapes).
#[pyclass(frozen, module = "soup_rpc._native")]
pub struct RawStream {
    call: Arc<StreamCall>,
    method: String,
}

/// A channel call's `timeout=`, grpcio's way: None → the plugin's `call_timeout`,
/// `math.inf` → none, zero or less → already expired.
fn timeout_of(timeout: Option<f64>) -> PyResult<CallTimeout> {
    match timeout {
        None => Ok(None),
        Some(secs) if secs.is_nan() => Err(PyValueError::new_err("timeout is NaN")),
        Some(secs) if secs <= 0.0 => Ok(Some(Some(Duration::ZERO))),
        Some(secs) => Ok(Some(Duration::try_from_secs_f64(secs).ok())),
    }
}

/// `(key, value)` pairs (a tuple, list or `grpc.aio.Metadata`) as request metadata:
/// `str` values for ASCII keys, `bytes` for `-bin` keys.
fn metadata_of(metadata: Option<&Bound<'_, PyAny>>) -> PyResult<MetadataMap> {
    let mut map = MetadataMap::new();
    let Some(metadata) = metadata else {
        return Ok(map);
    };
    for pair in metadata.try_iter()? {
        let (key, value): (PyBackedStr, Bound<'_, PyAny>) = pair?.extract().map_err(|_| {
            PyTypeError::new_err("metadata must be a sequence of (key, value) pairs")
        })?;
        let bad = |e: &dyn std::fmt::Display| {
            PyValueError::new_err(format!("invalid metadata {:?}: {e}", &*key))
        };
        if key.ends_with("-bin") {
            let value: PyBackedBytes = value.extract().map_err(|_| {
                PyTypeError::new_err(format!("metadata {:?} (a -bin key) needs bytes", &*key))
            })?;
            let k = MetadataKey::from_bytes(key.as_bytes()).map_err(|e| bad(&e))?;
            map.append_bin(k, MetadataValue::from_bytes(&value));
        } else {
            let value: PyBackedStr = value.extract().map_err(|_| {
                PyTypeError::new_err(format!("metadata {:?} needs a str value", &*key))
            })?;
            let k = MetadataKey::from_bytes(key.as_bytes()).map_err(|e| bad(&e))?;
            let v = MetadataValue::try_from(&*value).map_err(|e| bad(&e))?;
            map.append(k, v);
        }
    }
    Ok(map)
}

fn options(method: &str, metadata: Option<&Bound<'_, PyAny>>) -> PyResult<CallOptions> {
    let method = PathAndQuery::try_from(method)
        .map_err(|e| PyValueError::new_err(format!("invalid method {method:?}: {e}")))?;
    Ok(CallOptions {
        method,
        timeout: None,
        metadata: metadata_of(metadata)?,
    })
}

/// A unary reply as Python: `(response bytes, initial metadata, trailing metadata)`.
struct Reply(UnaryReply);

impl<'py> IntoPyObject<'py> for Reply {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let UnaryReply {
            message,
            initial,
            trailing,
        } = self.0;
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &message).into_any(),
                metadata_tuple(py, initial)?.into_any(),
                metadata_tuple(py, trailing)?.into_any(),
            ],
        )
    }
}

/// A response message (None: the stream ended OK) as Python.
struct Message(Option<Bytes>);

impl<'py> IntoPyObject<'py> for Message {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Ok(match self.0 {
            Some(m) => PyBytes::new(py, &m).into_any(),
            None => py.None().into_bound(py),
        })
    }
}

/// Metadata as Python (see [`metadata_tuple`]).
struct Pairs(Metadata);

impl<'py> IntoPyObject<'py> for Pairs {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        metadata_tuple(py, self.0)
    }
}

#[pymethods]
impl RawChannel {
    /// Makes a unary call: `(response, initial_metadata, trailing_metadata)`; raises
    /// `RpcError` (`DeadlineExceeded` for an expired deadline).
    #[pyo3(signature = (method, request, timeout = None, metadata = None))]
    fn unary<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        request: PyBackedBytes,
        timeout: Option<f64>,
        metadata: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let timeout = timeout_of(timeout)?;
        let options = options(method, metadata)?;
        let session = self.session.clone();
        let reply = runtime::wait(py, async move {
            session
                .unary(Bytes::from_owner(request), options, timeout)
                .await
        })?;
        Reply(reply).into_pyobject(py)
    }

    /// Awaitable: `unary` for asyncio.
    #[pyo3(signature = (method, request, timeout = None, metadata = None))]
    fn unary_async<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        request: PyBackedBytes,
        timeout: Option<f64>,
        metadata: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = timeout_of(timeout)?;
        let options = options(method, metadata)?;
        let session = self.session.clone();
        aio::awaitable(py, async move {
            session
                .unary(Bytes::from_owner(request), options, timeout)
                .await
                .map(Reply)
        })
    }

    /// Starts a streaming call; send its requests with `send`, then `done_sending`.
    #[pyo3(signature = (method, timeout = None, metadata = None))]
    fn stream(
        &self,
        method: &str,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<RawStream> {
        let timeout = timeout_of(timeout)?;
        let mut options = options(method, metadata)?;
        options.timeout = timeout.unwrap_or_else(|| self.session.call_timeout());
        let session = self.session.clone();
        let call = StreamCall::start(async move { session.channel().await }, options)
            .map_err(crate::errors::Failure::into_pyerr)?;
        Ok(RawStream {
            call: Arc::new(call),
            method: method.to_string(),
        })
    }

    /// Whether the plugin has been closed.
    #[getter]
    fn closed(&self) -> bool {
        self.session.is_closed()
    }
}

#[pymethods]
impl RawStream {
    /// Queues a request message, waiting while the call's buffer is full; False when
    /// the call has ended (the message was dropped).
    fn send(&self, py: Python<'_>, request: PyBackedBytes) -> PyResult<bool> {
        let sent = self.call.send(Bytes::from_owner(request));
        runtime::wait(py, async move { Ok(sent.await) })
    }

    /// Awaitable: `send` for asyncio.
    fn send_async<'py>(
        &self,
        py: Python<'py>,
        request: PyBackedBytes,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sent = self.call.send(Bytes::from_owner(request));
        aio::awaitable(py, async move { Ok(sent.await) })
    }

    /// Ends the request stream (half-close).
    fn done_sending(&self) {
        self.call.done_sending();
    }

    /// Cancels the call; readers then get CANCELLED.
    fn cancel(&self) {
        self.call.cancel();
    }

    /// The next response message, None once the call ended OK; raises `RpcError`.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let next = self.call.next(self.method.clone());
        let message = runtime::wait(py, next)?;
        Message(message).into_pyobject(py)
    }

    /// Awaitable: `next` for asyncio.
    fn next_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let next = self.call.next(self.method.clone());
        aio::awaitable(py, async move { next.await.map(Message) })
    }

    /// The response headers' metadata, waiting for them (empty if the call failed
    /// before any).
    fn initial_metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let initial = self.call.initial_metadata();
        let initial = runtime::wait(py, async move { Ok(initial.await) })?;
        metadata_tuple(py, initial)
    }

    /// Awaitable: `initial_metadata` for asyncio.
    fn initial_metadata_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let initial = self.call.initial_metadata();
        aio::awaitable(py, async move { Ok(Pairs(initial.await)) })
    }

    /// The trailing metadata once the call ended OK (None before).
    fn trailing_metadata<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.call
            .trailing_metadata()
            .map(|t| metadata_tuple(py, t))
            .transpose()
    }
}
