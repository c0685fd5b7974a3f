"""``gait serve --journal nats://…`` in-process: health, redirect to the owner, takeover."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from gait_runtime.cluster.local import LocalNats

from ..transport.harness import Running, running

pytestmark = pytest.mark.anyio

_SEQ = re.compile(r"sequence=(\d+)")


def _body(session: str, tool: str = "tool.read") -> dict[str, Any]:
    context = {"identity": "agent-1", "workspace": "/srv", "risk_class": "low"}
    return {
        "run_id": "r1",
        "session_id": session,
        "call": {"name": tool, "args": {"path": "/srv/a"}, "context": context},
    }


def _sequence(doc: dict[str, Any]) -> int:
    for warning in doc.get("warnings", []):
        found = _SEQ.search(warning)
        if found and warning.startswith("session_journal="):
            return int(found.group(1))
    raise AssertionError(f"no journal sequence in {doc}")


@asynccontextmanager
async def _supervisor(
    tmp_path: Path, name: str, url: str, **overrides: Any
) -> AsyncIterator[Running]:
    (tmp_path / name).mkdir(exist_ok=True)
    settings: dict[str, Any] = {"lease_s": 2.0, "journal_timeout_s": 2.0, **overrides}
    async with running(tmp_path / name, journal_url=url, **settings) as run:
        yield run


async def test_health_shows_the_backend_the_stream_and_owned_sessions(
    nats: LocalNats, tmp_path: Path, sid: str
) -> None:
    """/v1/health: backend nats, stream state, the session this supervisor now owns."""
    async with _supervisor(tmp_path, "a", nats.url) as a:
        response = await a.client.post("/v1/evaluate", json=_body(sid))
        assert response.status_code == 200, response.text
        assert _sequence(response.json()) == 1
        health = (await a.client.get("/v1/health")).json()
    journal = health["journal"]
    assert journal["backend"] == "nats" and journal["connected"] is True
    assert sid in journal["owned_sessions"]
    assert journal["address"] == a.bound.url()
    assert journal["stream"]["stream"] == "GAIT_SESSIONS"


async def test_a_session_owned_elsewhere_is_redirected_to_its_owner(
    nats: LocalNats, tmp_path: Path, sid: str
) -> None:
    """B answers 307 with A's address; following it, A continues the session's sequence."""
    async with (
        _supervisor(tmp_path, "a", nats.url) as a,
        _supervisor(tmp_path, "b", nats.url) as b,
    ):
        first = await a.client.post("/v1/evaluate", json=_body(sid))
        assert _sequence(first.json()) == 1
        moved = await b.client.post("/v1/evaluate", json=_body(sid))
        assert moved.status_code == 307
        assert moved.headers["location"] == a.bound.url() + "/v1/evaluate"
        followed = await b.client.post("/v1/evaluate", json=_body(sid), follow_redirects=True)
        assert followed.status_code == 200
        assert _sequence(followed.json()) == 2
        # a session nobody owns is served where it is asked for
        other = await b.client.post("/v1/evaluate", json=_body(sid + "-b"))
        assert other.status_code == 200 and _sequence(other.json()) == 1


async def test_an_expired_lease_is_taken_over_with_the_state_recovered(
    nats: LocalNats, tmp_path: Path, sid: str
) -> None:
    """A supervisor whose clock is past A's lease takes the session and continues at N+1."""
    skew_ns = 60 * 1_000_000_000
    async with (
        _supervisor(tmp_path, "a", nats.url) as a,
        _supervisor(tmp_path, "b", nats.url) as b,
    ):
        for n in range(1, 4):
            doc = (await a.client.post("/v1/evaluate", json=_body(sid))).json()
            assert _sequence(doc) == n
        assert b.supervisor.cluster is not None
        b.supervisor.cluster.leases.now_ns = lambda: time.time_ns() + skew_ns
        taken = await b.client.post("/v1/evaluate", json=_body(sid))
        assert taken.status_code == 200, taken.text
        assert _sequence(taken.json()) == 4
        assert b.supervisor.cluster.leases.takeovers == 1
        # A lost its lease: once its renewal notices, it sends callers to B
        assert a.supervisor.cluster is not None
        cluster = a.supervisor.cluster
        await anyio.to_thread.run_sync(lambda: cluster.link.run(cluster.leases.renew_all))
        back = await a.client.post("/v1/evaluate", json=_body(sid))
        assert back.status_code == 307
        assert back.headers["location"].startswith(b.bound.url())


async def test_cluster_down_answers_the_fail_closed_block_or_503(
    nats_fresh: LocalNats, tmp_path: Path, sid: str
) -> None:
    """No ack from the cluster: 500 block by default, 503 + Retry-After when configured."""
    async with (
        _supervisor(tmp_path, "a", nats_fresh.url, journal_timeout_s=0.5) as a,
        _supervisor(
            tmp_path, "b", nats_fresh.url, journal_timeout_s=0.5, cluster_unavailable_status=503
        ) as b,
    ):
        assert (await a.client.post("/v1/evaluate", json=_body(sid))).status_code == 200
        assert (await b.client.post("/v1/evaluate", json=_body(sid + "b"))).status_code == 200
        nats_fresh.kill(0)
        blocked = await a.client.post("/v1/evaluate", json=_body(sid))
        assert blocked.status_code == 500
        assert blocked.json()["verdict"] == "block" and blocked.json()["executed"] is False
        unavailable = await b.client.post("/v1/evaluate", json=_body(sid + "b"))
        assert unavailable.status_code == 503
        assert unavailable.headers["retry-after"] == "1"
