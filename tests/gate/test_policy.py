"""Policy loading, validation, normalisation and policy_digest (spec/gate.md §3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.commands.policy_fmt import format_policy_text
from gait_runtime.errors import PolicyError
from gait_runtime.gate import compile_policy, load_policy
from gait_runtime.gate._policy_file import _path_text
from gait_runtime.gate.policy import check_oss_prod

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
GATE = VECTORS / "gate"
DEFAULT_DIGEST = "07a528a879e4f0e0cd5a0e2ca801924746b47dac624862207ef21d4ec266f8f9"


@pytest.mark.parametrize("name", ["destructive", "dry_run", "example", "priority", "two_approvers"])
def test_vector_policy_digests(name: str) -> None:
    """Every policy in the gate vectors digests to Go's policy_digest."""
    expected = json.loads((GATE / "out" / f"validate_policy_{name}.json").read_text())
    policy = load_policy(GATE / f"policy_{name}.yaml")
    assert policy.digest == expected["policy_digest"]
    assert (policy.default_verdict, len(policy.rules)) == (
        expected["default_verdict"],
        expected["rule_count"],
    )


@pytest.mark.parametrize(
    "text",
    [
        "default_verdict: require_approval\n",
        "schema_id: gait.gate.policy\nschema_version: 1.0.0\ndefault_verdict: require_approval\n",
        "",
        "default_action: REQUIRE_APPROVAL\n",
    ],
)
def test_default_only_policies_share_the_spec_digest(text: str) -> None:
    """The default-only vector of §3.10, including the empty document and the alias."""
    assert compile_policy(text).digest == DEFAULT_DIGEST


def test_rules_sort_by_priority_then_name() -> None:
    """Lower priority first; ties by name in code-point order."""
    policy = load_policy(GATE / "policy_priority.yaml")
    assert [r.name for r in policy.rules] == [
        "block-secrets",
        "Read Audit",
        "allow-reads",
        "catch-all-block",
    ]


def test_min_approvals_above_one_implies_distinct_approvers() -> None:
    """min_approvals: 2 sets require_distinct_approvers."""
    (rule,) = load_policy(GATE / "policy_two_approvers.yaml").rules
    assert rule.min_approvals == 2 and rule.require_distinct_approvers


def test_fail_closed_enabled_defaults_risk_classes() -> None:
    """enabled with no risk_classes => [critical, high]."""
    policy = compile_policy("fail_closed: {enabled: true}\n")
    assert policy.fail_closed.risk_classes == ("critical", "high")


def test_legacy_fields_error_carries_migration_metadata() -> None:
    """Exactly Go's message, hint and migration object (exit-codes.md §3.1)."""
    expected = json.loads((VECTORS / "errors" / "out_policy_legacy_fields.json").read_text())
    with pytest.raises(PolicyError) as info:
        load_policy(VECTORS / "errors" / "policy_legacy_fields.yaml")
    assert info.value.message == expected["error"]
    assert info.value.hint == expected["hint"]
    assert info.value.details["migration"] == expected["migration"]


