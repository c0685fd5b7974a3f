"""Coding-agent hook answers: a PreToolUse payload in, a permission decision out.

Owns: the hook decision document (``{"hookSpecificOutput": {"hookEventName":
"PreToolUse", "permissionDecision": "allow"|"deny"|"ask", "permissionDecisionReason":
…}}``), the verdict mapping (``allow`` ⇒ allow, ``require_approval`` ⇒ ask, ``block``
and ``dry_run`` ⇒ deny, anything else ⇒ deny), the strict reading of a decision
server reply, and the request body sent for a hook payload (the ``claude_code``
adapter). Fail-closed: :func:`failure_answer` is what every error becomes.

Imports only ``json`` and ``re`` (not even ``typing``), so ``gait hook claude-code`` starts fast.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # typing costs start-up time; type checkers treat this name as True
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = [
    "HOOK_ADAPTER",
    "decision_answer",
    "failure_answer",
    "hook_request_body",
    "read_reply",
]

HOOK_ADAPTER: Final = "claude_code"
_PERMISSION: Final[dict[str, str]] = {
    "allow": "allow",
    "require_approval": "ask",
    "block": "deny",
    "dry_run": "deny",
}
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def _answer(permission: str, reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": permission,
            "permissionDecisionReason": reason,
        }
    }


def decision_answer(
    verdict: str, reason_codes: list[str], intent_digest: str = ""
) -> dict[str, Any]:
    """The hook answer for a gate verdict (an unknown verdict is a deny)."""
    permission = _PERMISSION.get(verdict, "deny")
    codes = ", ".join(reason_codes) or "no reason codes"
    reason = f"gait {verdict}: {codes}"
    if verdict == "require_approval" and intent_digest:
        reason += f" (intent {intent_digest})"
    if verdict not in _PERMISSION:
        reason = f"gait: unknown verdict {verdict!r}; denied"
    return _answer(permission, reason)


def failure_answer(why: str) -> dict[str, Any]:
    """The hook answer when no decision could be had: always ``deny``."""
    return _answer("deny", f"gait: no decision, tool denied ({why})")


def hook_request_body(payload: object) -> dict[str, Any]:
    """The ``/v1/evaluate`` body for a hook payload (decoded by the ``claude_code`` adapter)."""
    return {"adapter": HOOK_ADAPTER, "call": payload}


def read_reply(status: int, raw: bytes) -> dict[str, Any]:
    """The hook answer for a decision server reply; anything malformed is a deny."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return failure_answer(f"HTTP {status}: reply is not JSON")
    if not isinstance(doc, dict):
        return failure_answer(f"HTTP {status}: reply is not a JSON object")
    if status not in (200, 403, 409) or doc.get("ok") is not True:
        error = doc.get("error") if isinstance(doc.get("error"), str) else "not a decision"
        return failure_answer(f"HTTP {status}: {error}")
    verdict = doc.get("verdict")
    codes = doc.get("reason_codes", [])
    digest = doc.get("intent_digest", "")
    if (
        doc.get("executed") is not False
        or verdict not in _PERMISSION
        or not isinstance(codes, list)
        or not all(isinstance(c, str) for c in codes)
        or not isinstance(digest, str)
        or not _HEX64.fullmatch(digest)
    ):
        return failure_answer(f"HTTP {status}: reply is not a well-formed decision")
    return decision_answer(str(verdict), list(codes), digest)
