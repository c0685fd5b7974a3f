"""``gait sidecar``: IntentRequest JSON lines on stdin, one result line each on stdout.

For agents not written in Python: start the sidecar once, write one IntentRequest per
line, read one line back per request, in order. Each request runs the same evaluation
as ``gait gate eval --json`` (policy re-read per request, signed trace and approval
audit record written to ``--trace-dir``) and answers ``{"ok": exit in (0, 3, 4), "exit_code": n,
"gate_result": <gate eval JSON>, "trace_path": …}``. A line that is not a valid
IntentRequest (not JSON, not an object, wrong ``schema_id``/``schema_version``)
answers ``{"ok": false, "exit_code": 2, "error": "invalid intent request: …"}``; an
evaluation error answers ``ok: false`` with its exit code and stable ``error_code``.
The sidecar never exits on one bad line; it ends at end of input with exit 0.
Blank lines are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Final

from ..artifacts.keys import KeySource
from ..clock import Clock, SystemClock
from ..errors import (
    EXIT_APPROVAL_REQUIRED,
    EXIT_BLOCKED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_VERIFICATION_FAILED,
    GaitError,
    exit_code_for,
    verdict_exit_code,
)
from ._frame import Handler, Parser, Result, add_common, dump_json_line

__all__ = ["build_sidecar", "serve_lines"]

CLOCK: Clock = SystemClock()
_SCHEMA_ID: Final = "gait.gate.intent_request"
_SCHEMA_VERSION: Final = "1.0.0"
_INVALID_EXIT: Final = EXIT_VERIFICATION_FAILED
"""What the sidecar contract answers for a line that is not an IntentRequest (exit 2)."""
_DECIDED: Final = (EXIT_OK, EXIT_BLOCKED, EXIT_APPROVAL_REQUIRED)
"""Exit codes of a decision (allow/dry_run, block, require_approval): ``ok`` is true."""


def _invalid(why: str) -> dict[str, Any]:
    return {"ok": False, "exit_code": _INVALID_EXIT, "error": f"invalid intent request: {why}"}


def _one(line: bytes, ns: argparse.Namespace, scratch: Path, seq: int) -> dict[str, Any]:
    from ..commands.gate import GateEvalOptions, run_gate_eval

    try:
        doc = json.loads(line)
    except ValueError as exc:
        return _invalid(f"not JSON ({exc})")
    if not isinstance(doc, dict):
        return _invalid("not a JSON object")
    if doc.get("schema_id") != _SCHEMA_ID or doc.get("schema_version") != _SCHEMA_VERSION:
        return _invalid(f"schema must be {_SCHEMA_ID} {_SCHEMA_VERSION}")
    intent_file = scratch / f"intent_{seq}.json"
    intent_file.write_bytes(line)
    trace_dir = Path(ns.trace_dir)
    trace_dir.mkdir(parents=True, exist_ok=True)
    now_ns = CLOCK.now_ns()
    opts = GateEvalOptions(
        policy=ns.policy,
        intent=str(intent_file),
        profile=ns.profile or "standard",
        key_mode=ns.key_mode or "dev",
        private_key=KeySource(ns.private_key, ns.private_key_env),
        approval_public_key=KeySource(ns.approval_public_key, ""),
        trace_out=str(trace_dir / f"trace_sidecar_{now_ns}_{seq}.json"),
        approval_audit_out=str(trace_dir / f"approval_audit_sidecar_{now_ns}_{seq}.json"),
        rate_limit_state=ns.rate_limit_state,
    )
    try:
        output = run_gate_eval(opts, now_ns=now_ns)
    except GaitError as exc:
        code = exit_code_for(exc)
        return {"ok": False, "exit_code": code, "error": exc.message, "error_code": exc.error_code}
    finally:
        intent_file.unlink(missing_ok=True)
    exit_code = verdict_exit_code(output.decision.verdict)
    return {
        "ok": exit_code in _DECIDED,
        "exit_code": exit_code,
        "gate_result": output.payload,
        "trace_path": output.payload.get("trace_path", ""),
    }


def serve_lines(ns: argparse.Namespace, source: IO[bytes], sink: IO[str]) -> int:
    """Answer every non-blank line of ``source`` on ``sink``; returns the request count."""
    count = 0
    with tempfile.TemporaryDirectory(prefix="gait-sidecar-") as scratch:
        for raw in source:
            line = raw.strip()
            if not line:
                continue
            count += 1
            try:
                reply = _one(line, ns, Path(scratch), count)
            except Exception as exc:  # one bad line never ends the sidecar
                reply = {
                    "ok": False,
                    "exit_code": EXIT_INTERNAL,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            sink.write(dump_json_line(reply) + "\n")
            sink.flush()
    return count


def build_sidecar(parser: Parser) -> Handler:
    """``gait sidecar --policy P [--key-mode prod --private-key K] [--trace-dir D]``."""
    add_common(parser, "evaluates IntentRequest JSON lines from stdin, one result line each")
    add = parser.add_argument
    add("--policy", default="", help="policy YAML (re-read for every request)")
    add("--profile", default="standard", help="standard or oss-prod")
    add("--key-mode", default="dev", help="dev (ephemeral key) or prod")
    add("--private-key", default="", help="trace signing key file (prod)")
    add("--private-key-env", default="", help="env var holding the signing key (prod)")
    add("--approval-public-key", default="", help="public key verifying approval tokens")
    add("--trace-dir", default="gait-out/sidecar/traces", help="where signed traces go")
    add("--rate-limit-state", default=".gait-out/gate_rate_limits.json", help="counter file")

    def handle(ns: argparse.Namespace) -> Result:
        from ..errors import UsageError

        if not ns.policy.strip():
            raise UsageError("expected --policy <policy.yaml>")
        count = serve_lines(ns, sys.stdin.buffer, sys.stdout)
        return Result({"ok": True, "requests": count}, [])

    return handle
