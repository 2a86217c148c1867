//! The Python classes `soup_rpc.KvClient` (blocking) and `soup_rpc.aio.KvClient`
//! (asyncio): thin handles on one shared [`Session`].

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyTuple};

use crate::aio;
use crate::channel::RawChannel;
use crate::info::{Handshake, PluginExit};
use crate::launch::LaunchRequest;
use crate::runtime;
use crate::session::{CallTimeout, Session};

/// A go-plugin KV plugin hosted by the Rust host, with blocking calls.
///
/// Create one with `KvClient.launch(...)`. Every call releases the GIL while it waits;
/// one client may be shared by many threads. Use it as a context manager, or call
/// `close()`; a client that is garbage-collected unclosed kills and reaps its plugin.
#[pyclass(frozen, module = "soup_rpc")]
pub struct KvClient {
    session: Arc<Session>,
    handshake: PyOnceLock<Py<Handshake>>,
    channel: PyOnceLock<Py<PyAny>>,
}

/// The same as `soup_rpc.KvClient`, with awaitable calls for asyncio.
#[pyclass(frozen, name = "KvClient", module = "soup_rpc.aio")]
pub struct AsyncKvClient {
    session: Arc<Session>,
    handshake: PyOnceLock<Py<Handshake>>,
    channel: PyOnceLock<Py<PyAny>>,
}

impl KvClient {
    fn new(session: Arc<Session>) -> Self {
        KvClient {
            session,
            handshake: PyOnceLock::new(),
            channel: PyOnceLock::new(),
        }
    }
}

impl AsyncKvClient {
    fn new(session: Arc<Session>) -> Self {
        AsyncKvClient {
            session,
            handshake: PyOnceLock::new(),
            channel: PyOnceLock::new(),
        }
    }
}

/// A call's `timeout=`: None → the client's `call_timeout`; `math.inf` → no deadline.
fn call_timeout(timeout: Option<f64>) -> PyResult<CallTimeout> {
    timeout
        .map(|secs| crate::launch::deadline("timeout", secs))
        .transpose()
}

/// The read-only surface both classes share.
fn handshake_of(
    py: Python<'_>,
    cell: &PyOnceLock<Py<Handshake>>,
    session: &Session,
) -> PyResult<Py<Handshake>> {
    cell.get_or_try_init(py, || Py::new(py, session.handshake().clone()))
        .map(|h| h.clone_ref(py))
}

/// The session's grpcio-compatible channel: `module.Channel` over a [`RawChannel`],
/// made once per handle.
fn channel_of(
    py: Python<'_>,
    cell: &PyOnceLock<Py<PyAny>>,
    session: &Arc<Session>,
    module: &str,
) -> PyResult<Py<PyAny>> {
    cell.get_or_try_init(py, || {
        let raw = Py::new(py, RawChannel::new(session.clone()))?;
        py.import(module)?
            .getattr("Channel")?
            .call1((raw,))
            .map(Bound::unbind)
    })
    .map(|c| c.clone_ref(py))
}

fn describe(class: &str, session: &Session) -> String {
    let h = session.handshake();
    let state = if session.is_closed() {
        "closed"
    } else {
        "open"
    };
    let pid = session
        .pid()
        .map_or_else(|| "?".to_string(), |p| p.to_string());
    format!(
        "<{class} pid={pid} {}:{} {state}>",
        h.network(),
        h.address()
    )
}

