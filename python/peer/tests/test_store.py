"""The file store: byte-exact round trips, safe names, atomic writes, missing keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from peerlib.store import FileStore, KeyNotFound


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "kv")


def test_all_256_single_byte_values(store: FileStore) -> None:
    for b in range(256):
        store.put(f"b{b}", bytes([b]))
    for b in range(256):
        assert store.get(f"b{b}") == bytes([b])


def test_all_bytes_in_order_1mib_and_empty(store: FileStore) -> None:
    values = {"binary": bytes(range(256)), "large": bytes(i % 251 for i in range(1 << 20)), "empty": b""}
    for k, v in values.items():
        store.put(k, v)
    for k, v in values.items():
        assert store.get(k) == v


@pytest.mark.parametrize("key", ["ключ-🔑-键", "", "a/b", "..", "/etc/passwd", "nul\x00byte", "x" * 5000])
def test_any_key_is_a_safe_file_name(store: FileStore, key: str) -> None:
    store.put(key, key.encode("utf-8", "surrogatepass") + b"!")
    assert store.get(key) == key.encode("utf-8", "surrogatepass") + b"!"
    path = store.path_for(key)
    assert path.parent == store.dir
    assert len(path.name) < 256


def test_overwrite_leaves_no_temp_files(store: FileStore) -> None:
    store.put("k", b"first")
    store.put("k", b"second")
    assert store.get("k") == b"second"
    assert [p.name for p in store.dir.iterdir()] == [store.path_for("k").name]


def test_missing_key(store: FileStore) -> None:
    with pytest.raises(KeyNotFound):
        store.get("missing-key")


def test_persists_across_instances(tmp_path: Path) -> None:
    FileStore(tmp_path).put("k", b"v")
    assert FileStore(tmp_path).get("k") == b"v"
