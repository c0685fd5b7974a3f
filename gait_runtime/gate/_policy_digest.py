"""The ``policy_digest`` payload (gate.md §3.10): the compiled policy in Go's field names.

Owns: :func:`policy_payload`, the normalised document whose JCS digest is the
``policy_digest``. Key by key it must agree with the Go implementation's
struct fields (``SchemaID``, ``Rules[].Match.ToolNames``…), which the golden
vectors pin.
"""

from __future__ import annotations

from typing import Any

from ._policy_keys import ANNOTATIONS
from .model import FailClosed, Match, Rule

__all__ = ["policy_payload"]


def policy_payload(
    schema_id: str,
    schema_version: str,
    default_verdict: str,
    fail_closed: FailClosed,
    rules: list[Rule],
) -> dict[str, Any]:
    fc: dict[str, Any] = {
        "Enabled": fail_closed.enabled,
        "RiskClasses": list(fail_closed.risk_classes),
        "RequiredFields": list(fail_closed.required_fields),
    }
    if fail_closed.required_high_risk_fields:
        fc["RequiredHighRiskFields"] = list(fail_closed.required_high_risk_fields)
    return {
        "SchemaID": schema_id,
        "SchemaVersion": schema_version,
        "DefaultVerdict": default_verdict,
        "FailClosed": fc,
        "Rules": [_rule_payload(r) for r in rules],
    }


def _match_payload(m: Match) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ToolNames": list(m.tool_names),
        "RiskClasses": list(m.risk_classes),
        "TargetKinds": list(m.target_kinds),
        "TargetValues": list(m.target_values),
        "ProvenanceSources": list(m.provenance_sources),
        "Identities": list(m.identities),
        "WorkspacePrefixes": list(m.workspace_prefixes),
    }
    optional = (
        ("EndpointClasses", m.endpoint_classes),
        ("DiscoveryMethods", m.discovery_methods),
        ("SkillPublishers", m.skill_publishers),
        ("SkillSources", m.skill_sources),
        ("DataClasses", m.data_classes),
        ("DestinationKinds", m.destination_kinds),
        ("DestinationValues", m.destination_values),
        ("DestinationOps", m.destination_operations),
    )
    for key, items in optional:
        if items:
            out[key] = list(items)
    if m.tool_annotations:
        out["ToolAnnotations"] = {ANNOTATIONS[k]: v for k, v in m.tool_annotations}
    return out


def _rule_payload(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": rule.name,
        "Priority": rule.priority,
        "Effect": rule.effect,
        "Match": _match_payload(rule.match),
        "ReasonCodes": list(rule.reason_codes),
        "Violations": list(rule.violations),
    }
    if rule.min_approvals > 0:
        out["MinApprovals"] = rule.min_approvals
    if rule.require_distinct_approvers:
        out["RequireDistinctApprovers"] = True
    if rule.rate_limit is not None:
        out["RateLimit"] = rule.rate_limit.payload()
    if rule.destructive_budget is not None:
        out["DestructiveBudget"] = rule.destructive_budget.payload()
    if rule.endpoint is not None:
        e = rule.endpoint
        out["Endpoint"] = {
            "Enabled": True,
            "PathAllowlist": [p.text for p in e.path_allowlist],
            "PathDenylist": [p.text for p in e.path_denylist],
            "DomainAllowlist": [p.text for p in e.domain_allowlist],
            "DomainDenylist": [p.text for p in e.domain_denylist],
            "EgressClasses": sorted(e.egress_classes),
            "Action": e.action,
            "DestructiveAction": e.destructive_action,
            "ReasonCode": e.reason_code,
            "Violation": e.violation,
        }
    if rule.dataflow is not None:
        d = rule.dataflow
        flow: dict[str, Any] = {
            "Enabled": True,
            "TaintedSources": sorted(d.tainted_sources),
            "Action": d.action,
            "ReasonCode": d.reason_code,
            "Violation": d.violation,
        }
        if d.destination_kinds:
            flow["DestinationKinds"] = sorted(d.destination_kinds)
        if d.destination_values:
            flow["DestinationValues"] = sorted(d.destination_values)
        if d.destination_operations:
            flow["DestinationOperations"] = sorted(d.destination_operations)
        out["Dataflow"] = flow
    return out