#[pymethods]
impl KvClient {
    /// Launches `cmd` as a go-plugin plugin, reads its handshake, connects (AutoMTLS by
    /// default), checks health, and returns the connected client. `call_timeout` (seconds;
    /// None: no deadline) is the deadline of every call made without its own `timeout=`.
    #[staticmethod]
    #[pyo3(signature = (
        cmd, *, tls = "auto", key = "ec-p256", transport = None, env = None,
        cookie = (String::from("BASIC_PLUGIN"), String::from("hello")),
        protocol_versions = vec![1], handshake_timeout = 10.0, call_timeout = None,
        tls_cert = None, tls_key = None, tls_ca = None, name = None
    ),
    // pyo3 would show `...` for the tuple defaults (inspect, stubtest).
    text_signature = "(cmd, *, tls='auto', key='ec-p256', transport=None, env=None, cookie=('BASIC_PLUGIN', 'hello'), protocol_versions=[1], handshake_timeout=10.0, call_timeout=None, tls_cert=None, tls_key=None, tls_ca=None, name=None)")]
    #[allow(clippy::too_many_arguments)]
    fn launch(
        py: Python<'_>,
        cmd: Vec<PathBuf>,
        tls: &str,
        key: &str,
        transport: Option<&str>,
        env: Option<&Bound<'_, PyAny>>,
        cookie: (String, String),
        protocol_versions: Vec<u32>,
        handshake_timeout: f64,
        call_timeout: Option<f64>,
        tls_cert: Option<PathBuf>,
        tls_key: Option<PathBuf>,
        tls_ca: Option<PathBuf>,
        name: Option<String>,
    ) -> PyResult<KvClient> {
        let request = LaunchRequest::new(
            cmd,
            tls,
            key,
            transport,
            env,
            cookie,
            protocol_versions,
            handshake_timeout,
            call_timeout,
            tls_cert,
            tls_key,
            tls_ca,
            name,
        )?;
        let session = runtime::wait(py, Session::launch(request))?;
        Ok(KvClient::new(session))
    }

    /// Reads `key`; raises `RpcError` (code `NOT_FOUND` for a missing key), and
    /// `DeadlineExceeded` when no answer came within `timeout` seconds (None: the
    /// client's `call_timeout`; `math.inf`: no deadline).
    #[pyo3(signature = (key, *, timeout = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: String,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let timeout = call_timeout(timeout)?;
        let session = self.session.clone();
        let value = runtime::wait(py, async move { session.get(&key, timeout).await })?;
        Ok(PyBytes::new(py, &value))
    }

    /// Stores `value` (bytes or bytearray) under `key`, within `timeout` (as `get`).
    #[pyo3(signature = (key, value, *, timeout = None))]
    fn put(
        &self,
        py: Python<'_>,
        key: String,
        value: PyBackedBytes,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let timeout = call_timeout(timeout)?;
        let session = self.session.clone();
        runtime::wait(py, async move { session.put(&key, &value, timeout).await })
    }

    /// The deadline in seconds of calls made without `timeout=` (None: no deadline).
    #[getter]
    fn call_timeout(&self) -> Option<f64> {
        self.session.call_timeout().map(|d| d.as_secs_f64())
    }

    /// A `grpc.Channel` for grpcio-generated stubs, over this plugin's connection.
    #[getter]
    fn channel(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        channel_of(py, &self.channel, &self.session, "soup_rpc._channel")
    }

    /// Shuts the plugin down (Shutdown RPC, grace period, then kill) and reaps it.
    /// Idempotent: later calls return the same `PluginExit`.
    fn close(&self, py: Python<'_>) -> PyResult<PluginExit> {
        runtime::wait(py, self.session.clone().close())
    }

    /// What the handshake negotiated.
    #[getter]
    fn handshake(&self, py: Python<'_>) -> PyResult<Py<Handshake>> {
        handshake_of(py, &self.handshake, &self.session)
    }

    /// The plugin's latest stderr lines (as of closing, once closed).
    #[getter]
    fn stderr_tail(&self) -> Vec<String> {
        self.session.stderr_tail()
    }

    /// The plugin's process id.
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.session.pid()
    }

    /// Whether `close()` has completed.
    #[getter]
    fn closed(&self) -> bool {
        self.session.is_closed()
    }

    /// How the plugin ended (None until closed).
    #[getter]
    fn exit(&self) -> Option<PluginExit> {
        self.session.recorded_exit()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        describe("soup_rpc.KvClient", &self.session)
    }
}

