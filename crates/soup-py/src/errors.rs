//! Rust failures as `soup_rpc` exceptions.
//!
//! The exception classes are plain Python (`soup_rpc/_errors.py`: docstrings, attributes,
//! pickling); this side builds them lazily, so an error found on the runtime thread
//! becomes an exception without taking the GIL there. Every exception gets the Rust
//! error's `Display` text as its message (`detail`) and a dict of fields.
//!
//! `HostError` → exception (also documented in `soup_rpc/_errors.py`):
//!
//! | `HostError` | exception | stage |
//! | --- | --- | --- |
//! | `CookieRejected` | `CookieRejected` (a `PluginExited`) | handshake |
//! | `Exited` (before the handshake line) | `PluginExited` | handshake |
//! | `NoCommonVersion` | `VersionMismatch` | handshake |
//! | `Spawn`, `HandshakeTimeout`, `Malformed` | `HandshakeError` | spawn / handshake |
//! | `Connect`, `Health` | `HandshakeError` | connect |
//! | `Tls`, `PlaintextWhenTlsRequired`, `UnexpectedCertificate`, `TlsConfig`, `Certificate` | `TlsError` | tls |
//! | anything added later | by its stage: `TlsError` for `tls`, else `HandshakeError` | |
//!
//! `KvError::Rpc` → `RpcError`; `KvError::DeadlineExceeded` (and an `Rpc` whose code is
//! `DEADLINE_EXCEEDED`) → `DeadlineExceeded`, a subclass of `RpcError`. A channel call's
//! non-OK status ([`Failure::Status`]) maps the same way, with its method and metadata.

use std::time::Duration;

use plugin_core::HostError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::{PyErrArguments, import_exception};
use soup_client::KvError;

use crate::raw::{MetaValue, Metadata};

import_exception!(soup_rpc, SoupError);
import_exception!(soup_rpc, HandshakeError);
import_exception!(soup_rpc, CookieRejected);
import_exception!(soup_rpc, VersionMismatch);
import_exception!(soup_rpc, PluginExited);
import_exception!(soup_rpc, TlsError);
import_exception!(soup_rpc, RpcError);
import_exception!(soup_rpc, DeadlineExceeded);
import_exception!(soup_rpc, ClientClosed);

/// Anything that can go wrong in a call, before it becomes a Python exception.
#[derive(Debug)]
pub enum Failure {
    /// Launching or connecting failed.
    Host(HostError),
    /// A Get or Put returned a non-OK status, or got no answer within its deadline.
    Rpc {
        /// The `KvError`'s text.
        detail: String,
        /// `get` or `put` (None for a `KvError` variant added later).
        op: Option<&'static str>,
        /// The key.
        key: Option<String>,
        /// The gRPC status code (`DeadlineExceeded` raises `DeadlineExceeded`).
        code: tonic::Code,
        /// The status message the plugin sent (None when it sent none).
        message: Option<String>,
        /// The call's deadline, when it had one and it passed.
        deadline: Option<Duration>,
    },
    /// A call through the channel (`soup_rpc.Channel`) ended with a non-OK status, or
    /// got no answer within its deadline.
    Status {
        /// `/package.Service/Method`.
        method: String,
        /// The gRPC status code (`DeadlineExceeded` raises `DeadlineExceeded`).
        code: tonic::Code,
        /// The status message the plugin sent (None when this host gave up).
        message: Option<String>,
        /// The call's deadline, when it had one and it passed.
        deadline: Option<Duration>,
        /// The response headers' metadata, when headers came before the status.
        initial: Metadata,
        /// The trailers' metadata (the status's own headers left out).
        trailing: Metadata,
    },
    /// The client was closed.
    Closed,
    /// A bug (a caught panic) or a broken environment (no runtime).
    Internal(String),
}

impl From<KvError> for Failure {
    fn from(e: KvError) -> Self {
        let detail = e.to_string();
        match e {
            KvError::Host(h) => Failure::Host(h),
            KvError::Rpc {
                op,
                key,
                code,
                message,
            } => Failure::Rpc {
                detail,
                op: Some(op),
                key: Some(key),
                code,
                message: Some(message),
                deadline: None,
            },
            KvError::DeadlineExceeded {
                op,
                key,
                deadline,
                message,
                ..
            } => Failure::Rpc {
                detail,
                op: Some(op),
                key: Some(key),
                code: tonic::Code::DeadlineExceeded,
                message,
                deadline: Some(deadline),
            },
            // `KvError` is non-exhaustive: a later variant is still an RPC failure.
            other => Failure::Rpc {
                code: other.code().unwrap_or(tonic::Code::Unknown),
                detail,
                op: None,
                key: None,
                message: None,
                deadline: None,
            },
        }
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        Failure::Host(e)
    }
}

