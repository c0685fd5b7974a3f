"""``LocalGate`` (same interface, in-process) and the recorder's run record."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from gait_runtime.artifacts.keys import KeySource, load_private
from gait_runtime.gate.approval import mint_token
from gait_runtime.runpack.run_record import record_from_input
from gait_runtime.sdk import (
    ApprovalRequired,
    CallDecodeError,
    DryRunOnly,
    LocalGate,
    Recorder,
    ToolBlocked,
    gated,
)

from .servers import ALLOW, APPROVAL, BLOCK, DRY_RUN, GAIT, POLICY, PRIVATE_KEY, PUBLIC_KEY

NOW = 1_780_000_000_000_000_000


def _gate(tmp: Path | None = None) -> LocalGate:
    return LocalGate(
        POLICY,
        key_mode="prod",
        private_key=str(PRIVATE_KEY),
        approval_public_key=str(PUBLIC_KEY),
        trace_dir=tmp,
        clock_ns=lambda: NOW,
    )


def test_local_gate_gives_the_server_digests(vectors: Path) -> None:
    """The service vector requests decide with the Go server's digests and verdicts."""
    gate = _gate()
    names = ("allow_mcp", "block_mcp", "require_approval_mcp", "dry_run_mcp", "allow_openai")
    for number, name in enumerate(names, start=2):
        request = json.loads((vectors / "service" / "requests" / f"{name}.json").read_text())
        http = vectors / "service" / "responses" / "compat" / f"{number:02d}_{name}.http"
        reply = json.loads(http.read_text().split("\n\n", 1)[1])
        decision = gate.evaluate(request["call"], adapter=request.get("adapter", "mcp"))
        assert (decision.verdict, decision.intent_digest, decision.policy_digest) == (
            reply["verdict"],
            reply["intent_digest"],
            reply["policy_digest"],
        )


@pytest.mark.parametrize(
    ("tool", "error"), [(BLOCK, ToolBlocked), (DRY_RUN, DryRunOnly), (APPROVAL, ApprovalRequired)]
)
def test_local_gate_refusals_do_not_run_the_tool(tool: str, error: type[Exception]) -> None:
    """Same decorator, in-process gate: the function is not called."""
    ran: list[str] = []

    @gated(_gate(), tool=tool)
    def fn(path: str) -> str:
        ran.append(path)
        return path

    with pytest.raises(error):
        fn("/a")
    assert ran == []


def test_local_gate_approval_then_allow_with_a_real_token(tmp_path: Path) -> None:
    """A token minted for the intent digest lets the retried call run; a trace is written."""
    ran: list[str] = []
    gate = _gate(tmp_path)

    @gated(gate, tool=APPROVAL, context={"identity": "agent", "workspace": "/w"})
    def deploy(env: str) -> str:
        ran.append(env)
        return "deployed " + env

    with pytest.raises(ApprovalRequired) as info:
        deploy("prod")
    err = info.value
    token = mint_token(
        intent_digest=err.intent_digest,
        policy_digest=err.policy_digest,
        approver="alice",
        reason_code="CHG-1",
        scope=list(err.scope),
        ttl_ns=3_600_000_000_000,
        now_ns=NOW,
        key=load_private(KeySource(path=str(PRIVATE_KEY))),
        producer_version="0.0.0-dev",
    )
    assert deploy("prod", gait_approval=token) == "deployed prod"  # type: ignore[call-arg]
    assert ran == ["prod"]
    assert len(list(tmp_path.glob("trace_*.json"))) == 2


def test_undecodable_calls_are_typed_errors() -> None:
    """Arguments that are not JSON data, or an unknown adapter: CallDecodeError, no run."""
    ran: list[Any] = []

    @gated(_gate(), tool=ALLOW)
    def fn(obj: object) -> None:
        ran.append(obj)

    with pytest.raises(CallDecodeError):
        fn(object())
    with pytest.raises(CallDecodeError, match="unsupported adapter"):
        _gate().evaluate({"name": ALLOW}, adapter="smtp")
    assert ran == []


def test_local_gate_in_async_tools() -> None:
    """An async tool with the in-process gate."""
    ran: list[str] = []

    @gated(_gate(), tool=ALLOW)
    async def read(path: str) -> str:
        ran.append(path)
        return path

    assert anyio.run(read, "/a") == "/a" and ran == ["/a"]


def test_recorder_writes_a_run_record_that_becomes_a_runpack(tmp_path: Path) -> None:
    """Allowed and refused calls, in order; ``gait run record`` turns it into a runpack."""
    recorder = Recorder("quickstart", clock_ns=lambda: NOW)
    gate = _gate()

    @gated(gate, tool=ALLOW, recorder=recorder)
    def read(path: str) -> str:
        return "content of " + path

    @gated(gate, tool=BLOCK, recorder=recorder)
    def delete(path: str) -> None:
        raise AssertionError("never runs")

    read("/a")
    with pytest.raises(ToolBlocked):
        delete("/a")
    doc = recorder.run_record()
    assert [i["tool_name"] for i in doc["intents"]] == [ALLOW, BLOCK]
    assert [(r["status"], r["result"]["executed"]) for r in doc["results"]] == [
        ("ok", True),
        ("error", False),
    ]
    outcome = record_from_input(json.loads(json.dumps(doc)), source="memory")
    assert outcome.runpack.run_id == "run_quickstart"
    path = recorder.write(tmp_path / "run_record.json")
    proc = subprocess.run(
        [str(GAIT), "run", "record", "--input", str(path), "--out-dir", str(tmp_path), "--json"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout
    assert (tmp_path / "runpack_run_quickstart.zip").is_file()
