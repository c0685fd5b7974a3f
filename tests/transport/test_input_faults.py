"""Client input that used to be answered 500 (internal failure) is a 400, before any artifact.

Real supervisor on 127.0.0.1:0 (both anyio backends), real files. Each case checks the
status, the Go error body, that the decision path counted no internal failure and that no
trace or journal was written for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .harness import running

pytestmark = pytest.mark.anyio


def _call(context: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"identity": "agent-1", "workspace": "/srv", "risk_class": "low"}
    ctx.update(context or {})
    body: dict[str, Any] = {
        "call": {"name": "tool.read", "args": {"path": "/srv/a"}, "context": ctx}
    }
    body.update(extra)
    return body


def _nested(depth: int) -> bytes:
    args = "[" * depth + "]" * depth
    return (
        b'{"call":{"name":"tool.read","args":{"x":' + args.encode() + b"},"
        b'"context":{"identity":"a","workspace":"/srv","risk_class":"low","session_id":"s"}}}'
    )


CASES: list[tuple[str, bytes, str]] = [
    (
        "invalid UTF-8",
        b'{"call":{"name":"tool.read","args":{"p":"\xff\xfe"},"context":{"session_id":"s"}}}',
        "decode request: body is not valid UTF-8",
    ),
    (
        "NUL in session_id",
        json.dumps(_call({"session_id": "a\x00b"})).encode(),
        "call.context.session_id contains a control character",
    ),
    (
        "newline and escape in request session_id",
        json.dumps(_call(session_id="a\n\x1b[31mb")).encode(),
        "request.session_id contains a control character",
    ),
    (
        "session_id too long",
        json.dumps(_call({"session_id": "s" * 230})).encode(),
        "call.context.session_id is longer than 128 bytes",
    ),
    (
        "run_id too long",
        json.dumps(_call({"session_id": "s"}, run_id="r" * 210)).encode(),
        "request.run_id is longer than 128 bytes",
    ),
    (
        "multi-byte session_id over the byte bound",
        json.dumps(_call({"session_id": "é" * 100})).encode(),
        "call.context.session_id is longer than 128 bytes",
    ),
    ("nesting depth 65", _nested(65), "request.call is nested deeper than 64 levels"),
    ("nesting depth 1000", _nested(1000), "request.call is nested deeper than 64 levels"),
    ("nesting depth 5000", _nested(5000), "request.call is nested deeper than 64 levels"),
    (
        "non-string session_id",
        json.dumps(_call({"session_id": True})).encode(),
        "call.context.session_id must be a string",
    ),
    (
        "non-string identity",
        json.dumps(_call({"identity": 7, "session_id": "s"})).encode(),
        "call.context.identity must be a string",
    ),
    (
        "context not an object",
        json.dumps({"call": {"name": "tool.read", "args": {}, "context": "s"}}).encode(),
        "call.context must be an object",
    ),
]


@pytest.mark.parametrize(("case", "content", "message"), CASES, ids=[c[0] for c in CASES])
async def test_client_input_is_a_400_before_any_artifact(
    tmp_path: Path, case: str, content: bytes, message: str
) -> None:
    """Issue 13.3: each of these was a 500 with a traceback (some after the trace was
    written); now a 400 with a one-line message, no internal failure, nothing written."""
    async with running(tmp_path) as run:
        response = await run.client.post(
            "/v1/evaluate", content=content, headers={"content-type": "application/json"}
        )
        health = (await run.client.get("/v1/health")).json()
    assert response.status_code == 400, (case, response.text)
    assert response.json() == {"error": message, "ok": False}
    assert health["errors"]["internal_failures"] == 0
    assert health["errors"]["invalid_requests"] == 1
    assert sum(health["decisions"].values()) == 0
    assert not list((tmp_path / "traces").glob("trace_*"))
    assert health["traces"]["log"]["lines"] == 0
    assert all(s.stat().st_size == 0 for s in (tmp_path / "traces" / "log").glob("tracelog-*"))
    assert not list((tmp_path / "sessions").glob("*.jsonl"))


async def test_the_largest_accepted_identifiers_are_journaled(tmp_path: Path) -> None:
    """The bounds are inclusive: 128-byte ids work end to end (journal and trace names fit)."""
    async with running(tmp_path) as run:
        body = _call({"session_id": "s" * 128}, run_id="r" * 128)
        response = await run.client.post("/v1/evaluate", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "allow"
    assert len(list((tmp_path / "sessions").glob("*.journal.jsonl"))) == 1


async def test_one_session_without_a_run_id_keeps_one_journal(tmp_path: Path) -> None:
    """Issue 13.2: the default run id was one per distinct intent (one session made 1,105
    journals); now it is stable per session: one journal, gap-free sequences."""
    async with running(tmp_path) as run:
        bodies = []
        for n in range(5):
            call = _call({"session_id": "one"})
            call["call"]["args"] = {"path": f"/srv/{n}"}
            response = await run.client.post("/v1/evaluate", json=call)
            assert response.status_code == 200, response.text
            bodies.append(response.json())
    assert len({b["run_id"] for b in bodies}) == 1
    assert bodies[0]["run_id"].startswith("run_session_")
    journals = list((tmp_path / "sessions").glob("*.journal.jsonl"))
    assert [j.name for j in journals] == ["one.journal.jsonl"]
    events = [json.loads(line) for line in journals[0].read_text().splitlines()]
    assert [e["event"]["sequence"] for e in events if e["record_type"] == "event"] == [
        1,
        2,
        3,
        4,
        5,
    ]


async def test_session_ids_that_normalise_alike_each_keep_their_journal(tmp_path: Path) -> None:
    """Issue 13.5: x/y, x:y, x y, x\\y and x_y all mapped to x_y; all but one were refused
    for good. Now each is its own session with its own journal."""
    ids = ["x/y", "x:y", "x y", "x\\y", "x_y"]
    async with running(tmp_path) as run:
        for round_ in range(2):
            for sid in ids:
                response = await run.client.post("/v1/evaluate", json=_call({"session_id": sid}))
                assert response.status_code == 200, (sid, response.text)
                assert f"sequence={round_ + 1}" in response.json()["warnings"][-1]
    names = sorted(p.name for p in (tmp_path / "sessions").glob("*.journal.jsonl"))
    assert len(names) == 5
    assert "x_y.journal.jsonl" in names  # the id that is its own name keeps Go's name
