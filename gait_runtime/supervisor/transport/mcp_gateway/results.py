"""The gateway's result records: one journal event per executed call, after its decision.

Owns: :class:`ResultRecorder`. An executed call's result is recorded in the
caller's session as its own event (reason codes ``mcp_tool_result``,
``result_sha256=<hex of the result's JSON>``, ``result_bytes=<n>``, plus
``result_is_error`` for an error result; same trace id, digests and policy as
the call's decision event). It is a second event, not a field of the first:
the decision event must be durable before the upstream sees the call (fail
closed), and a journal event is never rewritten. So ``n`` executed calls give
``2n`` events in the session, gap-free; a refused call gives one.

The record is queued as the caller is answered, not waited for: at most
:data:`RESULT_BACKLOG` records are in flight, past that the caller waits for its
own (a slow journal still pushes back), and every pending record is written
before the gateway stops. A record that cannot be written is logged and counted
(``result_records_failed``); the call's decision record is durable already.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio
import anyio.abc
import mcp_types as types
import structlog

from ....artifacts.jcs import sha256_hex
from ....errors import GaitError
from ...journal.records import EventFields
from ...sessions.manager import SessionManager

__all__ = ["RESULT_BACKLOG", "RESULT_REASON", "ResultRecorder"]

_log = structlog.get_logger("gait_runtime.supervisor.transport.mcp_gateway.results")

RESULT_REASON: Final = "mcp_tool_result"
"""The reason code marking a result record."""
RESULT_BACKLOG: Final = 256
"""Most result records being written in the background at once."""


def _reasons(result: types.CallToolResult) -> tuple[str, ...]:
    data = result.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
    reasons = [RESULT_REASON, f"result_sha256={sha256_hex(data)}", f"result_bytes={len(data)}"]
    if result.is_error:
        reasons.append("result_is_error")
    return tuple(reasons)


class ResultRecorder:
    """Writes result records in the background while :meth:`running` is entered."""

    def __init__(self) -> None:
        self._tg: anyio.abc.TaskGroup | None = None
        self.pending = 0
        self.failed = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Accept background records; on exit every pending one has been written."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield
            finally:
                self._tg = None

    async def record(
        self, sessions: SessionManager, decision: dict[str, Any], result: types.CallToolResult
    ) -> None:
        """Queue the record of ``result`` for the session the ``decision`` was journaled in."""
        session = str(decision.get("session_id") or "")
        if not session:
            return
        reasons = _reasons(result)
        self.pending += 1
        tg = self._tg
        if tg is not None and self.pending <= RESULT_BACKLOG:
            tg.start_soon(self._append, sessions, session, decision, reasons)
        else:
            await self._append(sessions, session, decision, reasons)

    async def _append(
        self,
        sessions: SessionManager,
        session: str,
        decision: dict[str, Any],
        reasons: tuple[str, ...],
    ) -> None:
        try:
            await sessions.append(
                session,
                str(decision.get("run_id") or ""),
                EventFields(
                    tool_name=str(decision.get("tool_name") or ""),
                    verdict="allow",
                    trace_id=str(decision.get("trace_id") or ""),
                    trace_path=str(decision.get("trace_path") or ""),
                    intent_digest=str(decision.get("intent_digest") or ""),
                    policy_digest=str(decision.get("policy_digest") or ""),
                    policy_id=str(decision.get("policy_id") or ""),
                    policy_version=str(decision.get("policy_version") or ""),
                    reason_codes=reasons,
                ),
            )
        except Exception as exc:  # a background record must never take the gateway down
            self.failed += 1
            message = exc.message if isinstance(exc, GaitError) else f"{type(exc).__name__}: {exc}"
            _log.error("mcp_result_journal_failed", session_id=session, error=message)
        finally:
            self.pending -= 1