BAD = [
    ("rules: [{name: r1, effect: permit}]", 'invalid rule effect "permit" for r1', "rules[0].effect"),
    ("rules: [{effect: allow}]", "rules[0].name is required", "rules[0].name"),
    ("rules: [{name: a}]", "rule a effect is required", "rules[0].effect"),
    ("rules: [{name: a, effect: allow, action: block}]", "must match", "rules[0].action"),
    ("default_verdict: maybe", "invalid default_verdict", "default_verdict"),
    ("default_verdict: block\ndefault_action: allow", "must match", "default_action"),
    ("schema_version: 2.0.0", "unsupported policy schema_version", "schema_version"),
    ("bogus: 1", 'unknown field "bogus"', "bogus"),
    ("fail_closed: {enabled: true, extra: 1}", 'unknown field "extra"', "fail_closed.extra"),
    ("fail_closed: {required_fields: [nothing]}", "invalid required field", "fail_closed.required_fields"),
    ("fail_closed: {required_high_risk_fields: [x]}", "invalid high-risk field", "fail_closed.required_high_risk_fields"),
    ("rules: [{name: a, effect: allow, match: {tool_glob: x}}]", 'unknown field "tool_glob"', "rules[0].match.tool_glob"),
    ("rules: [{name: a, effect: allow, match: {tool_annotations: {readonly: true}}}]", 'unknown field "readonly"', "rules[0].match.tool_annotations.readonly"),
    ("rules: [{name: a, effect: allow, match: {endpoint_class: fs.copy}}]", "invalid endpoint class", "rules[0].match.endpoint_class"),
    ("rules: [{name: a, effect: allow, match: {discovery_method: [carrier]}}]", "invalid discovery method", "rules[0].match.discovery_method"),
    ("rules: [{name: a, effect: allow, match: {require_delegation: true}}]", "out of scope", "rules[0].match.require_delegation"),
    ("mcp_trust: {}", "out of scope", "mcp_trust"),
    ("scripts: {max_steps: 3}", "out of scope", "scripts"),
    ("rules: [{name: a, effect: allow, destructive_budget: {window: hour}}]", "must be >= 1 when destructive_budget is set", "rules[0].destructive_budget.requests"),
    ("rules: [{name: a, effect: allow, rate_limit: {requests: 1, window: day}}]", "expected minute or hour", "rules[0].rate_limit.window"),
    ("rules: [{name: a, effect: allow, rate_limit: {requests: 1, scope: global}}]", "expected tool, identity or tool_identity", "rules[0].rate_limit.scope"),
    ("rules: [{name: a, effect: allow, rate_limit: {requests: -1}}]", "must be >= 0", "rules[0].rate_limit.requests"),
    ("rules: [{name: a, effect: allow, rate_limit: {burst: 1}}]", 'unknown field "burst"', "rules[0].rate_limit.burst"),
    ("rules: [{name: a, effect: allow, min_approvals: -1}]", "min_approvals must be >= 0", "rules[0].min_approvals"),
    ("rules: [{name: a, effect: allow, priority: 1.5}]", "must be a integer", "rules[0].priority"),
    ("rules: [{name: a, effect: allow, reason_codes: [1]}]", "must be strings", "rules[0].reason_codes[0]"),
    ("rules: [{name: a, effect: allow, endpoint: {action: allow}}]", "expected block or require_approval", "rules[0].endpoint.action"),
    ("rules: [{name: a, effect: allow, endpoint: {egress_classes: [fs.read]}}]", "invalid egress class", "rules[0].endpoint.egress_classes"),
    ("rules: [{name: a, effect: allow, endpoint: {domain_denylist: ['[']}}]", "invalid endpoint pattern", "rules[0].endpoint.domain_denylist"),
    ("rules: [{name: a, effect: allow, endpoint: {path_allowlist: ['x\\']}}]", "invalid endpoint pattern", "rules[0].endpoint.path_allowlist"),
    ("rules: [{name: a, effect: allow, dataflow: {tainted_sources: [web]}}]", "invalid tainted source", "rules[0].dataflow.tainted_sources"),
    ("rules: [{name: a, effect: allow, dataflow: {destination_kinds: [disk]}}]", "invalid destination kind", "rules[0].dataflow.destination_kinds"),
    ("rules: [{name: a, effect: allow}, {name: ' a ', effect: block}]", "duplicate rule name 'a'", "rules[1].name"),
    ("rules: {name: a}", "must be a list of rules", "rules"),
    ("- a\n- b", "policy must be a mapping", None),
    ("a: 1\na: 2", "duplicate key 'a'", "a"),
    ("rules: [", "parse policy yaml", None),
    ("? [a]\n: 1", "must be a string", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message", "field"), BAD, ids=[b[1][:40] + "/" + str(b[2]) for b in BAD]
)
def test_invalid_policies_are_rejected_with_their_location(
    text: str, message: str, field: str | None
) -> None:
    """Every invalid key or value is a PolicyError (exit 6) naming the problem and where."""
    with pytest.raises(PolicyError) as info:
        compile_policy(text, source="p.yaml")
    assert message in info.value.message
    assert "\n" not in info.value.message
    if field is not None:
        assert info.value.details["field"] == field
        line = info.value.details["line"]
        assert isinstance(line, int) and line >= 1


def test_duplicate_rule_names_name_both_positions() -> None:
    """Our divergence from Go: duplicate names are invalid, and both places are named."""
    text = "rules:\n  - name: a\n    effect: allow\n  - name: a\n    effect: block\n"
    with pytest.raises(PolicyError) as info:
        compile_policy(text, source="p.yaml")
    assert "rules[0] (2:5) and rules[1] (4:5)" in info.value.message


def test_oss_prod_rejects_default_allow_and_unbrokered_high_risk_rules() -> None:
    """Fail-closed reading of gate.md §9: brokers are out of scope, so such rules are invalid."""
    with pytest.raises(PolicyError, match="default_verdict is allow"):
        check_oss_prod(compile_policy("default_verdict: allow"))
    risky = compile_policy("rules: [{name: r, effect: allow, match: {risk_classes: [HIGH]}}]")
    with pytest.raises(PolicyError, match="credential broker"):
        check_oss_prod(risky)
    check_oss_prod(
        compile_policy("rules: [{name: r, effect: block, match: {risk_classes: [high]}}]")
    )


def test_endpoint_and_dataflow_enter_the_digest_payload_with_defaults() -> None:
    """Endpoint with a list => enabled, defaults filled, DestructiveAction present as ""."""
    policy = compile_policy(
        "rules: [{name: r, effect: allow, endpoint: {path_denylist: [/etc/**]}, dataflow: {enabled: true}}]"
    )
    rule = policy.payload["Rules"][0]
    assert rule["Endpoint"]["DestructiveAction"] == "" and rule["Endpoint"]["Action"] == "block"
    assert rule["Dataflow"] == {
        "Enabled": True,
        "TaintedSources": ["external", "tool_output"],
        "Action": "require_approval",
        "ReasonCode": "dataflow_tainted_destination",
        "Violation": "tainted_dataflow",
    }
    disabled = compile_policy("rules: [{name: r, effect: allow, endpoint: {enabled: false}}]")
    assert "Endpoint" not in disabled.payload["Rules"][0]


def test_compiled_policy_is_immutable() -> None:
    """A compiled policy cannot be changed after compilation (safe to share across requests)."""
    policy = load_policy(GATE / "policy_example.yaml")
    with pytest.raises(AttributeError):
        policy.default_verdict = "allow"  # type: ignore[misc]
    assert isinstance(policy.rules, tuple)


POLICY_DOC = yaml.safe_load((GATE / "policy_priority.yaml").read_text())


def _shuffle(value: object, data: st.DataObject) -> object:
    if isinstance(value, dict):
        keys = data.draw(st.permutations(list(value)))
        return {k: _shuffle(value[k], data) for k in keys}
    if isinstance(value, list):
        return [_shuffle(v, data) for v in data.draw(st.permutations(value))]
    if isinstance(value, str) and data.draw(st.booleans()):
        return " " + value + " "
    return value


@settings(max_examples=60, deadline=None)
@given(data=st.data(), flow=st.booleans(), indent=st.integers(min_value=2, max_value=6))
def test_key_order_list_order_and_whitespace_do_not_change_the_digest(
    data: st.DataObject, flow: bool, indent: int
) -> None:
    """Reordered keys, rules and list items, padded strings and another layout: same digest."""
    doc = _shuffle(POLICY_DOC, data)
    text = yaml.safe_dump(doc, default_flow_style=flow, indent=indent, sort_keys=False)
    assert (
        compile_policy(text).digest
        == "c9ee149023c601c5ca7b1375c3eb5cee82230e95f0dada9a94bdb5633aace074"
    )


def test_fmt_keeps_every_rule_feature() -> None:
    """Endpoint, dataflow, limits, annotations and approvals survive formatting (same digest)."""
    text = """
default_action: allow
fail_closed: {enabled: true, required_high_risk_fields: [agent_id]}
rules:
  - name: everything
    action: require_approval
    min_approvals: 1
    require_distinct_approvers: true
    match: {tool_name: t, endpoint_class: fs.read, tool_annotations: {readOnlyHint: true}, skill_sources: [Hub]}
    endpoint: {domain_allowlist: ['*.Example.com'], destructive_action: block, egress_classes: [net.http]}
    dataflow: {destination_values: [x]}
    rate_limit: {requests: 3, window: hour}
    destructive_budget: {requests: 1}
"""
    once = format_policy_text(text)
    assert compile_policy(once).digest == compile_policy(text).digest
    assert format_policy_text(once) == once


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fmt_is_idempotent_and_keeps_the_digest(data: st.DataObject) -> None:
    """policy fmt output re-formats to itself and digests like its input."""
    name = data.draw(
        st.sampled_from(["destructive", "dry_run", "example", "priority", "two_approvers"])
    )
    doc = _shuffle(yaml.safe_load((GATE / f"policy_{name}.yaml").read_text()), data)
    text = yaml.safe_dump(doc, sort_keys=False)
    once = format_policy_text(text)
    assert format_policy_text(once) == once
    assert compile_policy(once).digest == compile_policy(text).digest


def test_alias_bombs_are_rejected_not_expanded() -> None:
    """A "billion laughs" document is refused quickly with exit 6."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 9)]
    with pytest.raises(PolicyError, match="too large"):
        compile_policy("\n".join(lines))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="a/. ", max_size=8))
def test_the_policy_source_name_is_str_of_path_without_pathlib(text: str) -> None:
    """``read_policy``'s source name equals ``str(Path(path))`` for any path spelling."""
    assert _path_text(text) == str(Path(text))
