"""The policy model: the immutable values a compiled policy is made of.

Owns: :class:`CompiledPolicy` and its parts (:class:`Rule`, :class:`Match`,
:class:`Endpoint`, :class:`Dataflow`, :class:`FailClosed`), the verdict names
and the policy schema id/version. :mod:`.policy` (loading, validation,
compilation) builds these values and :mod:`.evaluate` reads them; neither
imports the other. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ._glob import DomainPattern, PathPattern
from ._limits import RateLimit

__all__ = [
    "POLICY_SCHEMA_ID",
    "POLICY_SCHEMA_VERSION",
    "VERDICTS",
    "CompiledPolicy",
    "Dataflow",
    "Endpoint",
    "FailClosed",
    "Match",
    "Predicate",
    "Rule",
]

POLICY_SCHEMA_ID: Final = "gait.gate.policy"
POLICY_SCHEMA_VERSION: Final = "1.0.0"
VERDICTS: Final = ("allow", "dry_run", "require_approval", "block")
"""All verdicts, least to most restrictive."""

Predicate = Callable[[Any], bool]
"""One compiled match check over a normalised intent (see :mod:`.predicates`)."""


@dataclass(frozen=True, slots=True)
class FailClosed:
    """Normalised ``fail_closed`` block."""

    enabled: bool = False
    risk_classes: tuple[str, ...] = ()
    required_fields: tuple[str, ...] = ()
    required_high_risk_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """Normalised ``match`` block; empty tuples mean "no constraint"."""

    tool_names: tuple[str, ...] = ()
    risk_classes: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    workspace_prefixes: tuple[str, ...] = ()
    target_kinds: tuple[str, ...] = ()
    target_values: tuple[str, ...] = ()
    endpoint_classes: tuple[str, ...] = ()
    discovery_methods: tuple[str, ...] = ()
    tool_annotations: tuple[tuple[str, bool], ...] = ()
    data_classes: tuple[str, ...] = ()
    destination_kinds: tuple[str, ...] = ()
    destination_values: tuple[str, ...] = ()
    destination_operations: tuple[str, ...] = ()
    provenance_sources: tuple[str, ...] = ()
    skill_publishers: tuple[str, ...] = ()
    skill_sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Normalised ``endpoint`` constraint (only kept when enabled)."""

    path_allowlist: tuple[PathPattern, ...] = ()
    path_denylist: tuple[PathPattern, ...] = ()
    domain_allowlist: tuple[DomainPattern, ...] = ()
    domain_denylist: tuple[DomainPattern, ...] = ()
    egress_classes: frozenset[str] = frozenset()
    action: str = "block"
    destructive_action: str = ""
    reason_code: str = "endpoint_constraint_violation"
    violation: str = "endpoint_constraint_violation"


@dataclass(frozen=True, slots=True)
class Dataflow:
    """Normalised ``dataflow`` constraint (only kept when enabled)."""

    tainted_sources: frozenset[str] = frozenset({"external", "tool_output"})
    destination_kinds: frozenset[str] = frozenset()
    destination_values: frozenset[str] = frozenset()
    destination_operations: frozenset[str] = frozenset()
    action: str = "require_approval"
    reason_code: str = "dataflow_tainted_destination"
    violation: str = "tainted_dataflow"


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule.

    Attributes:
        name: trimmed rule name.
        priority: lower is evaluated first.
        effect: ``allow``/``dry_run``/``require_approval``/``block``.
        match: the match constraints.
        reason_codes: normalised reason codes (may be empty).
        violations: normalised violations.
        min_approvals: declared minimum approvals.
        require_distinct_approvers: explicit or implied by ``min_approvals > 1``.
        endpoint: endpoint constraint, or None.
        dataflow: dataflow constraint, or None.
        rate_limit: active rate limit (``requests > 0``), or None.
        destructive_budget: destructive-target budget, or None.
        fallback_reason: ``matched_rule_<sanitized name>``.
        position: ``rules[i]`` index in the source document.
        predicates: compiled match checks (all must hold).
    """

    name: str
    priority: int
    effect: str
    match: Match
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    min_approvals: int
    require_distinct_approvers: bool
    endpoint: Endpoint | None
    dataflow: Dataflow | None
    rate_limit: RateLimit | None
    destructive_budget: RateLimit | None
    fallback_reason: str
    position: int
    predicates: tuple[Predicate, ...] = field(repr=False, compare=False, default=())


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """An immutable, validated policy ready for :func:`gait_runtime.gate.evaluate`.

    Attributes:
        schema_id: ``gait.gate.policy`` (also the trace ``policy_id``).
        schema_version: ``1.0.0`` (also the trace ``policy_version``).
        default_verdict: verdict when no rule matches.
        fail_closed: the fail-closed settings.
        rules: rules sorted by (priority, name).
        digest: ``policy_digest`` (gate.md §3.10).
        source: where the policy came from (file path or ``<policy>``).
        payload: the normalised digest payload (Go key names).
    """

    schema_id: str
    schema_version: str
    default_verdict: str
    fail_closed: FailClosed
    rules: tuple[Rule, ...]
    digest: str
    source: str
    payload: dict[str, Any] = field(repr=False, compare=False)

    @property
    def policy_id(self) -> str:
        """The trace ``policy_id`` (the policy ``schema_id``)."""
        return self.schema_id

    @property
    def policy_version(self) -> str:
        """The trace ``policy_version`` (the policy ``schema_version``)."""
        return self.schema_version
