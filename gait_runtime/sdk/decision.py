"""One decision as the SDK sees it, the request body it sends and the reply it trusts.

Owns: :class:`Decision`, the ``/v1/evaluate`` request body, the strict reading of a
reply (anything that is not a well-formed decision is :class:`GateBadReply` — never
an allow by accident), the approval scope and the exact ``gait approve`` command, and
the mapping of a non-``allow`` verdict onto its typed error.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..gate import normalize_intent
from ..gate.approval import required_scope
from ..plugin import decode_call
from .errors import (
    ApprovalRequired,
    CallDecodeError,
    DryRunOnly,
    GateBadReply,
    ToolBlocked,
    ToolNotAllowed,
)
from .model import Decision

__all__ = [
    "VERDICTS",
    "Decision",
    "approval_scope",
    "approve_command",
    "not_allowed",
    "parse_reply",
    "request_body",
]

VERDICTS: Final = ("allow", "block", "dry_run", "require_approval")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def request_body(
    call: Mapping[str, Any],
    *,
    adapter: str,
    run_id: str = "",
    session_id: str = "",
    approval_tokens: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The ``/v1/evaluate`` body for ``call``."""
    body: dict[str, Any] = {"adapter": adapter, "call": dict(call)}
    if run_id:
        body["run_id"] = run_id
    if session_id:
        body["session_id"] = session_id
    if approval_tokens:
        body["approval_tokens"] = [dict(t) for t in approval_tokens]
    return body


def _strings(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GateBadReply(f"gate reply field {key} is not a list of strings")
    return tuple(value)


def _string(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise GateBadReply(f"gate reply field {key} is not a string")
    return value


def parse_reply(raw: bytes) -> Decision:
    """Read a decision reply strictly.

    Raises:
        GateBadReply: not one JSON object, ``ok`` not true, ``executed`` not false, an
            unknown verdict, a malformed digest or list.
    """
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise GateBadReply(f"gate reply is not JSON: {exc}") from exc
    return decision_from(doc)


def decision_from(doc: object) -> Decision:
    """A :class:`Decision` from a decoded reply document (same checks as :func:`parse_reply`)."""
    if not isinstance(doc, dict):
        raise GateBadReply("gate reply is not a JSON object")
    if doc.get("ok") is not True:
        raise GateBadReply(f"gate reply is not ok: {_string(doc, 'error') or 'no decision'}")
    if doc.get("executed") is not False:
        raise GateBadReply("gate reply does not say executed=false")
    verdict = doc.get("verdict")
    if verdict not in VERDICTS:
        raise GateBadReply(f"gate reply has no known verdict: {verdict!r}")
    intent_digest = _string(doc, "intent_digest")
    policy_digest = _string(doc, "policy_digest")
    if not _HEX64.fullmatch(intent_digest) or not _HEX64.fullmatch(policy_digest):
        raise GateBadReply("gate reply digests are not 64 hex characters")
    return Decision(
        verdict=str(verdict),
        reason_codes=_strings(doc, "reason_codes"),
        violations=_strings(doc, "violations"),
        intent_digest=intent_digest,
        policy_digest=policy_digest,
        trace_id=_string(doc, "trace_id"),
        trace_path=_string(doc, "trace_path"),
        run_id=_string(doc, "run_id"),
        tool_name=_string(doc, "tool_name"),
        raw=doc,
    )


def approval_scope(call: Mapping[str, Any], adapter: str) -> tuple[str, ...]:
    """The scope a token must grant for ``call`` (tool, and apply/destructive when so).

    Raises:
        CallDecodeError: the payload cannot be decoded.
    """
    try:
        decoded = decode_call(adapter, call, profile="standard")
        intent = normalize_intent(decoded.intent, strip_context_claims=True)
    except Exception as exc:
        raise CallDecodeError(f"decode tool call: {exc}") from exc
    return tuple(required_scope(intent.tool_name, intent.phase, intent.destructive))


def approve_command(decision: Decision, scope: Sequence[str]) -> str:
    """The exact ``gait approve`` command that mints a token for ``decision``."""
    words = [
        "gait",
        "approve",
        "--intent-digest",
        decision.intent_digest,
        "--policy-digest",
        decision.policy_digest,
        "--scope",
        ",".join(scope),
        "--ttl",
        "1h",
        "--approver",
        "<approver>",
        "--reason-code",
        "<ticket>",
        "--key-mode",
        "prod",
        "--private-key",
        "<approver.key>",
        "--out",
        f"approval_{decision.intent_digest[:12]}.json",
    ]
    return shlex.join(words)


def not_allowed(decision: Decision, call: Mapping[str, Any], adapter: str) -> ToolNotAllowed:
    """The typed error for a decision that is not ``allow``."""
    reasons = ",".join(decision.reason_codes) or "none"
    tool = decision.tool_name or "tool"
    if decision.verdict == "require_approval":
        scope = approval_scope(call, adapter)
        command = approve_command(decision, scope)
        return ApprovalRequired(
            f"{tool} requires approval (intent {decision.intent_digest[:12]}, reasons {reasons}); "
            f"an approver runs: {command}",
            decision,
            scope=scope,
            command=command,
        )
    if decision.verdict == "dry_run":
        return DryRunOnly(f"{tool} is dry_run only (reasons {reasons})", decision)
    return ToolBlocked(f"{tool} blocked by policy (reasons {reasons})", decision)
