"""Pure policy evaluation: (compiled policy, normalised intent) -> GateResult (gate.md §3.9).

Owns: running the compiled match predicates (:mod:`.predicates`), the fail-closed gate, priority tiers,
most-restrictive-wins, dataflow/endpoint constraints, destructive escalation,
the default verdict, the decision explanation, and the simulate rewrite (§8).
Does no I/O, reads no clock and holds no mutable global state: the same inputs
always give the same result, from any number of threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._limits import RateLimit, most_restrictive_limit
from ._strings import uniq_sorted
from .model import CompiledPolicy, Dataflow, Endpoint, Rule

if TYPE_CHECKING:
    from .intent import NormalizedIntent

__all__ = [
    "GateResult",
    "RuleOutcome",
    "apply_simulate",
    "evaluate",
    "most_restrictive",
]

_RANK: Final = {"allow": 0, "dry_run": 1, "require_approval": 2, "block": 3}
_DATAFLOW_KINDS: Final = frozenset({"host", "url", "bucket", "queue", "topic"})


def most_restrictive(a: str, b: str) -> str:
    """The stricter verdict in ``allow < dry_run < require_approval < block``."""
    return a if _RANK[a] >= _RANK[b] else b


class RuleOutcome(NamedTuple):
    """How one rule of the deciding tier turned out (for ``--explain``).

    Attributes:
        name: rule name.
        priority: rule priority (the tier).
        declared_effect: the rule's ``effect``.
        effect: the effect after constraints and escalation.
        reason_codes: reasons this rule contributes.
        violations: violations this rule contributes.
        steps: what changed the effect, as ``(kind, detail, before, after)``
            tuples (``dataflow``, ``endpoint``, ``destructive``).
        min_approvals: approvals this rule asks for.
        require_distinct: the rule needs distinct approvers.
    """

    name: str
    priority: int
    declared_effect: str
    effect: str
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    steps: tuple[tuple[str, str, str, str], ...]
    min_approvals: int
    require_distinct: bool


class GateResult(NamedTuple):
    """The decision (gate.md §4) plus what produced it.

    Attributes:
        verdict: ``allow``/``dry_run``/``require_approval``/``block``.
        reason_codes: sorted, unique.
        violations: sorted, unique.
        matched_rule: comma-joined names of the deciding tier ("" otherwise).
        required_approvals: approvals needed (0 unless ``require_approval``).
        require_distinct_approvers: distinct approvers are needed.
        created_at: decision time text (the intent's ``created_at``).
        path: ``rules``, ``default`` or ``fail_closed``.
        tier_priority: priority of the deciding tier (rules path only).
        outcomes: per-rule outcomes of the deciding tier.
        rate_limit: most restrictive ``rate_limit`` of the tier (enforced by
            ``gate eval`` only, §3.7).
        destructive_budget: most restrictive ``destructive_budget`` of the tier,
            only when the intent has a destructive target.
    """

    verdict: str
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    matched_rule: str
    required_approvals: int
    require_distinct_approvers: bool
    created_at: str
    path: str
    tier_priority: int | None = None
    outcomes: tuple[RuleOutcome, ...] = ()
    rate_limit: RateLimit | None = None
    destructive_budget: RateLimit | None = None

    def explanation(self) -> dict[str, Any]:
        """A JSON-ready description of which rule decided and why."""
        out: dict[str, Any] = {
            "path": self.path,
            "verdict": self.verdict,
            "reason_codes": list(self.reason_codes),
        }
        if self.tier_priority is not None:
            out["tier_priority"] = self.tier_priority
        out["rules"] = [
            {
                "name": o.name,
                "declared_effect": o.declared_effect,
                "effect": o.effect,
                "contributes": o.effect == self.verdict,
                "reason_codes": list(o.reason_codes),
                "violations": list(o.violations),
                "steps": [_step_text(step) for step in o.steps],
            }
            for o in self.outcomes
        ]
        return out


def _step_text(step: tuple[str, str, str, str]) -> str:
    kind, detail, before, after = step
    if kind == "dataflow":
        return f"dataflow: tainted source reaches a destination; effect {before} -> {after}"
    if kind == "endpoint":
        return f"endpoint: {detail}; effect {before} -> {after}"
    return f"destructive target in phase {detail}; effect {before} -> {after}"


def step_lines(outcome: RuleOutcome) -> list[str]:
    """Human-readable lines for the steps of one rule outcome."""
    return [_step_text(step) for step in outcome.steps]


def _matches(rule: Rule, intent: NormalizedIntent) -> bool:
    for pred in rule.predicates:  # noqa: SIM110 - a plain loop is faster than all(genexpr)
        if not pred(intent):
            return False
    return True


# --------------------------------------------------------------------------- fail closed


def _fail_closed(policy: CompiledPolicy, intent: NormalizedIntent) -> list[tuple[str, str]]:
    fc = policy.fail_closed
    if not fc.enabled or intent.risk_class not in fc.risk_classes:
        return []
    found: list[tuple[str, str]] = []
    ctx = intent.context
    for name in fc.required_fields:
        if name == "targets" and not intent.targets:
            found.append(("fail_closed_missing_targets", "missing_targets"))
        elif name == "arg_provenance" and not intent.provenance_sources:
            found.append(("fail_closed_missing_arg_provenance", "missing_arg_provenance"))
        elif name == "endpoint_class" and any(t.endpoint_class == "other" for t in intent.targets):
            found.append(("fail_closed_missing_endpoint_class", "missing_endpoint_class"))
        elif name == "delegation" and not intent.has_delegation:
            found.append(("fail_closed_missing_delegation", "missing_delegation"))
        elif name == "context_evidence" and not ctx.get("context_set_digest"):
            found.append(("context_evidence_missing", "missing_context_evidence"))
    for name in fc.required_high_risk_fields:
        value = ctx.get(name)
        missing = (value or 0) <= 0 if name == "credential_ttl_seconds" else not value
        if missing:
            found.append((f"fail_closed_missing_{name}", f"missing_{name}"))
    if any(t.endpoint_class == "other" for t in intent.targets):
        found.append(("fail_closed_endpoint_class_unknown", "endpoint_class_unknown"))
    return found


# --------------------------------------------------------------------------- constraints


def _dataflow_fires(flow: Dataflow, intent: NormalizedIntent) -> bool:
    if flow.tainted_sources.isdisjoint(intent.provenance_sources):
        return False
    if not (flow.destination_kinds or flow.destination_values or flow.destination_operations):
        return any(t.kind in _DATAFLOW_KINDS for t in intent.targets)
    return any(
        (not flow.destination_kinds or t.kind in flow.destination_kinds)
        and (not flow.destination_values or t.value in flow.destination_values)
        and (not flow.destination_operations or t.operation in flow.destination_operations)
        for t in intent.targets
    )


def _endpoint_hits(ep: Endpoint, intent: NormalizedIntent) -> tuple[list[str], list[str], str]:
    reasons: list[str] = []
    violations: list[str] = []
    for t in intent.targets:
        if t.kind == "path":
            if any(p.matches(t.value) for p in ep.path_denylist):
                reasons.append("endpoint_path_denied")
            elif ep.path_allowlist and not any(p.matches(t.value) for p in ep.path_allowlist):
                reasons.append("endpoint_path_not_allowlisted")
        if t.endpoint_domain:
            if any(p.matches(t.endpoint_domain) for p in ep.domain_denylist):
                reasons.append("endpoint_domain_denied")
            elif ep.domain_allowlist and not any(
                p.matches(t.endpoint_domain) for p in ep.domain_allowlist
            ):
                reasons.append("endpoint_domain_not_allowlisted")
        if (
            t.endpoint_class.startswith("net.")
            and ep.egress_classes
            and t.endpoint_class not in ep.egress_classes
        ):
            reasons.append("endpoint_egress_class_not_allowed")
    violations.extend(reasons)
    effect = ep.action
    if ep.destructive_action and intent.destructive:
        reasons.append("endpoint_destructive_operation")
        violations.append("destructive_operation")
        effect = most_restrictive(ep.action, ep.destructive_action)
    return reasons, violations, effect


def _rule_outcome(rule: Rule, intent: NormalizedIntent) -> RuleOutcome:
    effect = rule.effect
    reasons = list(rule.reason_codes) or [rule.fallback_reason]
    violations = list(rule.violations)
    steps: list[tuple[str, str, str, str]] = []
    if rule.dataflow is not None and _dataflow_fires(rule.dataflow, intent):
        flow = rule.dataflow
        steps.append(("dataflow", "", effect, flow.action))
        effect = flow.action
        reasons.append(flow.reason_code)
        violations.append(flow.violation)
    if rule.endpoint is not None:
        hit_reasons, hit_violations, hit_effect = _endpoint_hits(rule.endpoint, intent)
        if hit_reasons:
            new = most_restrictive(effect, hit_effect)
            steps.append(("endpoint", ", ".join(sorted(set(hit_reasons))), effect, new))
            effect = new
            reasons.extend(hit_reasons)
            reasons.append(rule.endpoint.reason_code)
            violations.extend(hit_violations)
            violations.append(rule.endpoint.violation)
    if intent.destructive:
        if intent.phase == "plan":
            new = most_restrictive(effect, "dry_run")
            reasons.append("plan_phase_non_destructive")
        else:
            new = most_restrictive(effect, "require_approval")
            reasons.append("destructive_apply_requires_approval")
        steps.append(("destructive", intent.phase, effect, new))
        effect = new
    approvals = rule.min_approvals
    if effect == "require_approval" and approvals == 0:
        approvals = 1
    return RuleOutcome(
        name=rule.name,
        priority=rule.priority,
        declared_effect=rule.effect,
        effect=effect,
        reason_codes=tuple(sorted(set(reasons))),
        violations=tuple(sorted(set(violations))),
        steps=tuple(steps),
        min_approvals=approvals,
        require_distinct=rule.require_distinct_approvers,
    )


# --------------------------------------------------------------------------- evaluate


def evaluate(policy: CompiledPolicy, intent: NormalizedIntent) -> GateResult:
    """Decide one normalised intent against a compiled policy (pure).

    Steps 4-7 of gate.md §3.9: fail-closed gate, the first matching priority
    tier, per-rule effects, most-restrictive verdict, or the default verdict.
    """
    blocked = _fail_closed(policy, intent)
    if blocked:
        return GateResult(
            verdict="block",
            reason_codes=tuple(sorted({r for r, _ in blocked})),
            violations=tuple(sorted({v for _, v in blocked})),
            matched_rule="",
            required_approvals=0,
            require_distinct_approvers=False,
            created_at=intent.created_at,
            path="fail_closed",
        )
    tier: list[Rule] = []
    for rule in policy.rules:
        if tier and rule.priority != tier[0].priority:
            break
        if _matches(rule, intent):
            tier.append(rule)
    if not tier:
        verdict = policy.default_verdict
        return GateResult(
            verdict=verdict,
            reason_codes=(f"default_{verdict}",),
            violations=(),
            matched_rule="",
            required_approvals=1 if verdict == "require_approval" else 0,
            require_distinct_approvers=False,
            created_at=intent.created_at,
            path="default",
        )
    outcomes = tuple(_rule_outcome(rule, intent) for rule in tier)
    rate_limit = most_restrictive_limit([r.rate_limit for r in tier])
    budget = (
        most_restrictive_limit([r.destructive_budget for r in tier]) if intent.destructive else None
    )
    verdict = "allow"
    for o in outcomes:
        verdict = most_restrictive(verdict, o.effect)
    if len(outcomes) == 1:  # the common case: one rule decides; its lists are already sorted
        (only,) = outcomes
        return GateResult(
            verdict=verdict,
            reason_codes=only.reason_codes,
            violations=only.violations,
            matched_rule=only.name,
            required_approvals=only.min_approvals if verdict == "require_approval" else 0,
            require_distinct_approvers=verdict == "require_approval" and only.require_distinct,
            created_at=intent.created_at,
            path="rules",
            tier_priority=only.priority,
            outcomes=outcomes,
            rate_limit=rate_limit,
            destructive_budget=budget,
        )
    winners = [o for o in outcomes if o.effect == verdict]
    required = max(o.min_approvals for o in winners) if verdict == "require_approval" else 0
    return GateResult(
        verdict=verdict,
        reason_codes=tuple(sorted({r for o in winners for r in o.reason_codes})),
        violations=tuple(sorted({v for o in winners for v in o.violations})),
        matched_rule=",".join(sorted({o.name for o in outcomes})),
        required_approvals=required,
        require_distinct_approvers=verdict == "require_approval"
        and any(o.require_distinct for o in winners),
        created_at=intent.created_at,
        path="rules",
        tier_priority=tier[0].priority,
        outcomes=outcomes,
        rate_limit=rate_limit,
        destructive_budget=budget,
    )


@dataclass(frozen=True, slots=True)
class SimulatedResult:
    """The simulate rewrite of gate.md §8."""

    verdict: str
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    simulated_verdict: str
    simulated_reason_codes: tuple[str, ...]
    would_have_blocked: bool


def apply_simulate(
    verdict: str, reason_codes: Iterable[str], violations: Iterable[str]
) -> SimulatedResult:
    """Observe-only rewrite: record what would have happened, then allow."""
    reasons = tuple(reason_codes)
    would_block = verdict in ("block", "require_approval")
    new_reasons = [*reasons, "simulate_mode_non_enforcing"]
    new_violations = tuple(violations)
    new_verdict = verdict
    if would_block:
        new_reasons.append(f"simulated_{verdict}")
        new_verdict = "allow"
        new_violations = ()
    return SimulatedResult(
        verdict=new_verdict,
        reason_codes=tuple(uniq_sorted(new_reasons)),
        violations=new_violations,
        simulated_verdict=verdict,
        simulated_reason_codes=reasons,
        would_have_blocked=would_block,
    )
