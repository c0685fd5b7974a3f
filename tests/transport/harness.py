"""A real decision server for tests: the Supervisor in-process on 127.0.0.1:0.

``running(tmp_path, ...)`` starts a :class:`Supervisor` inside the caller's task
(so it works on both anyio backends), waits for ``task_status.started()`` and
yields the bound address, the supervisor and an ``httpx.AsyncClient``; leaving
the block drains the server. ``parse_http_vector`` reads the ``curl -i``
captures of the Go service.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gait_runtime.supervisor.journal.store import FileOpener
from gait_runtime.supervisor.runtime import Supervisor
from gait_runtime.supervisor.service.config import ListenAddress, ServiceConfig
from gait_runtime.supervisor.service.server import BoundAddress

SERVER_MATRIX = [("asyncio", "uvicorn"), ("asyncio", "hypercorn"), ("trio", "hypercorn")]
"""Every HTTP server we ship on every backend it runs on (uvicorn runs only on asyncio)."""

every_server = pytest.mark.parametrize(
    ("anyio_backend", "http_server"), SERVER_MATRIX, ids=[f"{b}-{s}" for b, s in SERVER_MATRIX]
)
"""For tests of HTTP behaviour: run them on each shipped server (they take ``http_server``
and pass it to :func:`running`)."""

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
SERVICE = VECTORS / "service"
PRIVATE_KEY = VECTORS / "keys" / "gait_private.key"
PUBLIC_KEY = VECTORS / "keys" / "gait_public.key"


@dataclass
class Running:
    """A started server and a client bound to it."""

    supervisor: Supervisor
    bound: BoundAddress
    client: httpx.AsyncClient
    config: ServiceConfig


def service_config(tmp_path: Path, **overrides: Any) -> ServiceConfig:
    """A config for tests: loopback ephemeral port, prod vector key, dirs under ``tmp_path``."""
    policy = tmp_path / "policy.yaml"
    if not policy.exists():
        policy.write_bytes((SERVICE / "policy.yaml").read_bytes())
    settings: dict[str, Any] = {
        "policy_path": policy,
        "listen": ListenAddress("127.0.0.1", 0),
        "trace_dir": tmp_path / "traces",
        "session_dir": tmp_path / "sessions",
        "key_mode": "prod",
        "private_key": str(PRIVATE_KEY),
        "drain_timeout_s": 5.0,
        "policy_poll_s": 0.0,
    }
    settings.update(overrides)
    return ServiceConfig(**settings)


@asynccontextmanager
async def running(
    tmp_path: Path,
    *,
    journal_opener: FileOpener | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **overrides: Any,
) -> AsyncIterator[Running]:
    """Start a real supervisor; yield it with a client; drain it on exit."""
    config = service_config(tmp_path, **overrides)
    supervisor = Supervisor(config, journal_opener=journal_opener)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(15):
            bound = await tg.start(supervisor.run)
        if config.http_server != "auto":  # the server asked for is the one serving
            assert supervisor.health()["http_server"] == config.http_server
        base = "http://gait" if bound.unix_path else bound.url()
        async with httpx.AsyncClient(base_url=base, timeout=15, transport=transport) as client:
            yield Running(supervisor, bound, client, config)
        supervisor.request_shutdown()


@dataclass
class HTTPVector:
    """One ``curl -i`` capture: status, headers (lower-cased) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (SSE bodies: the ``data:`` line)."""
        if self.body.startswith(b"event: "):
            data = self.body.split(b"\ndata: ", 1)[1].split(b"\n", 1)[0]
            return json.loads(data)
        return json.loads(self.body)


def parse_http_vector(path: Path) -> HTTPVector:
    """Read a ``curl -i`` response file."""
    raw = path.read_bytes().replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode().split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HTTPVector(status, headers, body)


def comparable(doc: Any, *, trace_dir: str, session_dir: str, export_dir: str = "") -> Any:
    """A Go or Python response with run-specific parts removed or renamed.

    Drops ``decision_latency_ms``; replaces directory prefixes; replaces the
    trace/runpack timestamp with ``<stamp>``.
    """
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    out.pop("decision_latency_ms", None)
    for key in ("trace_path", "runpack_path"):
        if key in out:
            name = Path(out[key]).name
            out[key] = "<dir>/" + name.rsplit("_", 1)[0] + "_<stamp>" + Path(name).suffix
    for key in ("log_export", "otel_export"):
        if key in out:
            out[key] = "<exports>/" + Path(out[key]).name
    if "warnings" in out:
        out["warnings"] = [w.replace(session_dir + "/", "<sessions>/") for w in out["warnings"]]
    return out
