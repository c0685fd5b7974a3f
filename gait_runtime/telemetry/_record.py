"""The one record every decision telemetry stream is built from.

Owns: :class:`DecisionAttributes` (identifiers, digests and timing of one
completed gate decision, never arguments, targets or credentials —
``spec/otel.md`` §1 rule 3), the locked attribute keys of ``spec/otel.md`` §3
and §5, and the mapping from a record to those attributes. Does not own: how
the attributes reach a span (``otel.py``) or a file (``export.py``).
"""

from __future__ import annotations

from typing import Final

import msgspec

from ..artifacts.timefmt import EPOCH_1980, parse_rfc3339

__all__ = [
    "DECISION_EVENT_NAME",
    "LOCKED_ATTRIBUTE_KEYS",
    "SPAN_ATTRIBUTE_KEYS",
    "AttributeValue",
    "DecisionAttributes",
    "caller_created_at",
    "created_at_unix_ns",
    "operational_time",
    "export_attributes",
    "span_attributes",
]

DECISION_EVENT_NAME: Final = "gait.mcp.proxy.decision"
"""Body of the OTEL-style JSONL record and name of the span event (both surfaces)."""

_EPOCH_TEXT: Final = EPOCH_1980.text()

AttributeValue = str | int | list[str]
"""The value types the locked contract uses: string, int and string array."""

LOCKED_ATTRIBUTE_KEYS: Final = (
    "gait.decision_latency_ms",
    "gait.delegation_depth",
    "gait.delegation_ref",
    "gait.intent_digest",
    "gait.policy_digest",
    "gait.reason_codes",
    "gait.run_id",
    "gait.session_id",
    "gait.tool_name",
    "gait.trace_path",
    "gait.verdict",
)
"""Every attribute of the OTEL-style JSONL record (``spec/otel.md`` §3), sorted."""

SPAN_ATTRIBUTE_KEYS: Final = (
    *LOCKED_ATTRIBUTE_KEYS,
    "gait.created_at",
    "gait.event_id",
    "gait.intent_created_at",
    "gait.surface",
    "gait.trace_id",
    "gen_ai.operation.name",
    "gen_ai.tool.name",
)
"""Every attribute of a ``gait.gate.decision`` span (``spec/otel.md`` §5)."""


class DecisionAttributes(msgspec.Struct, frozen=True, kw_only=True):
    """Identifiers, digests and timing of one completed decision.

    Attributes:
        run_id: resolved run id (``service.md`` §3.3).
        session_id: the decision's session (the request's ``session_id``, else the
            intent's ``context.session_id``) or ``""``.
        trace_path: path of the signed trace file.
        verdict: ``allow``, ``block``, ``dry_run`` or ``require_approval``.
        reason_codes: reason codes; emitted sorted, empty when none.
        policy_digest: hex sha256 of the policy.
        intent_digest: hex sha256 of the stripped intent.
        decision_latency_ms: whole milliseconds spent deciding (may be 0).
        tool_name: normalised tool name.
        trace_id: the gait trace id (24 hex), not a W3C trace id.
        event_id: the trace's event id.
        created_at: the deterministic decision time as RFC 3339 text (the
            intent's ``created_at``, part of its digest); ``""`` means the Go
            default ``1980-01-01T00:00:00Z``.
        observed_at: the wall-clock time the decision was made (RFC 3339), or
            ``""`` when unknown. Operational outputs (the decision log line, the
            span's ``gait.created_at``) use it when the caller gave no
            ``created_at``.
        surface: ``mcp_proxy``, ``mcp_serve`` or ``gate_eval``.
        delegation_ref: out of scope for now; ``""`` when no delegation.
        delegation_depth: out of scope for now; ``0`` when no delegation.
    """

    run_id: str
    session_id: str = ""
    trace_path: str = ""
    verdict: str
    reason_codes: tuple[str, ...] = ()
    policy_digest: str
    intent_digest: str
    decision_latency_ms: int = 0
    tool_name: str
    trace_id: str
    event_id: str = ""
    created_at: str = ""
    observed_at: str = ""
    surface: str = ""
    delegation_ref: str = ""
    delegation_depth: int = 0


def created_at_unix_ns(record: DecisionAttributes) -> int:
    """The record's deterministic decision time in Unix nanoseconds.

    Raises:
        ArtifactInputError: ``created_at`` is not valid RFC 3339 text.
    """
    if not record.created_at:
        return EPOCH_1980.unix_ns
    return parse_rfc3339(record.created_at, field="created_at").unix_ns


def caller_created_at(record: DecisionAttributes) -> str:
    """The ``created_at`` the caller set, or ``""`` when it was left to the 1980 default."""
    if not record.created_at or record.created_at == _EPOCH_TEXT:
        return ""
    return record.created_at


def operational_time(record: DecisionAttributes) -> str:
    """When the decision happened, for operators: the caller's ``created_at``, else the
    observed wall-clock time, else (nothing known) the Go default."""
    return caller_created_at(record) or record.observed_at or _EPOCH_TEXT


def export_attributes(record: DecisionAttributes) -> dict[str, AttributeValue]:
    """The eleven attributes of the OTEL-style JSONL record, every key present."""
    return {
        "gait.decision_latency_ms": int(record.decision_latency_ms),
        "gait.delegation_depth": int(record.delegation_depth),
        "gait.delegation_ref": record.delegation_ref,
        "gait.intent_digest": record.intent_digest,
        "gait.policy_digest": record.policy_digest,
        "gait.reason_codes": sorted(record.reason_codes),
        "gait.run_id": record.run_id,
        "gait.session_id": record.session_id,
        "gait.tool_name": record.tool_name,
        "gait.trace_path": record.trace_path,
        "gait.verdict": record.verdict,
    }


def span_attributes(record: DecisionAttributes) -> dict[str, AttributeValue]:
    """The attributes of a decision span: the locked set, the §5 additions, GenAI keys."""
    attrs = export_attributes(record)
    attrs["gait.created_at"] = operational_time(record)
    attrs["gait.intent_created_at"] = record.created_at or _EPOCH_TEXT
    attrs["gait.event_id"] = record.event_id
    attrs["gait.surface"] = record.surface
    attrs["gait.trace_id"] = record.trace_id
    attrs["gen_ai.operation.name"] = "execute_tool"
    attrs["gen_ai.tool.name"] = record.tool_name
    return attrs
