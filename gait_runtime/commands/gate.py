"""The gate commands as library calls: ``gate eval``, ``policy test``, ``approve``, ``trace verify``.

Owns: option records for each command, key resolution through
:mod:`gait_runtime.artifacts.keys`, the ``oss-prod`` profile rules (§9), timing
the evaluation, the rate-limit state file (:mod:`.ratelimit`), writing
traces/audits/tokens through the explicit writers, and the ``--json`` payload
of each command. Each returns an outcome record; the CLI renders its text and
picks the exit code (``cli/gate.py``). The wall clock is passed in (``now_ns``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts.keys import KeySource, resolve_signing_key, resolve_verify_key
from ..artifacts.timefmt import format_ns, parse_go_duration
from ..errors import (
    InvalidInputError,
    KeyMaterialError,
    UsageError,
    VerificationError,
)
from ..gate.approval import mint_token, scope_list
from ..gate.evaluate import GateResult, evaluate
from ..gate.intent import NormalizedIntent
from ..gate.model import CompiledPolicy
from ..gate.pipeline import FinalDecision, decide
from ..gate.policy import check_oss_prod, load_policy
from ..gate.trace import (
    DEFAULT_PRODUCER_VERSION,
    default_trace_path,
    verify_trace,
    write_json_artifact,
)
from .gate_inputs import (
    load_intent,
    load_token_files,
    load_trace,
    policy_test_payload,
)
from .ratelimit import DEFAULT_STATE_PATH, RateLimit, consume, counter_key
from .tracelog import is_trace_log, run_trace_log_verify

__all__ = [
    "ApproveOptions",
    "GateEvalOptions",
    "GateEvalOutcome",
    "PolicyTestOutcome",
    "run_approve",
    "run_gate_eval",
    "run_policy_test",
    "run_trace_verify",
]


@dataclass(frozen=True, slots=True)
class GateEvalOutcome:
    """What ``gate eval`` did: its ``--json`` payload and the values its text screen shows.

    Attributes:
        payload: the ``--json`` object.
        policy: the compiled policy.
        intent: the normalised intent.
        result: the evaluation after rate limits, before approvals/simulate.
        decision: the final decision (verdict, reasons, signed trace).
        trace_path: where the trace was written (``""``: none, ``--explain``).
        warnings: key-resolution warnings.
    """

    payload: dict[str, Any]
    policy: CompiledPolicy
    intent: NormalizedIntent
    result: GateResult
    decision: FinalDecision
    trace_path: str
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyTestOutcome:
    """What ``policy test`` evaluated: its ``--json`` payload and the evaluation."""

    payload: dict[str, Any]
    policy: CompiledPolicy
    intent: NormalizedIntent
    result: GateResult


@dataclass(slots=True)
class GateEvalOptions:
    """Flags of ``gait gate eval``."""

    policy: str = ""
    intent: str = ""
    profile: str = "standard"
    key_mode: str = "dev"
    private_key: KeySource = field(default_factory=KeySource)
    approval_public_key: KeySource = field(default_factory=KeySource)
    approval_private_key: KeySource = field(default_factory=KeySource)
    approval_tokens: list[str] = field(default_factory=list)
    trace_out: str = ""
    approval_audit_out: str = ""
    simulate: bool = False
    explain: bool = False
    rate_limit_state: str = DEFAULT_STATE_PATH
    correlation_id: str = ""
    producer_version: str = DEFAULT_PRODUCER_VERSION


def _check_profile(opts: GateEvalOptions) -> None:
    profile = opts.profile.strip().lower() or "standard"
    if profile not in ("standard", "oss-prod"):
        raise UsageError(f"unsupported --profile {opts.profile!r} (standard or oss-prod)")
    opts.profile = profile
    if profile != "oss-prod":
        return
    if opts.key_mode.strip().lower() != "prod" or not opts.private_key.given:
        raise KeyMaterialError("oss-prod profile requires --key-mode prod and a private key source")
    if opts.simulate:
        raise UsageError("oss-prod profile does not allow --simulate")
    if opts.approval_tokens and not (
        opts.approval_public_key.given or opts.approval_private_key.given
    ):
        raise KeyMaterialError("oss-prod profile requires an explicit approval verify key")


def run_gate_eval(opts: GateEvalOptions, *, now_ns: int) -> GateEvalOutcome:
    """Evaluate one intent file against one policy file, sign and write the trace.

    Raises:
        GaitError: invalid flags, policy, intent, token file or keys (exit 6);
            write failures (exit 1).
    """
    if not opts.policy.strip() or not opts.intent.strip():
        raise UsageError("both --policy and --intent are required")
    _check_profile(opts)
    signer = resolve_signing_key(opts.key_mode, opts.private_key)
    policy = load_policy(opts.policy)
    if opts.profile == "oss-prod":
        check_oss_prod(policy)
    intent = load_intent(opts.intent, strip_context_claims=True)
    tokens = load_token_files(opts.approval_tokens)
    approval_key = resolve_verify_key(opts.approval_public_key, opts.approval_private_key)
    started = time.perf_counter_ns()
    result = evaluate(policy, intent)
    latency_ms = (time.perf_counter_ns() - started) / 1e6
    limit_fields: dict[str, Any] = {}
    if not opts.explain:  # an explanation is a preview: it spends no rate-limit budget
        result, limit_fields = _enforce_limits(result, intent, opts.rate_limit_state, now_ns)
    out_dir = Path(".")
    while True:
        decision = decide(
            policy,
            intent,
            result=result,
            tokens=tokens,
            approval_key=approval_key or signer.key.public,
            signing_key=signer.key,
            now_ns=now_ns,
            simulate=opts.simulate,
            correlation_id=opts.correlation_id or None,
            latency_ms=latency_ms,
            producer_version=opts.producer_version,
        )
        if (
            opts.explain
            or opts.trace_out
            or not default_trace_path(out_dir, decision.trace).exists()
        ):
            break
        now_ns += 1  # an identical decision in the same nanosecond: never overwrite
    payload: dict[str, Any] = {
        "ok": True,
        "profile": opts.profile,
        **decision.payload,
        **limit_fields,
    }
    if opts.explain:
        # A preview: the explanation and the verdict's exit code, no trace, no audit.
        payload["explanation"] = result.explanation()
        payload["trace_written"] = False
        if signer.warnings:
            payload["warnings"] = list(signer.warnings)
        return GateEvalOutcome(
            payload, policy, intent, result, decision, "", tuple(signer.warnings)
        )
    trace_path = opts.trace_out or str(default_trace_path(out_dir, decision.trace))
    write_json_artifact(trace_path, decision.trace)
    payload["trace_path"] = trace_path
    if decision.audit is not None:
        audit_path = opts.approval_audit_out or f"approval_audit_{decision.trace['trace_id']}.json"
        write_json_artifact(audit_path, decision.audit)
        payload["approval_audit_path"] = audit_path
    if signer.warnings:
        payload["warnings"] = list(signer.warnings)
    return GateEvalOutcome(
        payload, policy, intent, result, decision, trace_path, tuple(signer.warnings)
    )


def _enforce_limits(
    result: GateResult, intent: NormalizedIntent, state: str, now_ns: int
) -> tuple[GateResult, dict[str, Any]]:
    """Apply the tier's rate limit and destructive budget (§3.7); a block costs nothing."""
    checks: list[tuple[str, str, RateLimit, str]] = []
    for prefix, code, limit, budget in (
        ("rate_limit", "rate_limit_exceeded", result.rate_limit, False),
        ("destructive_budget", "destructive_budget_exceeded", result.destructive_budget, True),
    ):
        if limit is not None:
            key = counter_key(
                limit,
                tool_name=intent.tool_name,
                identity=intent.identity,
                now_ns=now_ns,
                budget=budget,
            )
            checks.append((prefix, code, limit, key))
    if not checks or result.verdict == "block":
        return result, {}
    uses = consume(state, [(limit, key) for _, _, limit, key in checks], now_ns=now_ns)
    fields: dict[str, Any] = {}
    reasons, violations = set(result.reason_codes), set(result.violations)
    for (prefix, code, _, _), use in zip(checks, uses, strict=True):
        fields.update({f"{prefix}_scope": use.scope, f"{prefix}_key": use.key})
        fields.update({f"{prefix}_used": use.used, f"{prefix}_remaining": use.remaining})
        if not use.allowed:
            reasons.add(code)
            violations.add(code)
    fields = {k: v for k, v in fields.items() if v}  # Go omitempty
    if all(use.allowed for use in uses):
        return result, fields
    blocked = result._replace(
        verdict="block",
        reason_codes=tuple(sorted(reasons)),
        violations=tuple(sorted(violations)),
        required_approvals=0,
        require_distinct_approvers=False,
    )
    return blocked, fields


