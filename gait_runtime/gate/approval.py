"""Approval tokens: minting, validation, the gate-eval approval flow and its audit record (§7).

Owns: the ``gait.gate.approval_token`` body (Go field set and ``omitempty``
rules, so Go verifies what we sign and we verify what Go signs), ``token_id``,
Go duration parsing for ``--ttl``, the ten-step validation order of §7.3 with
its reason codes, the required-scope computation, the §7.4 flow that turns a
``require_approval`` into ``allow``, and the unsigned approval audit record.
Time is always passed in as Unix nanoseconds; nothing here reads a clock or a
file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..artifacts.jcs import short_id
from ..artifacts.signing import SigningKey, VerifyKey, sign, signature_errors
from ..artifacts.timefmt import ZERO_TIME_TEXT, format_ns, parse_rfc3339
from ..errors import ArtifactInputError, InvalidInputError
from ._strings import is_hex64, trim, trim_lower, uniq_sorted, uniq_sorted_lower

__all__ = [
    "TOKEN_SCHEMA_ID",
    "ApprovalOutcome",
    "TokenCheck",
    "apply_approvals",
    "audit_record",
    "mint_token",
    "required_scope",
    "validate_token",
]

TOKEN_SCHEMA_ID: Final = "gait.gate.approval_token"
TOKEN_SCHEMA_VERSION: Final = "1.0.0"
AUDIT_SCHEMA_ID: Final = "gait.gate.approval_audit_record"


def required_scope(tool_name: str, phase: str, destructive: bool) -> list[str]:
    """The scope an approver must grant for this intent (§7.2)."""
    scope = [f"tool:{tool_name}"]
    if phase == "apply" and destructive:
        scope += ["phase:apply", "destructive:apply"]
    return uniq_sorted_lower(scope)


def _token_body(
    *,
    created_ns: int,
    producer_version: str,
    token_id: str,
    approver: str,
    reason_code: str,
    intent_digest: str,
    policy_digest: str,
    delegation_binding_digest: str,
    scope: Sequence[str],
    max_targets: int,
    max_ops: int,
    expires_ns: int,
    created_text: str | None = None,
    expires_text: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_id": TOKEN_SCHEMA_ID,
        "schema_version": TOKEN_SCHEMA_VERSION,
        "created_at": created_text or format_ns(created_ns),
        "producer_version": producer_version,
        "token_id": token_id,
        "approver_identity": approver,
        "reason_code": reason_code,
        "intent_digest": intent_digest,
        "policy_digest": policy_digest,
    }
    if delegation_binding_digest:
        body["delegation_binding_digest"] = delegation_binding_digest
    body["scope"] = list(scope)
    if max_targets:
        body["max_targets"] = max_targets
    if max_ops:
        body["max_ops"] = max_ops
    body["expires_at"] = expires_text or format_ns(expires_ns)
    return body


def mint_token(
    *,
    intent_digest: str,
    policy_digest: str,
    approver: str,
    reason_code: str,
    scope: Iterable[str],
    ttl_ns: int,
    now_ns: int,
    key: SigningKey,
    producer_version: str,
    max_targets: int = 0,
    max_ops: int = 0,
    delegation_binding_digest: str = "",
) -> dict[str, Any]:
    """Create a signed approval token bound to an intent and a policy digest.

    Raises:
        InvalidInputError: a digest is not 64 hex, scope/approver/reason is empty,
            the TTL is not positive, or a maximum is negative.
    """
    intent = trim_lower(intent_digest)
    policy = trim_lower(policy_digest)
    binding = trim_lower(delegation_binding_digest)
    if not is_hex64(intent):
        raise InvalidInputError("--intent-digest must be 64 hex characters", code="approve_digest")
    if not is_hex64(policy):
        raise InvalidInputError("--policy-digest must be 64 hex characters", code="approve_digest")
    if binding and not is_hex64(binding):
        raise InvalidInputError(
            "--delegation-binding-digest must be 64 hex characters", code="approve_digest"
        )
    if ttl_ns <= 0:
        raise InvalidInputError("invalid --ttl, expected positive duration", code="approve_ttl")
    normalized_scope = uniq_sorted_lower(scope)
    if not normalized_scope:
        raise InvalidInputError("--scope is required", code="approve_scope")
    who, why = trim(approver), trim(reason_code)
    if not who:
        raise InvalidInputError("--approver is required", code="approve_approver")
    if not why:
        raise InvalidInputError("--reason-code is required", code="approve_reason")
    if max_targets < 0 or max_ops < 0:
        raise InvalidInputError("--max-targets and --max-ops must be >= 0", code="approve_max")
    expires_ns = now_ns + ttl_ns
    preimage = ":".join(
        [
            intent,
            policy,
            who,
            why,
            ",".join(normalized_scope),
            str(max_targets),
            str(max_ops),
            format_ns(expires_ns),
        ]
    )
    body = _token_body(
        created_ns=now_ns,
        producer_version=producer_version,
        token_id=short_id(preimage),
        approver=who,
        reason_code=why,
        intent_digest=intent,
        policy_digest=policy,
        delegation_binding_digest=binding,
        scope=normalized_scope,
        max_targets=max_targets,
        max_ops=max_ops,
        expires_ns=expires_ns,
    )
    body["signature"] = sign(body, key)
    return body


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The validation result of one token (one audit entry)."""

    token_id: str
    approver_identity: str
    reason_code: str
    scope: tuple[str, ...]
    expires_at: str
    error_code: str = ""

    @property
    def valid(self) -> bool:
        """True when the token passed every check."""
        return not self.error_code


