"""The gateway's result records over a real session layer (real journals, fsync, both backends).

Queued records are all written when the recorder stops, past the backlog bound the caller
writes its own, and a record that cannot be written is counted, never raised.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp_types as types
import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.supervisor import SessionConfig, SessionManager
from gait_runtime.supervisor.transport.mcp_gateway.results import (
    RESULT_BACKLOG,
    RESULT_REASON,
    ResultRecorder,
)

from .harness import journal_events

pytestmark = pytest.mark.anyio


def _decision(session: str, n: int) -> dict[str, object]:
    return {
        "session_id": session,
        "run_id": f"mcp_{session}",
        "tool_name": "upstream.echo",
        "trace_id": f"trace-{n:04d}",
        "intent_digest": "a" * 64,
        "policy_digest": "b" * 64,
    }


def _result(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)


async def test_backlog_past_the_bound_all_written_gap_free(tmp_path: Path) -> None:
    """More concurrent records than the backlog bound (past it the callers write their own):
    none is lost, none is pending after the recorder stopped, the journal is gap-free."""
    calls = RESULT_BACKLOG + 44
    recorder = ResultRecorder()
    config = SessionConfig(session_dir=tmp_path / "sessions", clock=FakeClock(step_ns=1000))
    with anyio.fail_after(60):
        async with SessionManager(config) as sessions:
            async with recorder.running():

                async def one(n: int) -> None:
                    await recorder.record(sessions, _decision("s1", n), _result(f"r{n}"))

                async with anyio.create_task_group() as tg:
                    for n in range(calls):
                        tg.start_soon(one, n)
            assert recorder.pending == 0
    events = journal_events(next((tmp_path / "sessions").glob("*.journal.jsonl")))
    assert [e["sequence"] for e in events] == list(range(1, calls + 1))
    assert all(RESULT_REASON in e["reason_codes"] for e in events)
    assert {e["trace_id"] for e in events} == {f"trace-{n:04d}" for n in range(calls)}
    assert recorder.failed == 0


async def test_a_record_that_cannot_be_written_is_counted_not_raised(tmp_path: Path) -> None:
    """An invalid session id makes the append fail: the call goes on, the failure is counted;
    an error result is marked ``result_is_error``."""
    recorder = ResultRecorder()
    config = SessionConfig(session_dir=tmp_path / "sessions", clock=FakeClock(step_ns=1000))
    with anyio.fail_after(60):
        async with SessionManager(config) as sessions, recorder.running():
            await recorder.record(sessions, _decision("bad\x00id", 1), _result("x"))
            await recorder.record(sessions, _decision("s2", 2), _result("no", error=True))
    assert recorder.failed == 1 and recorder.pending == 0
    events = journal_events(next((tmp_path / "sessions").glob("*.journal.jsonl")))
    codes = [e["reason_codes"] for e in events]
    assert len(codes) == 1 and "result_is_error" in codes[0]