#[pymethods]
impl AsyncKvClient {
    /// Awaitable: launches `cmd` as a go-plugin plugin (see `soup_rpc.KvClient.launch`).
    #[staticmethod]
    #[pyo3(signature = (
        cmd, *, tls = "auto", key = "ec-p256", transport = None, env = None,
        cookie = (String::from("BASIC_PLUGIN"), String::from("hello")),
        protocol_versions = vec![1], handshake_timeout = 10.0, call_timeout = None,
        tls_cert = None, tls_key = None, tls_ca = None, name = None
    ),
    // pyo3 would show `...` for the tuple defaults (inspect, stubtest).
    text_signature = "(cmd, *, tls='auto', key='ec-p256', transport=None, env=None, cookie=('BASIC_PLUGIN', 'hello'), protocol_versions=[1], handshake_timeout=10.0, call_timeout=None, tls_cert=None, tls_key=None, tls_ca=None, name=None)")]
    #[allow(clippy::too_many_arguments)]
    fn launch<'py>(
        py: Python<'py>,
        cmd: Vec<PathBuf>,
        tls: &str,
        key: &str,
        transport: Option<&str>,
        env: Option<&Bound<'_, PyAny>>,
        cookie: (String, String),
        protocol_versions: Vec<u32>,
        handshake_timeout: f64,
        call_timeout: Option<f64>,
        tls_cert: Option<PathBuf>,
        tls_key: Option<PathBuf>,
        tls_ca: Option<PathBuf>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = LaunchRequest::new(
            cmd,
            tls,
            key,
            transport,
            env,
            cookie,
            protocol_versions,
            handshake_timeout,
            call_timeout,
            tls_cert,
            tls_key,
            tls_ca,
            name,
        )?;
        aio::awaitable(py, async move {
            Session::launch(request).await.map(AsyncKvClient::new)
        })
    }

    /// Awaitable: reads `key` (bytes); raises `RpcError` (code `NOT_FOUND` when missing),
    /// `DeadlineExceeded` after `timeout` seconds (as `soup_rpc.KvClient.get`).
    #[pyo3(signature = (key, *, timeout = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: String,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = call_timeout(timeout)?;
        let session = self.session.clone();
        aio::awaitable(
            py,
            async move { session.get(&key, timeout).await.map(Value) },
        )
    }

    /// Awaitable: stores `value` (bytes or bytearray) under `key`, within `timeout`.
    #[pyo3(signature = (key, value, *, timeout = None))]
    fn put<'py>(
        &self,
        py: Python<'py>,
        key: String,
        value: PyBackedBytes,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = call_timeout(timeout)?;
        let session = self.session.clone();
        aio::awaitable(py, async move { session.put(&key, &value, timeout).await })
    }

    /// The deadline in seconds of calls made without `timeout=` (None: no deadline).
    #[getter]
    fn call_timeout(&self) -> Option<f64> {
        self.session.call_timeout().map(|d| d.as_secs_f64())
    }

    /// A `grpc.aio.Channel` for grpcio-generated stubs, over this plugin's connection.
    #[getter]
    fn channel(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        channel_of(py, &self.channel, &self.session, "soup_rpc._aio_channel")
    }

    /// Awaitable: shuts the plugin down and reaps it; resolves to its `PluginExit`.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        aio::awaitable(py, self.session.clone().close())
    }

    /// What the handshake negotiated.
    #[getter]
    fn handshake(&self, py: Python<'_>) -> PyResult<Py<Handshake>> {
        handshake_of(py, &self.handshake, &self.session)
    }

    /// The plugin's latest stderr lines (as of closing, once closed).
    #[getter]
    fn stderr_tail(&self) -> Vec<String> {
        self.session.stderr_tail()
    }

    /// The plugin's process id.
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.session.pid()
    }

    /// Whether `close()` has completed.
    #[getter]
    fn closed(&self) -> bool {
        self.session.is_closed()
    }

    /// How the plugin ended (None until closed).
    #[getter]
    fn exit(&self) -> Option<PluginExit> {
        self.session.recorded_exit()
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.unbind();
        aio::awaitable(py, async move { Ok(me) })
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'_, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.session.clone().close();
        aio::awaitable(py, async move { fut.await.map(|_| false) })
    }

    fn __repr__(&self) -> String {
        describe("soup_rpc.aio.KvClient", &self.session)
    }
}

/// A Get result handed to asyncio as `bytes` (a `Vec<u8>` would become a list).
struct Value(Vec<u8>);

impl<'py> IntoPyObject<'py> for Value {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}
