"""The last step of the decision path: the HTTP answer and its one typed body encoder.

Owns: :class:`DecisionBody`, the success body of ``spec/service.md`` §3.2 as a
msgspec Struct whose fields are in Go's field order and whose empty optional
fields are omitted (``omit_defaults``) — encoding it gives the bytes the Go
service writes; :class:`DecisionReply` (status, body, headers); the error body
``{"error", "ok": false}``; the fail-closed 500 body; and the compat/strict
status map of §5. Does not own the HTTP framing (``http.py``).

A :class:`DecisionBody` also reads like the JSON object it encodes to
(``body.get("verdict")``, ``body["trace_id"]``, ``"approval_ref" in body``), so
callers that consume a decision in-process see exactly the keys a client sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from ...errors import verdict_exit_code

__all__ = [
    "INTERNAL_FAILURE_REASON",
    "DecisionBody",
    "DecisionReply",
    "error_reply",
    "internal_failure_reply",
    "verdict_status",
]

INTERNAL_FAILURE_REASON: Final = "internal_failure"
"""Reason code of the block answer given when the decision path itself fails."""

_STRICT_STATUS: Final[dict[str, int]] = {
    "allow": 200,
    "block": 403,
    "require_approval": 409,
    "dry_run": 409,
}


class DecisionBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The success body of one decision (``spec/service.md`` §3.2), in Go field order.

    Fields without a default are always written (``ok``, ``executed``,
    ``exit_code`` and the identifiers every decision has); the others are
    omitted when empty, as Go's ``omitempty`` does.
    """

    ok: bool
    executed: bool
    adapter: str
    run_id: str
    job_id: str = ""
    phase: str = ""
    session_id: str = ""
    tool_name: str
    verdict: str
    reason_codes: list[str] = []
    violations: list[str] = []
    policy_digest: str
    policy_id: str
    policy_version: str
    intent_digest: str
    decision_latency_ms: int = 0
    trace_id: str
    trace_path: str
    runpack_path: str = ""
    log_export: str = ""
    otel_export: str = ""
    approval_ref: str = ""
    warnings: list[str] = []
    relationship: dict[str, Any] | None = None
    exit_code: int

    def get(self, key: str, default: Any = None) -> Any:
        """The value the encoded JSON object has at ``key``, else ``default``."""
        empty = _FIELDS.get(key, _MISSING)
        if empty is _MISSING:
            return default
        value = getattr(self, key)
        if empty is not _REQUIRED and value == empty:
            return default
        return value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING


_MISSING: Final[Any] = object()
_REQUIRED: Final[Any] = object()


def _empty_values() -> dict[str, Any]:
    """Field name → the value that is omitted (or ``_REQUIRED``: always written)."""
    out: dict[str, Any] = {}
    for info in msgspec.structs.fields(DecisionBody):
        if info.required:
            out[info.name] = _REQUIRED
        elif info.default_factory is not msgspec.NODEFAULT:
            out[info.name] = info.default_factory()
        else:
            out[info.name] = info.default
    return out


_FIELDS: Final = _empty_values()


@dataclass(frozen=True, slots=True)
class DecisionReply:
    """An HTTP answer from the decision path.

    Attributes:
        status: HTTP status code.
        body: the JSON object to send: a :class:`DecisionBody` for a decision,
            a plain dict (Go key order) for an error.
        headers: extra response headers.
        verdict: the decision's verdict, or ``""`` for an error answer.
    """

    status: int
    body: DecisionBody | dict[str, Any]
    headers: tuple[tuple[bytes, bytes], ...] = ()
    verdict: str = ""


def error_reply(status: int, message: str, *headers: tuple[bytes, bytes]) -> DecisionReply:
    """The Go error body ``{"error": <message>, "ok": false}``."""
    return DecisionReply(status, {"error": message, "ok": False}, tuple(headers))


def internal_failure_reply(message: str) -> DecisionReply:
    """The fail-closed 500: ``ok: false`` and a ``block`` verdict, never an allow."""
    body = {
        "ok": False,
        "executed": False,
        "verdict": "block",
        "reason_codes": [INTERNAL_FAILURE_REASON],
        "error": f"internal failure: {message}",
        "exit_code": verdict_exit_code("block"),
    }
    return DecisionReply(500, body, verdict="block")


def verdict_status(verdict: str, *, strict: bool) -> int:
    """HTTP status of a decision: 200 in compat mode; 403/409 for non-allow in strict mode."""
    return _STRICT_STATUS[verdict] if strict else 200
