"""Typed errors of the SDK: every way a tool call can fail to be allowed.

A tool runs only on an ``allow``. Anything else is one of these, each a
:class:`~gait_runtime.errors.GaitError` with a stable ``code``:

* :class:`ToolBlocked` (``tool_blocked``), :class:`ApprovalRequired`
  (``approval_required``), :class:`DryRunOnly` (``tool_dry_run``) — a decision was
  made and it is not ``allow`` (all :class:`ToolNotAllowed`, carrying the decision);
* :class:`GateUnavailable` (``gate_unavailable``) — refused connection, 5xx, 503/429
  after the bounded retries; :class:`GateTimeout` (``gate_timeout``) — the budget ran out;
* :class:`GateBadReply` (``gate_bad_reply``) — the answer is not a decision;
* :class:`GateRequestRejected` (``gate_request_rejected``) — the gate refused the
  request (4xx: bad payload, auth, size);
* :class:`CallDecodeError` (``call_decode_failed``) — the tool-call payload could not
  be turned into an IntentRequest.
"""

from __future__ import annotations

from ..errors import EXIT_APPROVAL_REQUIRED, GaitError, InternalError, InvalidInputError
from .model import Decision

__all__ = [
    "ApprovalRequired",
    "CallDecodeError",
    "DryRunOnly",
    "GateBadReply",
    "GateRequestRejected",
    "GateTimeout",
    "GateUnavailable",
    "ToolBlocked",
    "ToolNotAllowed",
]


class ToolNotAllowed(GaitError):
    """A decision was made and it is not ``allow``; the tool did not run.

    Attributes:
        decision: the gate's decision.
    """

    code = "tool_not_allowed"
    category = "policy_blocked"

    def __init__(self, message: str, decision: Decision, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, details={"verdict": decision.verdict})
        self.decision = decision


class ToolBlocked(ToolNotAllowed):
    """The verdict is ``block``."""

    code = "tool_blocked"


class DryRunOnly(ToolNotAllowed):
    """The verdict is ``dry_run``: the policy observes this tool, it does not run it."""

    code = "tool_dry_run"


class ApprovalRequired(ToolNotAllowed):
    """The verdict is ``require_approval``: retry with a token minted by an approver.

    Attributes:
        intent_digest: the digest the token must approve.
        policy_digest: the policy the token is bound to.
        scope: the scope the token must grant.
        command: the exact ``gait approve`` command an approver runs.
    """

    code = "approval_required"
    category = "approval_required"
    exit_override = EXIT_APPROVAL_REQUIRED

    def __init__(
        self, message: str, decision: Decision, *, scope: tuple[str, ...], command: str
    ) -> None:
        super().__init__(message, decision, hint=command)
        self.intent_digest = decision.intent_digest
        self.policy_digest = decision.policy_digest
        self.scope = scope
        self.command = command
        self.details.update(
            {"intent_digest": self.intent_digest, "approve_command": command, "scope": list(scope)}
        )


class GateUnavailable(InternalError):
    """No decision could be had: refused connection, server error, overload after retries."""

    code = "gate_unavailable"
    category = "network_transient"


class GateTimeout(GateUnavailable):
    """The timeout budget ran out before a decision arrived."""

    code = "gate_timeout"


class GateBadReply(InternalError):
    """The gate answered something that is not a decision (garbage, wrong shape)."""

    code = "gate_bad_reply"
    category = "network_permanent"


class GateRequestRejected(InvalidInputError):
    """The gate refused the request (HTTP 4xx); ``status`` holds the HTTP status."""

    code = "gate_request_rejected"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, details={"status": status})
        self.status = status


class CallDecodeError(InvalidInputError):
    """A tool-call payload could not be turned into an IntentRequest."""

    code = "call_decode_failed"
