"""Pure evaluation (spec/gate.md §3.9, §5, §8): one table row per reason code, plus properties."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.gate import GateResult, compile_policy, evaluate, normalize_intent
from gait_runtime.gate.evaluate import apply_simulate, most_restrictive

GATE = Path(__file__).resolve().parent.parent / "vectors" / "gate"


def intent(**overrides: Any) -> Any:
    """The spec example intent with top-level or context overrides (``ctx__key``)."""
    raw = json.loads((GATE / "intent_example.json").read_text())
    for key, value in overrides.items():
        if key.startswith("ctx__"):
            raw["context"][key[5:]] = value
        else:
            raw[key] = value
    return normalize_intent(raw, strip_context_claims=True)


def decide(policy_text: str, **overrides: Any) -> GateResult:
    return evaluate(compile_policy(policy_text), intent(**overrides))


EXAMPLE = (GATE / "policy_example.yaml").read_text()
PATH = [{"kind": "path", "value": "/srv/app/config.yaml", "operation": "write"}]
URL = [{"kind": "url", "value": "https://evil.example.net/x", "operation": "write"}]

CASES: list[tuple[str, str, dict[str, Any], str, list[str], list[str]]] = [
    ("default_block", "default_verdict: block", {}, "block", ["default_block"], []),
    ("default_allow", "default_verdict: allow", {}, "allow", ["default_allow"], []),
    ("default_dry_run", "default_verdict: dry_run", {}, "dry_run", ["default_dry_run"], []),
    ("default_require_approval", "{}", {}, "require_approval", ["default_require_approval"], []),
    ("rule reason_codes", EXAMPLE, {}, "require_approval", ["write_requires_review"], []),
    ("matched_rule_<name>", "rules: [{name: Allow Writes-Now, effect: allow}]", {}, "allow", ["matched_rule_allow_writes_now"], []),
    ("destructive_apply_requires_approval", "rules: [{name: b, effect: block}]", {"targets": [{"kind": "path", "value": "/a", "operation": "delete"}]}, "block", ["destructive_apply_requires_approval", "matched_rule_b"], []),
    ("plan_phase_non_destructive", "rules: [{name: a, effect: allow}]", {"ctx__phase": "plan", "targets": [{"kind": "other", "value": "ls", "operation": "exec"}]}, "dry_run", ["matched_rule_a", "plan_phase_non_destructive"], []),
    ("fail_closed_missing_targets", "fail_closed: {enabled: true, required_fields: [targets]}", {"targets": []}, "block", ["fail_closed_missing_targets"], ["missing_targets"]),
    ("fail_closed_missing_arg_provenance", "fail_closed: {enabled: true, required_fields: [arg_provenance]}", {"arg_provenance": []}, "block", ["fail_closed_missing_arg_provenance"], ["missing_arg_provenance"]),
    ("fail_closed_missing_endpoint_class", "fail_closed: {enabled: true, required_fields: [endpoint_class]}", {"targets": [{"kind": "repo", "value": "r"}]}, "block", ["fail_closed_endpoint_class_unknown", "fail_closed_missing_endpoint_class"], ["endpoint_class_unknown", "missing_endpoint_class"]),
    ("fail_closed_missing_delegation", "fail_closed: {enabled: true, required_fields: [delegation]}", {}, "block", ["fail_closed_missing_delegation"], ["missing_delegation"]),
    ("context_evidence_missing", "fail_closed: {enabled: true, required_fields: [context_evidence]}", {}, "block", ["context_evidence_missing"], ["missing_context_evidence"]),
    ("fail_closed_missing_<field>", "fail_closed: {enabled: true, required_high_risk_fields: [agent_id, credential_ttl_seconds, agent_identity]}", {}, "block", ["fail_closed_missing_agent_id", "fail_closed_missing_agent_identity", "fail_closed_missing_credential_ttl_seconds"], ["missing_agent_id", "missing_agent_identity", "missing_credential_ttl_seconds"]),
    ("fail_closed_endpoint_class_unknown", "fail_closed: {enabled: true}", {"targets": [{"kind": "queue", "value": "q"}]}, "block", ["fail_closed_endpoint_class_unknown"], ["endpoint_class_unknown"]),
    ("fail-closed risk class not listed", "fail_closed: {enabled: true, risk_classes: [critical], required_fields: [targets]}\ndefault_verdict: allow", {"targets": []}, "allow", ["default_allow"], []),
    ("endpoint_path_denied", EXAMPLE, {"targets": [{"kind": "path", "value": "key.pem", "operation": "write"}]}, "block", ["endpoint_constraint_violation", "endpoint_path_denied", "write_requires_review"], ["endpoint_constraint_violation", "endpoint_path_denied"]),
    ("endpoint_path_not_allowlisted", "rules: [{name: r, effect: allow, endpoint: {path_allowlist: [/tmp/**], action: require_approval}}]", {}, "require_approval", ["endpoint_constraint_violation", "endpoint_path_not_allowlisted", "matched_rule_r"], ["endpoint_constraint_violation", "endpoint_path_not_allowlisted"]),
    ("endpoint_domain_denied", "rules: [{name: r, effect: allow, endpoint: {domain_denylist: ['*.example.net']}}]", {"targets": URL}, "block", ["endpoint_constraint_violation", "endpoint_domain_denied", "matched_rule_r"], ["endpoint_constraint_violation", "endpoint_domain_denied"]),
    ("endpoint_domain_not_allowlisted", "rules: [{name: r, effect: allow, endpoint: {domain_allowlist: [api.example.com], reason_code: egress, violation: egress_v}}]", {"targets": URL}, "block", ["egress", "endpoint_domain_not_allowlisted", "matched_rule_r"], ["egress_v", "endpoint_domain_not_allowlisted"]),
    ("endpoint_egress_class_not_allowed", "rules: [{name: r, effect: allow, endpoint: {egress_classes: [net.dns]}}]", {"targets": URL}, "block", ["endpoint_constraint_violation", "endpoint_egress_class_not_allowed", "matched_rule_r"], ["endpoint_constraint_violation", "endpoint_egress_class_not_allowed"]),
    ("endpoint_destructive_operation", "rules: [{name: r, effect: allow, endpoint: {destructive_action: require_approval, action: require_approval}}]", {"targets": [{"kind": "path", "value": "/a", "operation": "rm"}]}, "require_approval", ["destructive_apply_requires_approval", "endpoint_constraint_violation", "endpoint_destructive_operation", "matched_rule_r"], ["destructive_operation", "endpoint_constraint_violation"]),
    ("dataflow_tainted_destination", "rules: [{name: r, effect: allow, dataflow: {enabled: true}}]", {"targets": URL, "arg_provenance": [{"arg_path": "$.x", "source": "external"}]}, "require_approval", ["dataflow_tainted_destination", "matched_rule_r"], ["tainted_dataflow"]),
    ("dataflow replaces block", "rules: [{name: r, effect: block, dataflow: {destination_kinds: [url]}}]", {"targets": URL, "arg_provenance": [{"arg_path": "$.x", "source": "tool_output"}]}, "require_approval", ["dataflow_tainted_destination", "matched_rule_r"], ["tainted_dataflow"]),
    ("dataflow not tainted", "rules: [{name: r, effect: allow, dataflow: {enabled: true}}]", {"targets": URL}, "allow", ["matched_rule_r"], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "overrides", "verdict", "reasons", "violations"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_reason_code_table(
    policy: str, overrides: dict[str, Any], verdict: str, reasons: list[str], violations: list[str]
) -> None:
    """Each in-scope reason code of §5, with its verdict and violations."""
    result = decide(policy, **overrides)
    assert (result.verdict, list(result.reason_codes), list(result.violations)) == (
        verdict,
        reasons,
        violations,
    )


MATCH_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("tool_names: [FS.WRITE_FILE]", {}, True),
    ("tool_name: fs.read_file", {}, False),
    ("risk_classes: [High]", {}, True),
    ("identities: [Deploy-Bot]", {}, False),
    ("identities: [deploy-bot]", {}, True),
    ("workspace_prefixes: [/work]", {}, True),
    ("workspace_prefixes: ['\\work']", {"ctx__workspace": "\\work\\app"}, False),
    ("target_kinds: [PATH]", {}, True),
    ("target_values: [/srv/app/config.yaml]", {}, True),
    ("endpoint_classes: [fs.write]", {}, True),
    ("endpoint_class: fs.read", {}, False),
    ("discovery_method: [unknown]", {}, True),
    ("tool_annotations: {readOnlyHint: true}", {"targets": [{"kind": "path", "value": "/a", "read_only_hint": True}]}, True),
    ("tool_annotations: {destructiveHint: false}", {"targets": [{"kind": "path", "value": "/a", "destructive_hint": True}]}, False),
    ("data_classes: [pii]", {"targets": [{"kind": "path", "value": "/a", "sensitivity": "PII"}]}, True),
    ("destination_kinds: [url]", {}, False),
    ("destination_values: [/srv/app/config.yaml]", {}, True),
    ("destination_operations: [WRITE]", {}, True),
    ("provenance_sources: [user]", {}, True),
    ("provenance_sources: [external]", {}, False),
    ("skill_publishers: [acme]", {"skill_provenance": {"skill_name": "s", "source": "hub", "publisher": "ACME"}}, True),
    ("skill_sources: [hub]", {}, False),
    ("{tool_names: [fs.write_file], risk_classes: [low]}", {}, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("match", "overrides", "matched"), MATCH_CASES, ids=[c[0] for c in MATCH_CASES]
)
def test_match_key_table(match: str, overrides: dict[str, Any], matched: bool) -> None:
    """Each match key of §3.5 (all present keys must hold; lists normalised as the spec says)."""
    body = match if match.startswith("{") else "{" + match + "}"
    result = decide(
        f"default_verdict: block\nrules: [{{name: m, effect: allow, match: {body}}}]", **overrides
    )
    assert (result.verdict == "allow") is matched


def test_tier_collects_same_priority_rules_and_most_restrictive_wins() -> None:
    """Priority 10 tier: allow + require_approval => require_approval; matched_rule lists both."""
    text = """
