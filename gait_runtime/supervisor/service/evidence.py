"""The files one decision leaves: names, trace bytes and the one-decision runpack (§3.3).

Owns: :func:`normalize_run_id` (the run id rule of ``spec/service.md`` §3.3),
:func:`default_run_id` (the run id of a request that names none),
:func:`file_stamp` (the ``yyyymmddThhmmss.nnnnnnnnn`` part of file names),
:func:`trace_file_bytes` (pretty Go JSON of a signed trace) and
:func:`decision_runpack` (the runpack the Go service writes for
``emit_runpack``). Pure: the decision path writes them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

from ...artifacts.gojson import go_json_indent
from ...artifacts.jcs import digest
from ...artifacts.timefmt import format_ns
from ...gate.intent import NormalizedIntent
from ...runpack.record import Runpack, build_runpack

__all__ = [
    "decision_runpack",
    "default_run_id",
    "file_stamp",
    "normalize_run_id",
    "trace_file_bytes",
]

_RUN_ID_JUNK: Final = re.compile(r"[^A-Za-z0-9_-]+")


def normalize_run_id(text: str) -> str:
    """``spec/service.md`` §3.3: keep ``[A-Za-z0-9_-]``, strip ``_``, prefix ``run_``."""
    cleaned = _RUN_ID_JUNK.sub("_", text.strip()).strip("_")
    if not cleaned:
        return ""
    return cleaned if cleaned.startswith("run_") else "run_" + cleaned


def default_run_id(session_id: str, intent_digest: str) -> str:
    """The run id of a decision whose request names none.

    Without a session it is Go's ``run_mcp_`` + 12 hex of the intent digest. With a
    session it is stable for the session (``run_session_`` + 12 hex of the session
    id's sha256): one journal per session, not one per distinct intent.
    """
    if session_id:
        return "run_session_" + hashlib.sha256(session_id.encode()).hexdigest()[:12]
    return "run_mcp_" + intent_digest[:12]


def file_stamp(stamp_ns: int) -> str:
    """``yyyymmddThhmmss.nnnnnnnnn`` (UTC, 9 fixed fractional digits)."""
    seconds = format_ns(stamp_ns)[:19].replace("-", "").replace(":", "")
    return f"{seconds}.{stamp_ns % 1_000_000_000:09d}"


def decision_runpack(
    run_id: str,
    intent: NormalizedIntent,
    verdict: str,
    reason_codes: list[str],
    violations: list[str],
    trace_id: str,
) -> Runpack:
    """The one-decision runpack the Go service writes for ``emit_runpack``.

    Reference capture: the intent keeps only its ``args_digest``; the result
    digest covers ``{verdict, reason_codes, violations, trace_id}``; the run's
    timeline is ``proxy_eval_start`` / ``proxy_eval_finish`` at the intent time.
    """
    stamp = intent.created_at
    run = {
        "run_id": run_id,
        "created_at": stamp,
        "producer_version": intent.producer_version or "0.0.0-dev",
        "timeline": [
            {"event": "proxy_eval_start", "ts": stamp},
            {"event": "proxy_eval_finish", "ts": stamp},
        ],
    }
    result = {
        "verdict": verdict,
        "reason_codes": reason_codes,
        "violations": violations,
        "trace_id": trace_id,
    }
    return build_runpack(
        run,
        [
            {
                "intent_id": "intent_1",
                "tool_name": intent.tool_name,
                "args_digest": intent.args_digest,
            }
        ],
        [
            {
                "intent_id": "intent_1",
                "status": "error" if verdict in ("block", "require_approval") else "ok",
                "result_digest": digest(result),
            }
        ],
        None,
    )


def trace_file_bytes(trace: dict[str, Any]) -> bytes:
    """Pretty JSON (2-space indent, Go escaping) plus newline, as Go writes trace files."""
    return go_json_indent(trace) + b"\n"
