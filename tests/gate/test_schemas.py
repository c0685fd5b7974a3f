"""The gate JSON schemas (schemas/v1/gate) accept Go's artifacts and ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gait_runtime.artifacts.schemas import validate
from gait_runtime.artifacts.signing import SigningKey
from gait_runtime.errors import ArtifactInputError
from gait_runtime.gate import (
    compile_policy,
    evaluate,
    mint_token,
    normalize_intent,
    parse_intent_json,
)
from gait_runtime.gate.approval import TokenCheck, apply_approvals, audit_record
from gait_runtime.gate.pipeline import decide

GATE = Path(__file__).resolve().parent.parent / "vectors" / "gate"
KEY = SigningKey(bytes(range(32)))


@pytest.mark.parametrize(
    ("folder", "schema"),
    [
        ("traces", "gate/trace"),
        ("tokens", "gate/approval_token"),
        ("audit", "gate/approval_audit_record"),
    ],
)
def test_go_artifacts_validate(folder: str, schema: str) -> None:
    """Every Go trace, token and audit record in the vectors matches our schema."""
    files = sorted((GATE / folder).glob("*.json"))
    assert files
    for path in files:
        validate(schema, json.loads(path.read_text()))


@pytest.mark.parametrize("path", sorted(GATE.glob("intent_*.json")), ids=lambda p: p.name)
def test_vector_intents_validate_except_the_deliberately_sloppy_one(path: Path) -> None:
    """Canonical intents validate; the §2.8 'equivalent' intent (unknown keys, bad digest) does not."""
    doc = json.loads(path.read_text())
    if path.name in ("intent_example_equivalent.json", "intent_no_targets.json"):
        with pytest.raises(ArtifactInputError):
            validate("gate/intent_request", doc)
    else:
        validate("gate/intent_request", doc)


@pytest.mark.parametrize("path", sorted(GATE.glob("policy_*.yaml")), ids=lambda p: p.name)
def test_vector_policies_validate(path: Path) -> None:
    """The policy schema describes every key we accept."""
    validate("gate/policy", yaml.safe_load(path.read_text()))


def test_policy_schema_rejects_out_of_scope_keys() -> None:
    """Out-of-scope keys are not part of the schema either."""
    with pytest.raises(ArtifactInputError):
        validate(
            "gate/policy",
            {"rules": [{"name": "a", "effect": "allow", "freeze_window": {}}]},
        )


def test_our_artifacts_validate() -> None:
    """A trace, a token and an audit record we produce all match the schemas."""
    raw = parse_intent_json((GATE / "intent_example.json").read_bytes(), source="x")
    intent = normalize_intent(raw, strip_context_claims=True)
    policy = compile_policy((GATE / "policy_example.yaml").read_text())
    decision = decide(
        policy, intent, signing_key=KEY, now_ns=10**18, latency_ms=0.5, correlation_id="c"
    )
    validate("gate/trace", decision.trace)
    assert decision.audit is not None
    validate("gate/approval_audit_record", decision.audit)
    token = mint_token(
        intent_digest=intent.intent_digest,
        policy_digest=policy.digest,
        approver="a",
        reason_code="r",
        scope=["tool:x"],
        ttl_ns=10**9,
        now_ns=10**18,
        key=KEY,
        producer_version="t",
        max_ops=2,
    )
    validate("gate/approval_token", token)
    check = TokenCheck("t", "a", "r", ("tool:x",), "2030-01-01T00:00:00Z", "approval_token_expired")
    outcome = apply_approvals(
        reason_codes=[], violations=[], required=1, distinct_required=False, checks=[check]
    )
    result = evaluate(policy, intent)
    validate(
        "gate/approval_audit_record",
        audit_record(
            created_at=result.created_at,
            producer_version="t",
            trace_id="0" * 24,
            tool_name="t",
            intent_digest=intent.intent_digest,
            policy_digest=policy.digest,
            required=1,
            outcome=outcome,
        ),
    )
