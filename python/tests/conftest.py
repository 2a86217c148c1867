"""Plugins to host, located relative to the repository root.

The Rust KV plugin must be built (`cargo build --release -p soup-server -p soup-cli`):
its absence fails the tests that need it, with that command. The Go and Python peers are
built by `cargo xtask peers`; tests that need one of them skip, saying so, when it is not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOUP_SERVER = ROOT / "target" / "release" / "soup-server"
SOUP_CLI = ROOT / "target" / "release" / "soup"
SOUP_GO = ROOT / "target" / "peers" / "bin" / "soup-go"
PEER_VENV_PYTHON = ROOT / "target" / "peers" / "venv" / "bin" / "python"
PY_PEER = ROOT / "python" / "peer" / "soup_peer.py"
RS_PEER = ROOT / "python" / "peer" / "soup_rs_peer.py"
SCHEMA = ROOT / "proto" / "peer-report.schema.json"

# The KV stubs grpcio-tools generated for the Python peer (peerlib.gen.kv_pb2_grpc),
# reused by the channel tests instead of a second generated copy.
sys.path.append(str(ROOT / "python" / "peer"))

# The key type each server presents under AutoMTLS when this host sends an ec-p256
# certificate: soup-server matches the host's key; go-plugin always makes P-521;
# pyvider-rpcplugin's server makes P-384.
SERVER_KEY = {"rust": "ec-p256", "go": "ec-p521", "python": "ec-p384"}


def require_rust() -> None:
    """Fails (not skips) when the Rust binaries are missing: they are this repo's own."""
    for path in (SOUP_SERVER, SOUP_CLI):
        if not path.exists():
            pytest.fail(
                f"{path} is missing: build it with "
                "`cargo build --release -p soup-server -p soup-cli`",
                pytrace=False,
            )


def server_command(kind: str, store: Path, *extra: str) -> List[str]:
    """The `PEER server` command of a peer, storing its KV data under `store`."""
    if kind == "rust":
        require_rust()
        # A peer, so the peer contract's probe is on (soup-server, a product, needs asking).
        return [str(SOUP_SERVER), "--peer-contract", "server", "--store", str(store), *extra]
    if kind == "go":
        if not SOUP_GO.exists():
            pytest.skip(f"Go peer not built ({SOUP_GO}); run `cargo xtask peers`")
        return [str(SOUP_GO), "server", "--store", str(store), *extra]
    if kind == "python":
        if not PEER_VENV_PYTHON.exists():
            pytest.skip(f"Python peer venv not built ({PEER_VENV_PYTHON}); run `cargo xtask peers`")
        return [str(PEER_VENV_PYTHON), str(PY_PEER), "server", "--store", str(store), *extra]
    raise ValueError(kind)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A fresh KV store directory."""
    d = tmp_path / "store"
    d.mkdir()
    return d


@pytest.fixture
def rust_server(store: Path) -> List[str]:
    """soup-server's command line (AutoMTLS by default)."""
    return server_command("rust", store)


@pytest.fixture
def make_server(tmp_path: Path) -> Callable[..., List[str]]:
    """Builds a server command for a peer kind, each with its own store."""
    counter = iter(range(10_000))

    def make(kind: str, *extra: str) -> List[str]:
        d = tmp_path / f"store-{kind}-{next(counter)}"
        d.mkdir()
        return server_command(kind, d, *extra)

    return make


def process_gone(pid: int) -> bool:
    """True when `pid` no longer exists at all: not running and not a zombie (reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def zombie_children() -> List[int]:
    """This process's children that exited but were never reaped."""
    return [pid for pid, state in _children() if state == "Z"]


def child_pids() -> List[int]:
    """This process's child processes, running or not."""
    return [pid for pid, _ in _children()]


def _children() -> List[tuple]:
    me = os.getpid()
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me:
            children.append((int(entry.name), fields[0]))
    return children


@pytest.fixture(autouse=True)
def no_zombies_left() -> Iterator[None]:
    """Every test ends with no unreaped plugin process."""
    yield
    assert zombie_children() == []


@pytest.fixture(scope="session")
def manual_tls(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A CA and two leaves (server, client) for manual TLS, made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make manual TLS certificates")
    d = tmp_path_factory.mktemp("manual-tls")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=soup test CA", "-days", "2", "-out", "ca.pem")
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "basicConstraints=CA:FALSE\n"
    )
    for leaf in ("server", "client"):
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{leaf}.ec")
        run("pkcs8", "-topk8", "-nocrypt", "-in", f"{leaf}.ec", "-out", f"{leaf}.key")
        run("req", "-new", "-key", f"{leaf}.key", "-subj", "/CN=localhost", "-out", f"{leaf}.csr")
        run(
            "x509", "-req", "-in", f"{leaf}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", f"{leaf}.pem",
        )
    return {
        "ca": d / "ca.pem",
        "server_cert": d / "server.pem",
        "server_key": d / "server.key",
        "client_cert": d / "client.pem",
        "client_key": d / "client.key",
    }


def python_exe() -> str:
    """The interpreter running the tests (the one soup_rpc is installed in)."""
    return sys.executable


def stop(pid: int, bound: float = 10.0) -> None:
    """SIGSTOPs `pid` and returns once every one of its threads is stopped: kill(2) only
    queues the signal, and a Go plugin's thread running on another core can still answer
    a request that arrives meanwhile."""
    import signal
    import time

    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + bound
    while True:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(") ", 1)[1][0])
            except (FileNotFoundError, IndexError):
                continue
        if states and all(s in "tT" for s in states):
            return
        assert time.monotonic() < deadline, f"pid {pid} not stopped after {bound} s: {states}"
        time.sleep(0.002)
