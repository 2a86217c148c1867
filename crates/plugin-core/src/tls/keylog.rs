//! TLS key logging (NSS key log format), so a captured session decrypts in Wireshark.
//!
//! Off unless asked: every TLS config both sides build logs through [`key_log`], which
//! is rustls' [`rustls::KeyLogFile`] (it writes to the file named by `SSLKEYLOGFILE`, as
//! browsers and curl do, and does nothing when the variable is unset) unless the process
//! chose a file with [`log_keys_to`] (`soup --keylog FILE`). A host passes its environment,
//! `SSLKEYLOGFILE` included, to the plugins it launches, so a Rust plugin logs its side
//! of the same sessions to the same file.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The process's key log: chosen once, by [`log_keys_to`] or on first use.
static KEY_LOG: OnceLock<Arc<dyn rustls::KeyLog>> = OnceLock::new();

/// Why a key log file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyLogError {
    /// The file cannot be opened for appending.
    #[error(
        "cannot write the TLS key log {}: {source}; give a path in a writable directory",
        path.display()
    )]
    Open {
        /// The path asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// TLS was already set up with another key log in this process.
    #[error(
        "the TLS key log was already chosen for this process; set it before the first connection"
    )]
    AlreadySet,
}

/// Logs every TLS secret this process negotiates from now on to `path` (appended, NSS key
/// log format). The file is opened here, so a path that cannot be written fails now, not
/// silently at the first handshake.
pub fn log_keys_to(path: &Path) -> Result<(), KeyLogError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| KeyLogError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let log: Arc<dyn rustls::KeyLog> = Arc::new(FileKeyLog {
        path: path.to_path_buf(),
        file: Mutex::new(file),
    });
    KEY_LOG.set(log).map_err(|_| KeyLogError::AlreadySet)
}

/// The key log every config uses: [`log_keys_to`]'s file, else `SSLKEYLOGFILE`'s.
pub fn key_log() -> Arc<dyn rustls::KeyLog> {
    KEY_LOG
        .get_or_init(|| Arc::new(rustls::KeyLogFile::new()))
        .clone()
}

/// A key log writing to one file (rustls' `KeyLogFile` only reads `SSLKEYLOGFILE`).
struct FileKeyLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl std::fmt::Debug for FileKeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyLog")
            .field("path", &self.path)
            .finish()
    }
}

impl rustls::KeyLog for FileKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!(
            "{label} {} {}\n",
            hex::encode(client_random),
            hex::encode(secret)
        );
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the TLS key log");
        }
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritable_path_names_itself_and_the_fix() {
        let err = log_keys_to(Path::new("/nonexistent-dir/keys.log")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent-dir/keys.log"), "{msg}");
        assert!(msg.contains("writable directory"), "{msg}");
    }

    #[test]
    fn lines_are_nss_key_log_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.log");
        let log = FileKeyLog {
            path: path.clone(),
            file: Mutex::new(File::create(&path).unwrap()),
        };
        rustls::KeyLog::log(&log, "CLIENT_TRAFFIC_SECRET_0", &[0xab; 32], &[0x01, 0x02]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("CLIENT_TRAFFIC_SECRET_0 {} 0102\n", "ab".repeat(32))
        );
    }
}