def _text(token: Mapping[str, Any], key: str) -> str:
    value = token.get(key)
    return value if isinstance(value, str) else ""


def _int(token: Mapping[str, Any], key: str) -> int:
    value = token.get(key)
    return value if type(value) is int else 0


def _normalized(token: Mapping[str, Any]) -> tuple[dict[str, Any] | None, int, TokenCheck]:
    """Step 1 of §7.3: normalise; return (signing body or None, expires ns, partial check)."""
    token_id = trim(_text(token, "token_id"))
    approver = trim(_text(token, "approver_identity"))
    reason = trim(_text(token, "reason_code"))
    raw_scope = token.get("scope")
    scope = uniq_sorted_lower(
        [s for s in raw_scope if isinstance(s, str)] if isinstance(raw_scope, list) else []
    )
    expires_raw = _text(token, "expires_at")
    invalid = TokenCheck(
        token_id, approver, reason, tuple(scope), expires_raw, "approval_token_invalid"
    )
    schema_id = trim(_text(token, "schema_id")) or TOKEN_SCHEMA_ID
    schema_version = trim(_text(token, "schema_version")) or TOKEN_SCHEMA_VERSION
    intent = trim_lower(_text(token, "intent_digest"))
    policy = trim_lower(_text(token, "policy_digest"))
    binding = trim_lower(_text(token, "delegation_binding_digest"))
    max_targets, max_ops = _int(token, "max_targets"), _int(token, "max_ops")
    if (
        schema_id != TOKEN_SCHEMA_ID
        or schema_version != TOKEN_SCHEMA_VERSION
        or not (token_id and approver and reason and scope)
        or not (is_hex64(intent) and is_hex64(policy))
        or (binding and not is_hex64(binding))
        or max_targets < 0
        or max_ops < 0
    ):
        return None, 0, invalid
    try:
        created = parse_rfc3339(trim(_text(token, "created_at")), field="created_at")
        expires = parse_rfc3339(trim(expires_raw), field="expires_at")
    except ArtifactInputError:
        return None, 0, invalid
    if ZERO_TIME_TEXT in (created.utc_text(), expires.utc_text()):
        return None, 0, invalid
    body = _token_body(
        created_ns=created.unix_ns,
        producer_version=_text(token, "producer_version"),
        token_id=token_id,
        approver=approver,
        reason_code=reason,
        intent_digest=intent,
        policy_digest=policy,
        delegation_binding_digest=binding,
        scope=scope,
        max_targets=max_targets,
        max_ops=max_ops,
        expires_ns=expires.unix_ns,
        created_text=created.text(),
        expires_text=expires.text(),
    )
    return (
        body,
        expires.unix_ns,
        TokenCheck(token_id, approver, reason, tuple(scope), expires.utc_text()),
    )


def validate_token(
    token: Mapping[str, Any],
    *,
    key: VerifyKey | None,
    intent_digest: str,
    policy_digest: str,
    scope: Sequence[str],
    target_count: int,
    now_ns: int,
    delegation_binding_digest: str = "",
) -> TokenCheck:
    """Validate one decoded token in the order of §7.3 (first failure wins)."""
    body, expires_ns, check = _normalized(token)
    if body is None:
        return check

    def fail(code: str) -> TokenCheck:
        return TokenCheck(
            check.token_id,
            check.approver_identity,
            check.reason_code,
            check.scope,
            check.expires_at,
            code,
        )

    if key is None:
        return fail("approval_token_signature_invalid")
    envelope = token.get("signature")
    if envelope is None:
        return fail("approval_token_signature_missing")
    if signature_errors(body, envelope, key):
        return fail("approval_token_signature_invalid")
    if body["intent_digest"] != intent_digest:
        return fail("approval_token_intent_mismatch")
    if body["policy_digest"] != policy_digest:
        return fail("approval_token_policy_mismatch")
    if delegation_binding_digest and body.get("delegation_binding_digest", "") != (
        delegation_binding_digest
    ):
        return fail("approval_token_delegation_binding_mismatch")
    if now_ns >= expires_ns:
        return fail("approval_token_expired")
    granted = set(check.scope)
    if "*" not in granted and not set(scope) <= granted:
        return fail("approval_token_scope_mismatch")
    max_targets, max_ops = body.get("max_targets", 0), body.get("max_ops", 0)
    if max_targets and target_count > max_targets:
        return fail("approval_token_max_targets_exceeded")
    if max_ops and max(target_count, 1) > max_ops:
        return fail("approval_token_max_ops_exceeded")
    return check


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """Result of the §7.4 flow.

    Attributes:
        verdict: ``allow`` when approvals are satisfied, else ``require_approval``.
        reason_codes: input reasons plus approval codes (sorted, unique).
        violations: input violations plus ``approval_not_granted`` when not granted.
        valid_approvals: number of valid tokens.
        approval_ref: comma-joined sorted ids of the valid tokens.
        approvers: sorted distinct approvers of valid tokens.
        checks: every token's check, sorted like the audit entries.
    """

    verdict: str
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    valid_approvals: int
    approval_ref: str
    approvers: tuple[str, ...]
    checks: tuple[TokenCheck, ...]