def run_policy_test(policy_path: str, intent_path: str, *, explain: bool) -> PolicyTestOutcome:
    """``gait policy test``: evaluate without trace, approvals or stripping."""
    policy = load_policy(policy_path)
    intent = load_intent(intent_path, strip_context_claims=False)
    result = evaluate(policy, intent)
    payload = policy_test_payload(policy, intent, result)
    if explain:
        payload["explanation"] = result.explanation()
    return PolicyTestOutcome(payload, policy, intent, result)


@dataclass(slots=True)
class ApproveOptions:
    """Flags of ``gait approve``."""

    intent_digest: str = ""
    policy_digest: str = ""
    ttl: str = ""
    scope: list[str] = field(default_factory=list)
    approver: str = ""
    reason_code: str = ""
    max_targets: int = 0
    max_ops: int = 0
    delegation_binding_digest: str = ""
    out: str = ""
    key_mode: str = "dev"
    private_key: KeySource = field(default_factory=KeySource)
    producer_version: str = DEFAULT_PRODUCER_VERSION


def run_approve(opts: ApproveOptions, *, now_ns: int) -> dict[str, Any]:
    """Mint, sign and write an approval token (§7.2); returns the ``--json`` payload."""
    try:
        ttl_ns = parse_go_duration(opts.ttl) if opts.ttl.strip() else 0
    except ValueError:
        ttl_ns = 0
    if ttl_ns <= 0:
        raise InvalidInputError("invalid --ttl, expected positive duration", code="approve_ttl")
    signer = resolve_signing_key(opts.key_mode, opts.private_key)
    token = mint_token(
        intent_digest=opts.intent_digest,
        policy_digest=opts.policy_digest,
        approver=opts.approver,
        reason_code=opts.reason_code,
        scope=scope_list(opts.scope),
        ttl_ns=ttl_ns,
        now_ns=now_ns,
        key=signer.key,
        producer_version=opts.producer_version,
        max_targets=opts.max_targets,
        max_ops=opts.max_ops,
        delegation_binding_digest=opts.delegation_binding_digest,
    )
    path = opts.out or f"approval_{token['token_id']}.json"
    write_json_artifact(path, token)
    expires_seconds = (now_ns + ttl_ns) // 1_000_000_000 * 1_000_000_000
    payload: dict[str, Any] = {
        "ok": True,
        "token_id": token["token_id"],
        "token_path": path,
        "expires_at": format_ns(expires_seconds),
        "reason_code": token["reason_code"],
        "scope": token["scope"],
        "key_id": signer.key.key_id,
        "description": "signed approval token created",
    }
    if opts.max_targets:
        payload["max_targets"] = opts.max_targets
    if opts.max_ops:
        payload["max_ops"] = opts.max_ops
    if signer.warnings:
        payload["warnings"] = list(signer.warnings)
    return payload


def run_trace_verify(path: str, public: KeySource, private: KeySource) -> dict[str, Any]:
    """``gait trace verify``: the payload when verified (a trace file, or a trace log:
    its directory or one segment, every line's signature).

    Raises:
        VerificationError: the signature does not verify (exit 2).
        GaitError: unreadable trace or no key (exit 6).
    """
    key = resolve_verify_key(public, private)
    if key is None:
        raise KeyMaterialError("public key not configured")
    if is_trace_log(Path(path)):
        return run_trace_log_verify(Path(path), key)
    trace = load_trace(path)
    outcome = verify_trace(trace, key)
    base: dict[str, Any] = {"path": path, "trace_id": outcome.trace_id, "verdict": outcome.verdict}
    if not outcome.ok:
        raise VerificationError(
            outcome.error,
            code="trace_signature_invalid",
            details={**base, "signature_status": "failed"},
        )
    return {"ok": True, **base, "signature_status": "verified", "key_id": outcome.key_id}
