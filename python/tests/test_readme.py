"""The README's Python example ("### From Python") runs as written and prints what its
comments say: only the plugin command is swapped for this checkout's soup-server (with a
store of its own)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List

from conftest import ROOT, server_command

README = ROOT / "README.md"
PLUGIN_LINE = 'plugin = ["target/release/soup-server", "server"]'


def readme_python_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^### From Python.*?$(.*?)^## ", text, re.S | re.M)
    assert section, "README.md has no '### From Python' section"
    block = re.search(r"^```python\n(.*?)^```$", section.group(1), re.S | re.M)
    assert block, "the '### From Python' section has no ```python block"
    return block.group(1)


def test_readme_python_example_runs_as_documented(tmp_path: Path) -> None:
    code = readme_python_block()
    assert code.count(PLUGIN_LINE) == 1, f"the example no longer starts with {PLUGIN_LINE!r}"
    store = tmp_path / "store"
    store.mkdir()
    plugin: List[str] = server_command("rust", store)
    code = code.replace(PLUGIN_LINE, f"plugin = {plugin!r}")

    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5, done.stdout
    assert lines[0] == "b'hello'"
    assert re.fullmatch(
        r"Certificate\(key_type='ec-p256', signature_algorithm='ecdsa-with-SHA\d+', sha256='[0-9a-f]{64}'\)",
        lines[1],
    ), lines[1]
    assert lines[2] == "NOT_FOUND"
    assert lines[3] == "[b'hello', b'hello', b'hello']"
    assert lines[4] == "1", "health SERVING through grpcio's stub over soup_rpc's channel"
