//! Persistent key/value storage: one file per key in a directory, written atomically
//! (temp file, fsync, rename, directory fsync), so an acknowledged Put survives
//! `kill -9` and a reader never sees a torn value.
//!
//! A bounded in-memory copy of recently used values serves Gets without reading the file
//! or hopping to the blocking pool (measured: Get p50 roughly halves). Other processes may
//! write the same directory (two hosts, or Terraform launching a plugin twice at once), so
//! a cached value is only used while the key's file is still the very file it was read
//! from: each entry remembers that file's identity ([`FileStamp`]: device, inode, size,
//! mtime, ctime), and a hit costs one `stat` of the path. Since every writer replaces a
//! key's file by rename and never writes one in place, a file's content never changes
//! under its identity, and a Put by any process shows up as a new identity.
//!
//! Within one process, every file write or read-then-cache of a key runs under that key's
//! stripe lock; cache hits take no stripe lock and see the value before or after a
//! concurrent Put, never a mix.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// Values larger than this are not kept in memory.
const CACHE_MAX_VALUE: usize = 8 << 20;
/// Total bytes kept in memory; past it the cache starts over.
const CACHE_MAX_TOTAL: usize = 64 << 20;
/// Number of per-key lock stripes.
const STRIPES: usize = 64;

/// Which file a cached value was read from (or written as). Two stats of one path give
/// equal stamps only if the path still names the same, unmodified file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Debug, Default)]
struct Cache {
    values: HashMap<String, (FileStamp, Arc<Vec<u8>>)>,
    bytes: usize,
}

impl Cache {
    fn insert(&mut self, key: &str, stamp: FileStamp, value: Arc<Vec<u8>>) {
        self.remove(key);
        if value.len() > CACHE_MAX_VALUE {
            return;
        }
        if self.bytes + value.len() > CACHE_MAX_TOTAL {
            self.values.clear();
            self.bytes = 0;
        }
        self.bytes += value.len();
        self.values.insert(key.to_string(), (stamp, value));
    }

    fn remove(&mut self, key: &str) {
        if let Some((_, old)) = self.values.remove(key) {
            self.bytes -= old.len();
        }
    }
}

/// A directory of values.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    cache: Arc<Mutex<Cache>>,
    stripes: Arc<[Mutex<()>]>,
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
        Ok(FileStore {
            dir,
            cache: Arc::default(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    fn stripe(&self, key: &str) -> std::sync::MutexGuard<'_, ()> {
        let h = Sha256::digest(key.as_bytes());
        let i = usize::from(h[0]) % self.stripes.len();
        self.stripes[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value from memory, if it is there and the key's file is still the one it came
    /// from (one `stat`, no read; never waits for a Put).
    pub fn cached(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        let current = std::fs::metadata(self.dir.join(file_name(key))).ok()?;
        let cache = self.cache();
        let (stamp, value) = cache.values.get(key)?;
        (*stamp == FileStamp::of(&current)).then(|| value.clone())
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

    /// Reads a value (from memory when it is current, else from disk).
    pub fn get(&self, key: &str) -> Result<Arc<Vec<u8>>, StoreError> {
        if let Some(v) = self.cached(key) {
            return Ok(v);
        }
        let _stripe = self.stripe(key);
        let path = self.dir.join(file_name(key));
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        // The stamp comes from the open file, not the path, so it names exactly the
        // bytes read even if another process replaces the path meanwhile.
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.cache().remove(key);
                return Err(StoreError::NotFound(key.to_string()));
            }
            Err(source) => return Err(io(source)),
        };
        let stamp = FileStamp::of(&file.metadata().map_err(io)?);
        let mut value = Vec::with_capacity(usize::try_from(stamp.len).unwrap_or(0));
        file.read_to_end(&mut value).map_err(io)?;
        let value = Arc::new(value);
        self.cache().insert(key, stamp, value.clone());
        Ok(value)
    }

    /// Writes a value atomically and durably; returns once it is on disk.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.put_shared(key, Arc::new(value.to_vec()))
    }

    /// [`put`](Self::put) of a value the caller already owns: the in-memory copy is this
    /// same allocation, so a large Put is not copied once more (the plugin's Put handler
    /// hands over the request's buffer).
    pub fn put_shared(&self, key: &str, value: Arc<Vec<u8>>) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let target = self.dir.join(file_name(key));
        let _stripe = self.stripe(key);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir))?;
        tmp.write_all(&value).map_err(io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io(tmp.path()))?;
        let file = tmp.persist(&target).map_err(|e| StoreError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        // Stamped after the rename (which changes ctime), from our own handle: if another
        // process has replaced the file since, the stamp will not match and Gets re-read.
        let stamp = FileStamp::of(&file.metadata().map_err(io(&target))?);
        self.cache().insert(key, stamp, value);
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
            assert_eq!(store.get(k).unwrap().as_slice(), v, "{k}");
        }
        store.put("binary", b"second").unwrap();
        assert_eq!(store.get("binary").unwrap().as_slice(), b"second");
        let reopened = FileStore::open(dir.path()).unwrap();
        assert_eq!(*reopened.get("large").unwrap(), large);
    }

    #[test]
    fn a_fresh_store_reads_what_another_wrote_and_the_cache_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let writer = FileStore::open(dir.path()).unwrap();
        let reader = FileStore::open(dir.path()).unwrap();
        writer.put("k", b"one").unwrap();
        assert_eq!(reader.get("k").unwrap().as_slice(), b"one");
        assert_eq!(reader.cached("k").unwrap().as_slice(), b"one");
        writer.put("k", b"two").unwrap();
        assert!(
            reader.cached("k").is_none(),
            "another writer's Put invalidates the reader's copy"
        );
        assert_eq!(reader.get("k").unwrap().as_slice(), b"two");
        assert_eq!(reader.cached("k").unwrap().as_slice(), b"two");
        let big = vec![1u8; CACHE_MAX_VALUE + 1];
        writer.put("big", &big).unwrap();
        assert!(
            writer.cached("big").is_none(),
            "oversized values stay on disk only"
        );
        assert_eq!(*writer.get("big").unwrap(), big);
        let chunk = vec![2u8; CACHE_MAX_VALUE];
        for i in 0..(CACHE_MAX_TOTAL / CACHE_MAX_VALUE + 2) {
            writer.put(&format!("c{i}"), &chunk).unwrap();
        }
        assert!(writer.cache().bytes <= CACHE_MAX_TOTAL);
    }

    #[test]
    fn concurrent_puts_leave_cache_and_disk_agreeing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..50u8 {
                        store.put("contended", &[t, i]).unwrap();
                        store.get("contended").unwrap();
                    }
                });
            }
        });
        let on_disk = FileStore::open(dir.path())
            .unwrap()
            .get("contended")
            .unwrap();
        assert_eq!(store.cached("contended").unwrap(), on_disk);
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
        assert_eq!(store.get(&long_a).unwrap().as_slice(), b"A");
        assert_eq!(store.get(&long_b).unwrap().as_slice(), b"B");
        assert_eq!(store.get("../escape").unwrap().as_slice(), b"C");
        assert_eq!(store.get("").unwrap().as_slice(), b"D");
        assert!(!dir.path().parent().unwrap().join("escape").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files remain");
    }
}
