"""The KV store: one file per key, written atomically (temp file + rename)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

#: hex names longer than this would pass NAME_MAX (255) on common filesystems
_MAX_HEX = 200


class KeyNotFound(KeyError):
    pass


class FileStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """A file name safe for any key: hex of its UTF-8 bytes, or a hash when too long."""
        raw = key.encode("utf-8", "surrogatepass")
        hexed = raw.hex()
        name = f"k-{hexed}" if len(hexed) <= _MAX_HEX else f"h-{hashlib.sha256(raw).hexdigest()}"
        return self.dir / name

    def put(self, key: str, value: bytes) -> None:
        target = self.path_for(key)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(value)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(key) from None
