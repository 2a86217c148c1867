//! Persistent key/value storage: one file per key in a directory, written atomically
//! (temp file, fsync, rename, directory fsync), so an acknowledged Put survives
//! `kill -9` and a reader never sees a torn value.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key is not stored.
    #[error("key {0:?} not found")]
    NotFound(String),
    /// The file system failed.
    #[error("storage I/O error at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A directory of values.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

/// File names are `k` + hex of the key; keys too long for a file name use `s` + the
/// SHA-256 of the key (names can't collide: different prefixes, fixed-length hashes).
fn file_name(key: &str) -> String {
    if key.len() <= 100 {
        format!("k{}", hex::encode(key.as_bytes()))
    } else {
        format!("s{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

impl FileStore {
    /// Opens (creating if needed) a store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(FileStore { dir })
    }

    /// The default location: `<data dir>/soup-rpc/kv` (e.g. `~/.local/share/soup-rpc/kv`).
    pub fn default_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("soup-rpc")
            .join("kv")
    }

    /// Where the store lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a value.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.dir.join(file_name(key));
        match std::fs::read(&path) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(key.to_string()))
            }
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Writes a value atomically and durably; returns once it is on disk.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let target = self.dir.join(file_name(key));
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir))?;
        tmp.write_all(value).map_err(io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io(tmp.path()))?;
        tmp.persist(&target).map_err(|e| StoreError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bytes_empty_and_large_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let all: Vec<u8> = (0..=255).collect();
        let large: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for (k, v) in [
            ("binary", &all[..]),
            ("empty", &[][..]),
            ("large", &large[..]),
            ("ключ-🔑-键", b"u"),
        ] {
            store.put(k, v).unwrap();
            assert_eq!(store.get(k).unwrap(), v, "{k}");
        }
        store.put("binary", b"second").unwrap();
        assert_eq!(store.get("binary").unwrap(), b"second");
        let reopened = FileStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get("large").unwrap(), large);
    }

    #[test]
    fn missing_key_is_not_found_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let err = store.get("nope").unwrap_err();
        assert!(matches!(&err, StoreError::NotFound(k) if k == "nope"));
        assert!(err.to_string().contains("\"nope\""));
    }

    #[test]
    fn long_and_odd_keys_get_distinct_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let long_a = "a".repeat(500);
        let long_b = format!("{}b", "a".repeat(499));
        store.put(&long_a, b"A").unwrap();
        store.put(&long_b, b"B").unwrap();
        store.put("../escape", b"C").unwrap();
        store.put("", b"D").unwrap();
        assert_eq!(store.get(&long_a).unwrap(), b"A");
        assert_eq!(store.get(&long_b).unwrap(), b"B");
        assert_eq!(store.get("../escape").unwrap(), b"C");
        assert_eq!(store.get("").unwrap(), b"D");
        assert!(!dir.path().parent().unwrap().join("escape").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files remain");
    }
}
