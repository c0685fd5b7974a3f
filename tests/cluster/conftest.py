"""Real nats-server processes for the JetStream tests (started here, loopback only).

``nats`` is one JetStream server shared by the tests of a module (each test
uses its own session ids, so they never see each other's subjects);
``nats_fresh`` is a server of the test's own, for tests that kill it;
``nats3`` is a 3-node cluster of the test's own (R3). Every start is bounded
(``LocalNats.start_timeout_s``), every node is stopped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gait_runtime.cluster import NatsLink, NatsSettings
from gait_runtime.cluster.local import LocalNats


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """One JetStream server for the module."""
    server = LocalNats(tmp_path_factory.mktemp("nats"), nodes=1).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_fresh(tmp_path: Path) -> Iterator[LocalNats]:
    """A JetStream server of the test's own (it may kill it)."""
    server = LocalNats(tmp_path / "nats", nodes=1).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats3(tmp_path: Path) -> Iterator[LocalNats]:
    """A 3-node JetStream cluster of the test's own."""
    cluster = LocalNats(tmp_path / "nats3", nodes=3).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def link(nats: LocalNats) -> Iterator[NatsLink]:
    """A started link to the module's server."""
    client = NatsLink(NatsSettings.from_url(nats.url, timeout_s=3.0))
    client.start()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def sid() -> str:
    """A session id no other test uses."""
    return f"s-{uuid.uuid4().hex[:12]}"