rules:
  - {name: z-approve, priority: 10, effect: require_approval, min_approvals: 3}
  - {name: a-allow, priority: 10, effect: allow, reason_codes: [ok]}
  - {name: later-block, priority: 11, effect: block}
"""
    result = decide(text)
    assert result.verdict == "require_approval"
    assert result.matched_rule == "a-allow,z-approve"
    assert result.reason_codes == ("matched_rule_z_approve",)
    assert (result.required_approvals, result.require_distinct_approvers) == (3, True)


def test_simulate_rewrites_blocking_verdicts_only() -> None:
    """§8: block/require_approval become allow with simulated_<verdict>; dry_run is kept."""
    sim = apply_simulate("block", ("r",), ("v",))
    assert (sim.verdict, sim.reason_codes, sim.violations) == (
        "allow",
        ("r", "simulate_mode_non_enforcing", "simulated_block"),
        (),
    )
    assert sim.would_have_blocked and sim.simulated_verdict == "block"
    kept = apply_simulate("dry_run", ("r",), ("v",))
    assert (kept.verdict, kept.violations, kept.would_have_blocked) == ("dry_run", ("v",), False)


def test_most_restrictive_order() -> None:
    """allow < dry_run < require_approval < block."""
    order = ["allow", "dry_run", "require_approval", "block"]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert most_restrictive(a, b) == order[max(i, j)]


def test_ten_concurrent_evaluations_give_identical_results() -> None:
    """One compiled policy shared by 10 threads: every result is equal to the serial one."""
    policy = compile_policy(EXAMPLE)
    normalized = intent()
    expected = evaluate(policy, normalized)
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: evaluate(policy, normalized), range(10)))
    assert all(r == expected for r in results)


VERDICTS = ["allow", "dry_run", "require_approval", "block"]
rule_strategy = st.fixed_dictionaries(
    {
        "name": st.text(alphabet="abcdefg-", min_size=1, max_size=6),
        "priority": st.integers(min_value=0, max_value=3),
        "effect": st.sampled_from(VERDICTS),
        "match": st.fixed_dictionaries(
            {},
            optional={
                "tool_names": st.lists(
                    st.sampled_from(["fs.write_file", "fs.read_file"]), max_size=2
                ),
                "risk_classes": st.lists(st.sampled_from(["high", "low"]), max_size=2),
                "target_kinds": st.lists(st.sampled_from(["path", "url"]), max_size=2),
            },
        ),
    }
)
intent_strategy = st.fixed_dictionaries(
    {
        "tool_name": st.sampled_from(["fs.write_file", "fs.read_file"]),
        "ctx__risk_class": st.sampled_from(["high", "low"]),
        "targets": st.sampled_from(
            [PATH, URL, [], [{"kind": "path", "value": "/x", "operation": "delete"}]]
        ),
    }
)


def _policy(rules: list[dict[str, Any]], default: str) -> str:
    unique = {r["name"]: r for r in rules}
    return yaml.safe_dump({"default_verdict": default, "rules": list(unique.values())})


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(rule_strategy, max_size=5),
    default=st.sampled_from(VERDICTS),
    overrides=intent_strategy,
)
def test_evaluation_is_deterministic(
    rules: list[dict[str, Any]], default: str, overrides: dict[str, Any]
) -> None:
    """Same compiled policy and intent => equal results, also after recompiling both."""
    text = _policy(rules, default)
    first = evaluate(compile_policy(text), intent(**overrides))
    assert evaluate(compile_policy(text), intent(**overrides)) == first


@settings(max_examples=200, deadline=None)
@given(
    rules=st.lists(rule_strategy, max_size=5),
    default=st.sampled_from(VERDICTS),
    overrides=intent_strategy,
    extra=rule_strategy,
)
def test_adding_a_block_rule_never_turns_a_block_into_allow(
    rules: list[dict[str, Any]], default: str, overrides: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Monotonic safety: a policy that blocks an intent still does not allow it after adding a block rule."""
    before = evaluate(compile_policy(_policy(rules, default)), intent(**overrides))
    if before.verdict != "block":
        return
    added = {**extra, "name": "zz-added-block", "effect": "block"}
    after = evaluate(compile_policy(_policy([*rules, added], default)), intent(**overrides))
    assert after.verdict != "allow"


def test_evaluate_module_does_no_io() -> None:
    """gate/evaluate.py imports only pure modules and calls no I/O builtins (STYLE habit 2)."""
    import ast
    import importlib

    module = importlib.import_module("gait_runtime.gate.evaluate")
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "print", "input", "exec", "eval"}
    allowed = {
        "__future__",
        "collections.abc",
        "dataclasses",
        "typing",
        "._limits",
        "._strings",
        ".intent",
        ".model",
    }
    assert imported <= allowed, imported - allowed
