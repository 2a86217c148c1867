//! The peer contract's `client` side (docs/peer-contract.md) for `python/peer/soup_rs_peer.py`:
//! soup-client's report run (every `--script`), reported as the `python-rs` peer.

use std::path::PathBuf;
use std::time::Duration;

use plugin_core::{HostError, KeyType, ManualTls, Network, TlsMode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use soup_peer::report::{ClientRun, Peer, run_client_as};

use crate::errors::Failure;
use crate::runtime;

/// Runs the KV script against `server_command` and returns the JSON report.
#[pyfunction]
#[pyo3(signature = (server_command, *, tls, key, transport, tls_cert = None, tls_key = None, tls_ca = None, timeout = 20.0, versions = vec![1], script = "kv"))]
#[allow(clippy::too_many_arguments)]
pub fn run_peer_client(
    py: Python<'_>,
    server_command: Vec<String>,
    tls: &str,
    key: &str,
    transport: &str,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    timeout: f64,
    versions: Vec<u32>,
    script: &str,
) -> PyResult<String> {
    let script: soup_peer::script::Script = script
        .parse()
        .map_err(|e: soup_peer::script::UnknownScript| PyValueError::new_err(e.to_string()))?;
    if versions.is_empty() {
        return Err(PyValueError::new_err(
            "versions must list at least one app protocol version",
        ));
    }
    let tls: TlsMode = tls.parse().map_err(PyValueError::new_err)?;
    let key: KeyType = key
        .parse()
        .map_err(|e: plugin_core::UnknownKeyType| PyValueError::new_err(e.to_string()))?;
    let transport: Network = transport.parse().map_err(PyValueError::new_err)?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(PyValueError::new_err(
            "timeout must be a positive number of seconds",
        ));
    }
    let manual = match (tls_cert, tls_key, tls_ca) {
        (Some(c), Some(k), Some(ca)) => Some(
            ManualTls::from_files(&c, &k, &ca)
                .map_err(|e| Failure::Host(HostError::TlsConfig(e)).into_pyerr())?,
        ),
        _ if tls == TlsMode::Manual => {
            return Err(PyValueError::new_err(
                "tls=\"manual\" needs tls_cert, tls_key and tls_ca",
            ));
        }
        _ => None,
    };
    let version = py.version_info();
    let peer = Peer {
        language: "python-rs",
        implementation: format!(
            "{} via soup_rpc (pyo3, CPython {}.{}.{})",
            soup_peer::report::implementation(),
            version.major,
            version.minor,
            version.patch
        ),
    };
    let run = ClientRun {
        tls,
        key,
        transport,
        manual,
        server_command,
        timeout: Duration::from_secs_f64(timeout),
        versions,
        script,
    };
    runtime::wait(py, async move {
        let report = run_client_as(run, peer).await;
        serde_json::to_string(&report).map_err(|e| Failure::Internal(e.to_string()))
    })
}
