"""Fixtures: one real ``gait serve`` and one misbehaving HTTP server per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import ALLOW, GaitServe, Misbehaving


@pytest.fixture(scope="module")
def gait_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GaitServe]:
    """A running ``gait serve`` on 127.0.0.1 with the service vector policy."""
    server = GaitServe(tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def allow_reply(gait_serve: GaitServe) -> dict[str, object]:
    """A real allow reply of ``gait serve`` (the misbehaving server replays it)."""
    import httpx

    body = {"adapter": "mcp", "call": {"name": ALLOW, "args": {"path": "/srv/a"}}}
    reply = httpx.post(gait_serve.url + "/v1/evaluate", json=body, timeout=10)
    doc: dict[str, object] = reply.json()
    assert doc["verdict"] == "allow"
    return doc


@pytest.fixture
def misbehaving(allow_reply: dict[str, object]) -> Iterator[Misbehaving]:
    """A fresh misbehaving HTTP server (its counters start at zero)."""
    server = Misbehaving(allow_reply)
    yield server
    server.stop()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in ``tmp_path`` (token files land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
