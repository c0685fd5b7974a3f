"""The SDK's :class:`Decision`: the gate's answer for one tool call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Decision"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer for one tool call (``executed`` is always ``False``).

    Attributes:
        verdict: ``allow``, ``block``, ``dry_run`` or ``require_approval``.
        reason_codes: sorted reason codes.
        violations: sorted violations.
        intent_digest: digest of the normalised intent.
        policy_digest: digest of the policy that decided.
        trace_id: the signed trace's id.
        trace_path: where the server wrote the trace ("" in-process without a trace dir).
        run_id: the run id the decision belongs to.
        tool_name: the normalised tool name.
        raw: the whole reply document.
    """

    verdict: str
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    intent_digest: str
    policy_digest: str
    trace_id: str = ""
    trace_path: str = ""
    run_id: str = ""
    tool_name: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        """Only ``allow`` lets a tool run."""
        return self.verdict == "allow"
