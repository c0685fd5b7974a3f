"""``@gated`` against a real ``gait serve`` and a real misbehaving HTTP server.

The wrapped function appends to ``ran``; every refusal test asserts it stayed empty
and that the recorder says ``executed: false``.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.sdk import (
    ApprovalRequired,
    AsyncGaitClient,
    DryRunOnly,
    GaitClient,
    GateBadReply,
    GateRequestRejected,
    GateTimeout,
    GateUnavailable,
    Recorder,
    RetryPolicy,
    ToolBlocked,
    gated,
)

from .servers import ALLOW, APPROVAL, BLOCK, DRY_RUN, GAIT, PRIVATE_KEY, GaitServe, Misbehaving
from .servers import closed_port as free_port


def _tool(client: Any, name: str, ran: list[Any], recorder: Recorder | None = None) -> Any:
    @gated(client, tool=name, recorder=recorder)
    def tool(path: str, mode: str = "r") -> dict[str, str]:
        ran.append(path)
        return {"path": path}

    return tool


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        (BLOCK, ToolBlocked, "destructive_tool_blocked"),
        (APPROVAL, ApprovalRequired, "default_require_approval"),
        (DRY_RUN, DryRunOnly, ""),
    ],
)
def test_decorator_never_runs_the_tool_unless_allowed(
    gait_serve: GaitServe, name: str, error: type[Exception], reason: str
) -> None:
    """block, require_approval and dry_run: the typed error, the function not called."""
    ran: list[Any] = []
    recorder = Recorder("t")
    with GaitClient(gait_serve.url) as client:
        tool = _tool(client, name, ran, recorder)
        with pytest.raises(error) as info:
            tool("/srv/a")
    assert ran == []
    decision = info.value.decision  # type: ignore[attr-defined]
    assert decision.verdict != "allow"
    if reason:
        assert reason in decision.reason_codes
    [result] = recorder.results
    assert result["status"] == "error" and result["result"]["executed"] is False


def test_allow_runs_the_tool_and_records_the_pair(gait_serve: GaitServe) -> None:
    """allow: the function runs once with its arguments; intent and result are recorded."""
    ran: list[Any] = []
    recorder = Recorder("t")
    with GaitClient(gait_serve.url) as client:
        assert _tool(client, ALLOW, ran, recorder)("/srv/a") == {"path": "/srv/a"}
    assert ran == ["/srv/a"]
    assert recorder.intents[0]["args"] == {"path": "/srv/a", "mode": "r"}
    assert recorder.results[0]["status"] == "ok"
    assert recorder.results[0]["result"]["executed"] is True


def test_approval_error_carries_the_digest_and_the_exact_command(gait_serve: GaitServe) -> None:
    """The error names the intent digest and a ``gait approve`` command for it."""
    with GaitClient(gait_serve.url) as client, pytest.raises(ApprovalRequired) as info:
        _tool(client, APPROVAL, [])("/srv/a")
    err = info.value
    assert len(err.intent_digest) == 64 and err.intent_digest == err.decision.intent_digest
    assert err.command.startswith(f"gait approve --intent-digest {err.intent_digest} ")
    assert f"--policy-digest {err.policy_digest}" in err.command
    assert "--scope tool:tool.deploy" in err.command
    assert err.details["approve_command"] == err.command


def _approve(err: ApprovalRequired, out: Path) -> Path:
    command = err.command.replace("'<approver>'", "alice").replace("'<ticket>'", "CHG-1")
    command = command.replace("'<approver.key>'", str(PRIVATE_KEY))
    words = command.split()
    words[0] = str(GAIT)
    out_at = words.index("--out") + 1
    words[out_at] = str(out)
    subprocess.run(words, check=True, capture_output=True, timeout=60)
    return out


def test_approval_then_allow_end_to_end_with_a_real_token(
    gait_serve: GaitServe, tmp_path: Path
) -> None:
    """The approver runs the printed command; the retry with that token runs the tool."""
    ran: list[Any] = []
    recorder = Recorder("t")
    with GaitClient(gait_serve.url) as client:
        tool = _tool(client, APPROVAL, ran, recorder)
        with pytest.raises(ApprovalRequired) as info:
            tool("/srv/a")
        token = _approve(info.value, tmp_path / "approval.json")
        assert tool("/srv/a", gait_approval=token) == {"path": "/srv/a"}
    assert ran == ["/srv/a"]
    assert [r["result"]["executed"] for r in recorder.results] == [False, True]


def test_a_token_for_another_intent_does_not_run_the_tool(
    gait_serve: GaitServe, tmp_path: Path
) -> None:
    """A real token minted for other arguments leaves the call at require_approval."""
    ran: list[Any] = []
    with GaitClient(gait_serve.url) as client:
        tool = _tool(client, APPROVAL, ran)
        with pytest.raises(ApprovalRequired) as info:
            tool("/srv/other")
        token = _approve(info.value, tmp_path / "other.json")
        with pytest.raises(ApprovalRequired) as again:
            tool("/srv/a", gait_approval=token)
    assert ran == []
    assert again.value.decision.verdict == "require_approval"
    assert json.loads(token.read_text())["intent_digest"] != again.value.intent_digest


def test_connection_refused_does_not_run_the_tool() -> None:
    """Nobody listening: GateUnavailable, the function not called, recorded as not executed."""
    ran: list[Any] = []
    recorder = Recorder("t")
    with (
        GaitClient(f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(GateUnavailable) as info,
    ):
        _tool(client, ALLOW, ran, recorder)("/srv/a")
    assert info.value.error_code == "gate_unavailable"
    assert ran == []
    assert recorder.results[0]["result"] == {
        "error": "gate_unavailable",
        "reason_codes": [],
        "executed": False,
    }


def test_a_slow_gate_times_out_within_the_budget(misbehaving: Misbehaving) -> None:
    """A reply held beyond the budget: GateTimeout, the function not called."""
    ran: list[Any] = []
    retry = RetryPolicy(budget_s=0.3)
    with GaitClient(misbehaving.url + "/slow", retry=retry) as client, pytest.raises(GateTimeout):
        _tool(client, ALLOW, ran)("/srv/a")
    assert ran == []


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("garbage", GateBadReply),
        ("html", GateBadReply),
        ("maybe", GateBadReply),
        ("executed", GateBadReply),
        ("notok", GateBadReply),
        ("error500", GateUnavailable),
        ("bad400", GateRequestRejected),
    ],
)
def test_a_garbled_or_failing_gate_does_not_run_the_tool(
    misbehaving: Misbehaving, mode: str, error: type[Exception]
) -> None:
    """Garbage, a reply that is not a decision, a 500 or a 400: typed error, no run."""
    ran: list[Any] = []
    with GaitClient(misbehaving.url + "/" + mode) as client, pytest.raises(error):
        _tool(client, ALLOW, ran)("/srv/a")
    assert ran == []
    assert misbehaving.hits[mode] == 1


def test_503_is_retried_honouring_retry_after_then_allows(misbehaving: Misbehaving) -> None:
    """Two 503s with ``Retry-After: 0``, then a decision: three requests, waits of 0s."""
    waits: list[float] = []
    ran: list[Any] = []
    with GaitClient(misbehaving.url + "/busy", sleep=waits.append) as client:
        _tool(client, ALLOW, ran)("/srv/a")
    assert (misbehaving.hits["busy"], waits, ran) == (3, [0.0, 0.0], ["/srv/a"])


def test_429_retries_are_bounded(misbehaving: Misbehaving) -> None:
    """Overload forever: exactly ``attempts`` requests, then GateUnavailable."""
    ran: list[Any] = []
    retry = RetryPolicy(attempts=4)
    with (
        GaitClient(misbehaving.url + "/overload", retry=retry, sleep=lambda s: None) as client,
        pytest.raises(GateUnavailable, match="after 4 attempts"),
    ):
        _tool(client, ALLOW, ran)("/srv/a")
    assert (misbehaving.hits["overload"], ran) == (4, [])


def test_500_is_not_retried(misbehaving: Misbehaving) -> None:
    """Only 503 and 429 are retried."""
    with (
        GaitClient(misbehaving.url + "/error500", sleep=lambda s: None) as client,
        pytest.raises(GateUnavailable),
    ):
        client.evaluate({"name": ALLOW})
    assert misbehaving.hits["error500"] == 1


def test_jittered_backoff_stays_under_its_ceiling() -> None:
    """Without Retry-After the wait is uniform in [0, min(max, base * 2^(n-1))]."""
    policy = RetryPolicy(backoff_s=0.1, max_backoff_s=0.3)
    rng = random.Random(7)
    waits = [policy.wait_s(n, None, rng) for n in (1, 2, 3, 4) for _ in range(50)]
    assert max(waits[:50]) <= 0.1 and max(waits[50:100]) <= 0.2 and max(waits[100:]) <= 0.3
    assert len(set(waits)) == len(waits)
    assert policy.wait_s(1, " 2 ", rng) == 2.0


def test_retry_after_beyond_the_budget_fails_now(misbehaving: Misbehaving) -> None:
    """A Retry-After the budget cannot honour fails at once (no sleep past the deadline)."""
    slept: list[float] = []
    with (
        GaitClient(misbehaving.url + "/later", sleep=slept.append) as client,
        pytest.raises(GateTimeout, match="beyond the 5s budget"),
    ):
        client.evaluate({"name": ALLOW})
    assert (misbehaving.hits["later"], slept) == (1, [])


@pytest.mark.anyio
async def test_async_decorator_on_both_backends(
    gait_serve: GaitServe, misbehaving: Misbehaving
) -> None:
    """The async client and an async tool: allow runs, block and garbage do not."""
    ran: list[str] = []

    async with AsyncGaitClient(gait_serve.url) as client:

        @gated(client, tool=ALLOW)
        async def read(path: str) -> str:
            ran.append(path)
            return path

        @gated(client, tool=BLOCK)
        async def delete(path: str) -> str:
            ran.append("deleted " + path)
            return path

        assert await read("/a") == "/a"
        with pytest.raises(ToolBlocked):
            await delete("/a")
    async with AsyncGaitClient(misbehaving.url + "/garbage") as bad:

        @gated(bad, tool=ALLOW)
        async def read_bad(path: str) -> str:
            ran.append("bad " + path)
            return path

        with pytest.raises(GateBadReply):
            await read_bad("/a")
    assert ran == ["/a"]


@pytest.mark.anyio
async def test_async_client_times_out_and_retries(misbehaving: Misbehaving) -> None:
    """The async client: slow ⇒ GateTimeout within the budget; busy ⇒ retried to a decision."""
    async with AsyncGaitClient(misbehaving.url + "/slow", retry=RetryPolicy(budget_s=0.3)) as c:
        with pytest.raises(GateTimeout):
            await c.evaluate({"name": ALLOW})
    async with AsyncGaitClient(misbehaving.url + "/busy") as c:
        decision = await c.evaluate({"name": ALLOW})
    assert decision.verdict == "allow" and misbehaving.hits["busy"] == 3


def test_an_undecodable_payload_is_refused_by_the_real_server(gait_serve: GaitServe) -> None:
    """A call the adapter cannot decode: the server answers 400, GateRequestRejected."""
    with GaitClient(gait_serve.url) as client, pytest.raises(GateRequestRejected) as info:
        client.check({"function": {"name": "tool.read", "arguments": "[1]"}}, adapter="openai")
    assert info.value.status == 400
    assert "must be a JSON object" in info.value.message
