"""The ``gate eval`` decision pipeline after evaluation: approvals, simulate, trace, audit.

Owns: :func:`decide`, which takes a compiled policy, a normalised (stripped)
intent, the decoded approval tokens and an injected clock value, and returns the
final decision, the signed trace, the optional approval audit record and the
``gate eval --json`` payload fields (gate.md §4.1, §7.4, §8). Pure apart from
the signature: no files, no clock, no environment. The CLI and the supervisor
both call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..artifacts.signing import SigningKey, VerifyKey
from ..errors import verdict_exit_code
from .approval import ApprovalOutcome, apply_approvals, audit_record, required_scope, validate_token
from .evaluate import GateResult, SimulatedResult, apply_simulate, evaluate
from .intent import NormalizedIntent
from .model import CompiledPolicy
from .trace import DEFAULT_PRODUCER_VERSION, build_trace

__all__ = ["FinalDecision", "decide"]


@dataclass(frozen=True, slots=True)
class FinalDecision:
    """Everything ``gate eval`` reports for one decision.

    Attributes:
        verdict: final verdict (after approvals and simulate).
        reason_codes: final reason codes (sorted, unique).
        violations: final violations (sorted, unique).
        result: the pure evaluation result before post-processing.
        trace: the signed trace record.
        audit: the approval audit record, or None when no approval flow ran.
        approval: the approval outcome, or None.
        simulated: the simulate rewrite, or None when not simulating.
        phase: the intent's phase.
    """

    verdict: str
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    result: GateResult
    trace: dict[str, Any]
    audit: dict[str, Any] | None
    approval: ApprovalOutcome | None
    simulated: SimulatedResult | None = None
    phase: str = "apply"

    @property
    def exit_code(self) -> int:
        """CLI exit code: 3 block, 4 require_approval, else 0."""
        return verdict_exit_code(self.verdict)

    @property
    def payload(self) -> dict[str, Any]:
        """The ``gate eval --json`` fields (without paths, profile, warnings).

        Built on demand: the service path never reads it.
        """
        trace, result, approval, sim = self.trace, self.result, self.approval, self.simulated
        out: dict[str, Any] = {
            "intent_digest": trace["intent_digest"],
            "policy_digest": trace["policy_digest"],
            "phase": self.phase,
        }
        if sim is not None:
            out["simulate_mode"] = True
            out["simulated_verdict"] = sim.simulated_verdict
            if sim.simulated_reason_codes:
                out["simulated_reason_codes"] = list(sim.simulated_reason_codes)
            if sim.would_have_blocked:
                out["would_have_blocked"] = True
        out["verdict"] = self.verdict
        out["trace_id"] = trace["trace_id"]
        if self.reason_codes:
            out["reason_codes"] = list(self.reason_codes)
        if self.violations:
            out["violations"] = list(self.violations)
        if result.matched_rule:
            out["matched_rule"] = result.matched_rule
        if result.required_approvals:
            out["required_approvals"] = result.required_approvals
        if approval is not None:
            if approval.valid_approvals:
                out["valid_approvals"] = approval.valid_approvals
            if approval.approval_ref:
                out["approval_ref"] = approval.approval_ref
        return out


def decide(
    policy: CompiledPolicy,
    intent: NormalizedIntent,
    *,
    result: GateResult | None = None,
    tokens: Sequence[Mapping[str, Any]] = (),
    approval_flow: bool = True,
    approval_key: VerifyKey | None = None,
    signing_key: SigningKey,
    now_ns: int,
    simulate: bool = False,
    correlation_id: str | None = None,
    latency_ms: float | None = None,
    producer_version: str = DEFAULT_PRODUCER_VERSION,
) -> FinalDecision:
    """Evaluate, apply approvals and simulate, then sign the trace (the one trace path).

    ``gate eval``, the MCP proxy and the service all build and sign their trace
    here; reason codes and violations come back sorted and unique, once.

    Args:
        policy: compiled policy.
        intent: normalised intent (context claims already stripped).
        result: a precomputed ``evaluate(policy, intent)`` (evaluated here when None).
        tokens: decoded approval tokens (``--approval-token`` and chain).
        approval_flow: run the approval flow of gate.md §7.4 on a
            ``require_approval`` verdict (``gate eval``). The service passes
            False when a request carries no tokens: its ``require_approval`` is
            final (service.md §6 differences) and nothing is added to it.
        approval_key: key that verifies tokens (None: every token is invalid).
        signing_key: key that signs the trace.
        now_ns: current time in Unix ns (token expiry, trace ``observed_at``).
        simulate: observe-only mode (§8).
        correlation_id: argv hash recorded in the trace.
        latency_ms: measured evaluation latency for the trace.
        producer_version: producer version for the trace and audit record.
    """
    if result is None:
        result = evaluate(policy, intent)
    verdict, reasons, violations = result.verdict, result.reason_codes, result.violations
    approval: ApprovalOutcome | None = None
    if verdict == "require_approval" and approval_flow:
        scope = required_scope(intent.tool_name, intent.phase, intent.destructive)
        checks = [
            validate_token(
                t,
                key=approval_key,
                intent_digest=intent.intent_digest,
                policy_digest=policy.digest,
                scope=scope,
                target_count=len(intent.targets),
                now_ns=now_ns,
            )
            for t in tokens
        ]
        approval = apply_approvals(
            reason_codes=reasons,
            violations=violations,
            required=result.required_approvals,
            distinct_required=result.require_distinct_approvers,
            checks=checks,
        )
        verdict, reasons, violations = approval.verdict, approval.reason_codes, approval.violations
    sim: SimulatedResult | None = None
    if simulate:
        sim = apply_simulate(verdict, reasons, violations)
        verdict, reasons, violations = sim.verdict, sim.reason_codes, sim.violations
    final = _Final(verdict, violations)
    trace = build_trace(
        policy,
        intent,
        final,
        observed_at_ns=now_ns,
        signing_key=signing_key,
        producer_version=producer_version,
        correlation_id=correlation_id,
        latency_ms=latency_ms,
        approval_token_ref=approval.approval_ref if approval else None,
    )
    audit = None
    if approval is not None:
        audit = audit_record(
            created_at=intent.created_at,
            producer_version=producer_version,
            trace_id=trace["trace_id"],
            tool_name=intent.tool_name,
            intent_digest=intent.intent_digest,
            policy_digest=policy.digest,
            required=result.required_approvals,
            outcome=approval,
        )
    return FinalDecision(
        verdict=verdict,
        reason_codes=tuple(reasons),
        violations=tuple(violations),
        result=result,
        trace=trace,
        audit=audit,
        approval=approval,
        simulated=sim,
        phase=intent.phase,
    )


@dataclass(frozen=True, slots=True)
class _Final:
    verdict: str
    violations: tuple[str, ...]