impl Failure {
    /// The Python exception (built lazily, so callable without the GIL).
    pub fn into_pyerr(self) -> PyErr {
        match self {
            Failure::Host(e) => host_error(e),
            Failure::Rpc {
                detail,
                op,
                key,
                code,
                message,
                deadline,
            } => {
                let args = ErrorArgs::new(detail)
                    .field("stage", Value::Str(Some("rpc".into())))
                    .field("code", Value::Str(Some(status_name(code))))
                    .field("message", Value::Str(message))
                    .field("op", Value::Str(op.map(str::to_string)))
                    .field("key", Value::Str(key));
                if code == tonic::Code::DeadlineExceeded {
                    PyErr::new::<DeadlineExceeded, _>(
                        args.field("deadline", Value::Float(deadline.map(|d| d.as_secs_f64()))),
                    )
                } else {
                    PyErr::new::<RpcError, _>(args)
                }
            }
            Failure::Status {
                method,
                code,
                message,
                deadline,
                initial,
                trailing,
            } => {
                let detail = match (deadline, &message) {
                    (Some(d), reported) if code == tonic::Code::DeadlineExceeded => format!(
                        "{method}: no answer within {d:?} (deadline exceeded{}); the plugin may \
                         be frozen or overloaded; raise the call timeout if it is only slow",
                        reported
                            .as_ref()
                            .map(|m| format!(", reported by the plugin: {m:?}"))
                            .unwrap_or_default()
                    ),
                    (_, m) => format!(
                        "{method} failed: {}: {}",
                        status_name(code),
                        m.as_deref().unwrap_or("")
                    ),
                };
                let args = ErrorArgs::new(detail)
                    .field("stage", Value::Str(Some("rpc".into())))
                    .field("code", Value::Str(Some(status_name(code))))
                    .field("message", Value::Str(message))
                    .field("method", Value::Str(Some(method)))
                    .field("initial_metadata", Value::Metadata(initial))
                    .field("trailing_metadata", Value::Metadata(trailing));
                if code == tonic::Code::DeadlineExceeded {
                    PyErr::new::<DeadlineExceeded, _>(
                        args.field("deadline", Value::Float(deadline.map(|d| d.as_secs_f64()))),
                    )
                } else {
                    PyErr::new::<RpcError, _>(args)
                }
            }
            Failure::Closed => PyErr::new::<ClientClosed, _>(ErrorArgs::new(
                "the client is closed: its plugin has been shut down".into(),
            )),
            Failure::Internal(detail) => PyErr::new::<SoupError, _>(
                ErrorArgs::new(format!("internal error in soup_rpc: {detail}"))
                    .field("stage", Value::Str(Some("internal".into()))),
            ),
        }
    }
}

fn host_error(e: HostError) -> PyErr {
    let args = ErrorArgs::new(e.to_string())
        .field("stage", Value::Str(Some(e.stage().into())))
        .field("stderr_tail", Value::Strs(e.stderr_tail().to_vec()))
        .field(
            "handshake_line",
            Value::Str(e.handshake_line().map(str::to_string)),
        );
    match e {
        HostError::CookieRejected { code, .. } => PyErr::new::<CookieRejected, _>(
            args.field("exit_code", Value::Int(code.map(i64::from)))
                .field("signal", Value::Int(None)),
        ),
        HostError::Exited { code, signal, .. } => PyErr::new::<PluginExited, _>(
            args.field("exit_code", Value::Int(code.map(i64::from)))
                .field("signal", Value::Int(signal.map(i64::from))),
        ),
        HostError::NoCommonVersion { ours, theirs, .. } => PyErr::new::<VersionMismatch, _>(
            args.field("ours", Value::Ints(ours))
                .field("theirs", Value::Int(Some(i64::from(theirs)))),
        ),
        HostError::Tls { peer_key, .. } => {
            PyErr::new::<TlsError, _>(args.field("peer_key_type", Value::Str(peer_key)))
        }
        other if other.stage() == "tls" => {
            PyErr::new::<TlsError, _>(args.field("peer_key_type", Value::Str(None)))
        }
        _ => PyErr::new::<HandshakeError, _>(args),
    }
}

/// `NotFound` → `NOT_FOUND`, the names gRPC uses everywhere else.
pub fn status_name(code: tonic::Code) -> String {
    let debug = format!("{code:?}");
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A field value of an exception.
#[derive(Debug)]
enum Value {
    Str(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Strs(Vec<String>),
    Ints(Vec<u32>),
    Metadata(Metadata),
}

/// `(detail, {field: value})`, the constructor arguments of every `soup_rpc` exception.
#[derive(Debug)]
struct ErrorArgs {
    detail: String,
    fields: Vec<(&'static str, Value)>,
}

impl ErrorArgs {
    fn new(detail: String) -> Self {
        ErrorArgs {
            detail,
            fields: Vec::new(),
        }
    }

    fn field(mut self, name: &'static str, value: Value) -> Self {
        self.fields.push((name, value));
        self
    }
}

impl PyErrArguments for ErrorArgs {
    fn arguments(self, py: Python<'_>) -> Py<PyAny> {
        let fields = PyDict::new(py);
        for (name, value) in self.fields {
            // Setting str/int/list items on a fresh dict cannot fail short of MemoryError;
            // the exception then simply lacks that field.
            let _ = match value {
                Value::Str(v) => fields.set_item(name, v),
                Value::Int(v) => fields.set_item(name, v),
                Value::Float(v) => fields.set_item(name, v),
                Value::Strs(v) => fields.set_item(name, v),
                Value::Ints(v) => fields.set_item(name, v),
                Value::Metadata(v) => metadata_tuple(py, v).and_then(|t| fields.set_item(name, t)),
            };
        }
        match (self.detail, fields).into_pyobject(py) {
            Ok(t) => t.into_any().unbind(),
            Err(_) => py.None(),
        }
    }
}

/// Metadata as grpcio gives it: a tuple of `(key, value)` tuples, `bytes` values for
/// `-bin` keys and `str` for the others.
pub fn metadata_tuple(py: Python<'_>, metadata: Metadata) -> PyResult<Bound<'_, PyTuple>> {
    let pairs = metadata
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                MetaValue::Ascii(s) => PyString::new(py, &s).into_any(),
                MetaValue::Binary(b) => PyBytes::new(py, &b).into_any(),
            };
            PyTuple::new(py, [PyString::new(py, &k).into_any(), v])
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, pairs)
}
