"""Tool and verdict sequences of a runpack, and where two sequences first differ.

Owns the derivation rules the ``trajectory`` grader and ``regress init`` share:
tool names of the intents in file order; one verdict per result, from the raw
``result.verdict`` when present (normalised), else mapped from ``status``; and
the mismatch index rule (first differing position, or the shorter length with
the missing side reported as ``<missing>``). Pure functions.
"""

from __future__ import annotations

from typing import Any, Final

from ..runpack import RunpackContents

__all__ = [
    "MISSING",
    "first_mismatch",
    "normalize_verdict",
    "tool_sequence",
    "verdict_from_status",
    "verdict_sequence",
]

MISSING: Final = "<missing>"
_VERDICTS: Final = {
    **dict.fromkeys(("allow", "ok", "pass", "passed", "success"), "allow"),
    **dict.fromkeys(("block", "blocked", "deny", "denied"), "block"),
    **dict.fromkeys(
        ("require_approval", "approval_required", "needs_approval", "needsapproval"),
        "require_approval",
    ),
    **dict.fromkeys(("dry_run", "dryrun", "simulate", "simulated"), "dry_run"),
    **dict.fromkeys(("error", "failed", "failure"), "error"),
}
_STATUSES: Final = {
    **dict.fromkeys(("ok", "pass", "passed", "success"), "allow"),
    **dict.fromkeys(("block", "blocked", "deny", "denied"), "block"),
    **dict.fromkeys(
        ("require_approval", "approval_required", "needs_approval"), "require_approval"
    ),
    **dict.fromkeys(("dry_run", "dry-run", "dryrun", "simulate", "simulated"), "dry_run"),
}


def normalize_verdict(value: str) -> str:
    """Canonical verdict of ``value`` (``allow``, ``block``, ...) or ``""`` when invalid."""
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    return _VERDICTS.get(key, "")


def verdict_from_status(status: str) -> str:
    """Verdict of a result without a raw ``verdict``: mapped from ``status``, else ``error``."""
    return _STATUSES.get(status.strip().lower(), "error")


def tool_sequence(contents: RunpackContents) -> list[str]:
    """Intents' trimmed ``tool_name`` in file order, empty names skipped."""
    names = (str(i.get("tool_name") or "").strip() for i in contents.intents)
    return [n for n in names if n]


def _result_verdict(record: dict[str, Any]) -> str:
    raw = record.get("result")
    if isinstance(raw, dict) and "verdict" in raw:
        verdict = raw["verdict"]
        return (normalize_verdict(verdict) if isinstance(verdict, str) else "") or "error"
    status = record.get("status")
    return verdict_from_status(status if isinstance(status, str) else "")


def verdict_sequence(contents: RunpackContents) -> list[str]:
    """One verdict per result in file order (raw ``result.verdict`` first, then ``status``)."""
    return [_result_verdict(r) for r in contents.results]


def first_mismatch(expected: list[str], actual: list[str]) -> tuple[int, str, str] | None:
    """``(index, expected_at, actual_at)`` of the first difference, ``None`` when equal."""
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return index, want, got
    if len(expected) == len(actual):
        return None
    index = min(len(expected), len(actual))
    want = expected[index] if index < len(expected) else MISSING
    got = actual[index] if index < len(actual) else MISSING
    return index, want, got
