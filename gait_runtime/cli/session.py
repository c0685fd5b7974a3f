"""``gait run session start|append|status|checkpoint|compact`` and ``gait verify session-chain``.

Thin handlers over :mod:`gait_runtime.supervisor.journal.oneshot` and
:mod:`gait_runtime.supervisor.journal.chain`: parse the Go flags of
``spec/sessions.md`` §3 and §8, call the library once (``anyio.run`` for the
journal operations), and shape Go's text and ``--json`` output. Errors of the
journal commands carry ``journal`` and ``operation`` in their JSON envelope,
as Go's do.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import msgspec

from ..errors import EXIT_OK, EXIT_VERIFICATION_FAILED, GaitError, UsageError
from ._frame import Handler, Parser, Result, add_common

__all__ = [
    "build_append",
    "build_checkpoint",
    "build_compact",
    "build_start",
    "build_status",
    "build_verify_chain",
]

_T = TypeVar("_T")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _clean(value: object) -> str:
    """Text-mode sanitising: drop control characters, collapse whitespace."""
    return " ".join(_CONTROL.sub("", str(value)).split())


def _journal_arg(parser: Parser) -> None:
    parser.add_argument("--journal", default="", help="session journal path (JSONL)")


def _journal(ns: argparse.Namespace) -> str:
    journal = str(ns.journal).strip()
    if not journal:
        raise UsageError("missing required --journal <path>")
    return journal


def _call(journal: str, operation: str, fn: Callable[[], Awaitable[_T]]) -> _T:
    try:
        return anyio.run(fn)
    except GaitError as exc:
        exc.details = {"journal": journal, "operation": operation}
        raise


def _status_result(operation: str, journal: str, status: dict[str, object]) -> Result:
    payload = {"ok": True, "operation": operation, "journal": journal, "status": status}
    text = [
        f"session {operation}: session_id={_clean(status['session_id'])} "
        f"run_id={_clean(status['run_id'])} events={status['event_count']} "
        f"checkpoints={status['checkpoint_count']} last_sequence={status['last_sequence']}",
        f"journal: {_clean(journal)}",
    ]
    return Result(payload, text)


def build_start(parser: Parser) -> Handler:
    """``gait run session start --journal J --session-id S --run-id R``."""
    add_common(parser, "creates a session journal (header + state) or confirms an existing one")
    _journal_arg(parser)
    parser.add_argument("--session-id", default="", help="session id")
    parser.add_argument("--run-id", default="", help="run id")

    def handle(ns: argparse.Namespace) -> Result:
        from ..supervisor.journal.oneshot import session_start

        journal = _journal(ns)
        if not ns.session_id.strip() or not ns.run_id.strip():
            raise UsageError("missing required --session-id and --run-id")
        status = _call(
            journal,
            "start",
            lambda: session_start(Path(journal), ns.session_id.strip(), ns.run_id.strip()),
        )
        return _status_result("start", journal, status)

    return handle


def build_status(parser: Parser) -> Handler:
    """``gait run session status --journal J``."""
    add_common(parser, "prints a session journal's counters (read-only: changes no file)")
    _journal_arg(parser)

    def handle(ns: argparse.Namespace) -> Result:
        from ..supervisor.journal.oneshot import session_status

        journal = _journal(ns)
        status = _call(journal, "status", lambda: session_status(Path(journal)))
        return _status_result("status", journal, status)

    return handle


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part.strip())


def build_append(parser: Parser) -> Handler:
    """``gait run session append --journal J --tool T --verdict V [...]``."""
    add_common(parser, "appends one decision event to a session journal (durable on return)")
    _journal_arg(parser)
    parser.add_argument("--tool", default="", help="tool name (required)")
    parser.add_argument("--verdict", default="", help="allow|block|dry_run|require_approval")
    for flag in ("intent-id", "trace-id", "trace-path", "intent-digest", "policy-digest"):
        parser.add_argument(f"--{flag}", default="", help=flag.replace("-", " "))
    parser.add_argument("--reason-codes", default="", help="comma-separated reason codes")
    parser.add_argument("--violations", default="", help="comma-separated violations")

    def handle(ns: argparse.Namespace) -> Result:
        from ..supervisor.journal.oneshot import session_append
        from ..supervisor.journal.records import EventFields

        journal = _journal(ns)
        if not ns.tool.strip() or not ns.verdict.strip():
            raise UsageError("missing required --tool and --verdict")
        fields = EventFields(
            tool_name=ns.tool,
            verdict=ns.verdict,
            intent_id=ns.intent_id,
            trace_id=ns.trace_id,
            trace_path=ns.trace_path,
            intent_digest=ns.intent_digest,
            policy_digest=ns.policy_digest,
            reason_codes=_csv(ns.reason_codes),
            violations=_csv(ns.violations),
        )
        record = _call(journal, "append", lambda: session_append(Path(journal), fields))
        event: dict[str, Any] = msgspec.to_builtins(record)
        payload = {"ok": True, "operation": "append", "journal": journal, "event": event}
        text = [
            f"session append: sequence={record.sequence} tool=redacted "
            f"verdict={_clean(record.verdict) or 'unset'}",
            f"journal: {_clean(journal)}",
        ]
        return Result(payload, text)

    return handle


def build_checkpoint(parser: Parser) -> Handler:
    """``gait run session checkpoint --journal J --out <runpack.zip> [--chain-out F]``."""
    add_common(parser, "turns the events since the last checkpoint into a checkpoint runpack")
    _journal_arg(parser)
    parser.add_argument("--out", default="", help="checkpoint runpack path (required)")
    parser.add_argument("--chain-out", default="", help="also write the chain file here")

    def handle(ns: argparse.Namespace) -> Result:
        from ..artifacts.fsutil import reject_parent_traversal
        from ..supervisor.journal.oneshot import session_checkpoint

        journal = _journal(ns)
        out = ns.out.strip()
        if not out:
            raise UsageError("missing required --out <runpack.zip>")
        reject_parent_traversal(out, "checkpoint output path")
        chain_out = Path(ns.chain_out.strip()) if ns.chain_out.strip() else None
        show = not ns.json and sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            if show:
                print(f"\rcheckpointing: {done}/{total} events", end="", file=sys.stderr)

        records, chain_path = _call(
            journal,
            "checkpoint",
            lambda: session_checkpoint(
                Path(journal), Path(out), chain_out=chain_out, progress=progress
            ),
        )
        if show and len(records) > 1:
            print(file=sys.stderr)
        record = records[-1]
        payload: dict[str, Any] = {
            "ok": True,
            "operation": "checkpoint",
            "journal": journal,
            "chain_path": str(chain_path),
            "checkpoint": record.to_dict(),
        }
        if len(records) > 1:
            payload["checkpoints"] = [r.to_dict() for r in records]
        text = [
            f"session checkpoint: index={r.checkpoint_index} runpack=redacted "
            f"range={r.sequence_start}..{r.sequence_end}"
            for r in records
        ]
        text.append(f"session chain: {_clean(chain_path)}")
        return Result(payload, text)

    return handle


def build_compact(parser: Parser) -> Handler:
    """``gait run session compact --journal J [--out F] [--dry-run]``."""
    add_common(parser, "drops journal events already covered by verified checkpoints")
    _journal_arg(parser)
    parser.add_argument("--out", default="", help="write the compacted journal here")
    parser.add_argument("--dry-run", action="store_true", help="report only; change nothing")

    def handle(ns: argparse.Namespace) -> Result:
        from ..supervisor.journal.oneshot import session_compact

        journal = _journal(ns)
        out = Path(ns.out.strip()) if ns.out.strip() else None
        report = _call(
            journal,
            "compact",
            lambda: session_compact(Path(journal), out=out, dry_run=ns.dry_run),
        )
        payload = {
            "ok": True,
            "operation": "compact",
            "journal": journal,
            "compaction": report.to_json(),
        }
        text = [
            f"session compact: compacted={str(report.compacted).lower()} "
            f"dry_run={str(report.dry_run).lower()} "
            f"events={report.events_before}->{report.events_after} "
            f"checkpoints={report.checkpoints} bytes={report.bytes_before}->{report.bytes_after}",
            f"journal: {_clean(report.journal_path)}",
            f"output: {_clean(report.output_path)}",
        ]
        return Result(payload, text)

    return handle


def build_verify_chain(parser: Parser) -> Handler:
    """``gait verify session-chain --chain <file> | <file>`` (§8)."""
    add_common(parser, "verifies a session chain: checkpoint linkage and every checkpoint runpack")
    parser.add_argument("target", nargs="?", default="", help="chain file")
    parser.add_argument("--chain", default="", help="chain file")
    parser.add_argument("--profile", default="standard", help="standard or strict")
    parser.add_argument("--require-signature", action="store_true", help="fail unless verified")
    parser.add_argument("--public-key", default="", help="path of the public key file")
    parser.add_argument("--public-key-env", default="", help="env var holding the public key")
    parser.add_argument("--private-key", default="", help="path of the private key file")
    parser.add_argument("--private-key-env", default="", help="env var holding the private key")

    def handle(ns: argparse.Namespace) -> Result:
        from ..supervisor.journal.chain import verify_chain

        chain = (ns.chain or ns.target).strip()
        if not chain:
            raise UsageError("missing required --chain <path>")
        profile = ns.profile.strip().lower()
        if profile not in ("standard", "strict"):
            raise UsageError(f"unsupported --profile: {ns.profile!r} (use standard or strict)")
        key_given = any((ns.public_key, ns.public_key_env, ns.private_key, ns.private_key_env))
        if profile == "strict" and not key_given:
            raise UsageError(
                "strict verify profile requires --public-key/--public-key-env or private key source"
            )
        verify_key = None
        if key_given:
            from ..artifacts.keys import KeySource, resolve_verify_key

            verify_key = resolve_verify_key(
                KeySource(ns.public_key, ns.public_key_env),
                KeySource(ns.private_key, ns.private_key_env),
            )
        require = ns.require_signature or profile == "strict"
        report = verify_chain(Path(chain), verify_key=verify_key, require_signature=require)
        payload = report.to_json()
        payload["chain_path"] = chain
        if report.ok:
            text = [
                f"verify session-chain: ok ({_clean(chain)})",
                f"session={_clean(report.session_id)} run={_clean(report.run_id)} "
                f"checkpoints={report.checkpoints_checked}",
            ]
        else:
            text = [f"verify session-chain failed: {_clean(chain)}"]
            if report.linkage_errors:
                text.append(f"linkage errors: {'; '.join(report.linkage_errors)}")
            if report.checkpoint_errors:
                text.append(f"checkpoint errors: {'; '.join(report.checkpoint_errors)}")
        return Result(payload, text, EXIT_OK if report.ok else EXIT_VERIFICATION_FAILED)

    return handle