def apply_approvals(
    *,
    reason_codes: Iterable[str],
    violations: Iterable[str],
    required: int,
    distinct_required: bool,
    checks: Sequence[TokenCheck],
) -> ApprovalOutcome:
    """Turn validated tokens into the post-approval verdict (§7.4)."""
    reasons = list(reason_codes)
    viols = list(violations)
    ordered = tuple(
        sorted(
            checks,
            key=lambda c: (c.token_id, c.approver_identity, c.reason_code, c.expires_at, c.scope),
        )
    )
    valid = [c for c in ordered if c.valid]
    approvers = tuple(sorted({c.approver_identity for c in valid}))
    ref = ",".join(sorted({c.token_id for c in valid}))
    granted = False
    if not checks:
        reasons.append("approval_token_missing")
    else:
        reasons.extend(c.error_code for c in ordered if not c.valid)
        if len(valid) < required:
            reasons.append("approval_chain_insufficient")
        elif distinct_required and required > 1 and len(approvers) < required:
            reasons.append("approval_distinct_approvers_required")
        else:
            granted = True
    if granted:
        reasons.append("approval_granted")
    else:
        viols.append("approval_not_granted")
    return ApprovalOutcome(
        verdict="allow" if granted else "require_approval",
        reason_codes=tuple(uniq_sorted(reasons)),
        violations=tuple(uniq_sorted(viols)),
        valid_approvals=len(valid),
        approval_ref=ref if granted else "",
        approvers=approvers,
        checks=ordered,
    )


def audit_record(
    *,
    created_at: str,
    producer_version: str,
    trace_id: str,
    tool_name: str,
    intent_digest: str,
    policy_digest: str,
    required: int,
    outcome: ApprovalOutcome,
) -> dict[str, Any]:
    """The unsigned ``gait.gate.approval_audit_record`` (Go field order and omissions)."""
    refs = [{"kind": "agent", "id": a} for a in outcome.approvers]
    refs += [
        {"kind": "policy", "id": policy_digest},
        {"kind": "tool", "id": tool_name},
        {"kind": "trace", "id": trace_id},
    ]
    refs.sort(key=lambda r: (r["kind"], r["id"]))
    relationship = {
        "parent_ref": {"kind": "trace", "id": trace_id},
        "entity_refs": refs,
        "policy_ref": {"policy_digest": policy_digest},
        "edges": [
            {
                "kind": "governed_by",
                "from": {"kind": "tool", "id": tool_name},
                "to": {"kind": "policy", "id": policy_digest},
            }
        ],
        "parent_record_id": trace_id,
        "related_entity_ids": sorted({r["id"] for r in refs}),
    }
    record: dict[str, Any] = {
        "schema_id": AUDIT_SCHEMA_ID,
        "schema_version": "1.0.0",
        "created_at": created_at,
        "producer_version": producer_version,
        "trace_id": trace_id,
        "tool_name": tool_name,
        "intent_digest": intent_digest,
        "policy_digest": policy_digest,
        "required_approvals": required,
        "valid_approvals": outcome.valid_approvals,
        # Go counts valid tokens only: with distinct approvers missing, the
        # record still says approved while the verdict stays require_approval.
        "approved": outcome.valid_approvals >= required,
    }
    if outcome.approvers:
        record["approvers"] = list(outcome.approvers)
    record["relationship"] = relationship
    entries: list[dict[str, Any]] | None = None
    if outcome.checks:
        entries = []
        for c in outcome.checks:
            entry: dict[str, Any] = {
                "token_id": c.token_id,
                "approver_identity": c.approver_identity,
                "reason_code": c.reason_code,
                "scope": list(c.scope),
                "expires_at": c.expires_at,
                "valid": c.valid,
            }
            if c.error_code:
                entry["error_code"] = c.error_code
            entries.append(entry)
    record["entries"] = entries
    return record


def scope_list(values: Iterable[str]) -> list[str]:
    """Split comma-separated ``--scope`` values into a normalised list."""
    items: list[str] = []
    for value in values:
        items.extend(value.split(","))
    return uniq_sorted([trim_lower(i) for i in items])
