//! `KvClient.launch(...)` keyword arguments → plugin-core's `LaunchConfig`.
//!
//! Bad values are the caller's mistake and raise `ValueError`/`TypeError` at once; only
//! reading manual-TLS files is deferred to the launch itself (a `TlsError` then).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use plugin_core::{HostError, KeyType, LaunchConfig, MagicCookie, ManualTls, Network, TlsMode};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// What `launch` was asked to do, ready to run off the GIL.
#[derive(Debug)]
pub struct LaunchRequest {
    /// Everything but the manual TLS material.
    pub config: LaunchConfig,
    /// Certificate, key and CA files for `tls="manual"`.
    pub manual_files: Option<(PathBuf, PathBuf, PathBuf)>,
    /// The deadline of every call made without its own `timeout=`.
    pub call_timeout: Option<Duration>,
}

impl LaunchRequest {
    /// Validates the Python arguments.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
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
    ) -> PyResult<Self> {
        if cmd.is_empty() {
            return Err(PyValueError::new_err(
                "cmd is empty: give the plugin program and its arguments",
            ));
        }
        let tls: TlsMode = tls.parse().map_err(PyValueError::new_err)?;
        let key: KeyType = key
            .parse()
            .map_err(|e: plugin_core::UnknownKeyType| PyValueError::new_err(e.to_string()))?;
        let transport = transport
            .map(|t| t.parse::<Network>())
            .transpose()
            .map_err(PyValueError::new_err)?;
        if protocol_versions.is_empty() {
            return Err(PyValueError::new_err(
                "protocol_versions is empty: offer at least one app protocol version",
            ));
        }
        if !(handshake_timeout.is_finite() && handshake_timeout > 0.0) {
            return Err(PyValueError::new_err(format!(
                "handshake_timeout must be a positive number of seconds, not {handshake_timeout}"
            )));
        }
        let call_timeout = match call_timeout {
            Some(secs) => deadline("call_timeout", secs)?,
            None => None,
        };
        if cookie.0.is_empty() {
            return Err(PyValueError::new_err("the magic cookie key is empty"));
        }
        let manual_files = match (tls, tls_cert, tls_key, tls_ca) {
            (TlsMode::Manual, Some(c), Some(k), Some(ca)) => Some((c, k, ca)),
            (TlsMode::Manual, ..) => {
                return Err(PyValueError::new_err(
                    "tls=\"manual\" needs tls_cert, tls_key and tls_ca",
                ));
            }
            (_, None, None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "tls_cert, tls_key and tls_ca are only for tls=\"manual\"",
                ));
            }
        };
        let mut config = LaunchConfig::new(cmd.into_iter().map(PathBuf::into_os_string));
        config.tls = tls;
        config.key = key;
        config.transport = transport;
        config.cookie = MagicCookie::new(cookie.0, cookie.1);
        config.versions = protocol_versions;
        config.handshake_timeout = Duration::from_secs_f64(handshake_timeout);
        config.env = match env {
            Some(env) => environment(env)?,
            None => Vec::new(),
        };
        config.name = name;
        Ok(LaunchRequest {
            config,
            manual_files,
            call_timeout,
        })
    }

    /// The finished config (reads the manual TLS files) and our manual leaf certificate.
    pub fn into_config(self) -> Result<(LaunchConfig, Option<Vec<u8>>), HostError> {
        let mut config = self.config;
        let mut leaf = None;
        if let Some((cert, key, ca)) = self.manual_files {
            let manual = ManualTls::from_files(&cert, &key, &ca).map_err(HostError::TlsConfig)?;
            leaf = manual.chain.first().map(|c| c.as_ref().to_vec());
            config.manual = Some(manual);
        }
        Ok((config, leaf))
    }
}

/// A `timeout`/`call_timeout` in seconds as a deadline: `math.inf` (or anything too long
/// to represent) is none; zero, negative and NaN are refused.
pub fn deadline(name: &str, secs: f64) -> PyResult<Option<Duration>> {
    if secs.is_nan() || secs <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds (math.inf for no deadline), \
             not {secs}"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).ok())
}

/// Any mapping of str to str (a dict, `os.environ`, ...).
fn environment(env: &Bound<'_, PyAny>) -> PyResult<Vec<(OsString, OsString)>> {
    let items = env
        .call_method0("items")
        .map_err(|_| PyTypeError::new_err("env must be a mapping of str to str"))?;
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let (k, v): (OsString, OsString) = item?
            .extract()
            .map_err(|_| PyTypeError::new_err("env must be a mapping of str to str"))?;
        out.push((k, v));
    }
    Ok(out)
}
