"""Canonical policy formatting (the body of ``gait policy fmt``).

Owns: rendering a compiled policy back to YAML in one canonical layout: fixed
key order, aliases folded (``default_action``/``action``/``tool_name``/
``endpoint_class``), lists normalised and sorted, rules sorted by (priority,
name), defaults that change nothing omitted, and flow-style string lists.
Formatting is idempotent and never changes ``policy_digest`` (both are
property-tested). Comments are not preserved (the YAML parser drops them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidInputError
from ..gate.model import CompiledPolicy, Dataflow, Endpoint, Match, Rule
from ..gate.policy import compile_policy, load_policy

__all__ = ["FormatOutcome", "format_file", "format_policy", "format_policy_text"]


class _Dumper(yaml.SafeDumper):
    """Block mappings; string lists in flow style."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(item, (str, bool, int)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _match(m: Match) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("tool_names", m.tool_names),
        ("risk_classes", m.risk_classes),
        ("identities", m.identities),
        ("workspace_prefixes", m.workspace_prefixes),
        ("target_kinds", m.target_kinds),
        ("target_values", m.target_values),
        ("endpoint_classes", m.endpoint_classes),
        ("discovery_method", m.discovery_methods),
        ("data_classes", m.data_classes),
        ("destination_kinds", m.destination_kinds),
        ("destination_values", m.destination_values),
        ("destination_operations", m.destination_operations),
        ("provenance_sources", m.provenance_sources),
        ("skill_publishers", m.skill_publishers),
        ("skill_sources", m.skill_sources),
    )
    for key, items in pairs:
        if items:
            out[key] = list(items)
    if m.tool_annotations:
        out["tool_annotations"] = dict(m.tool_annotations)
    return out


def _endpoint(e: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": True}
    for key, patterns in (
        ("path_allowlist", e.path_allowlist),
        ("path_denylist", e.path_denylist),
        ("domain_allowlist", e.domain_allowlist),
        ("domain_denylist", e.domain_denylist),
    ):
        if patterns:
            out[key] = [p.text for p in patterns]
    if e.egress_classes:
        out["egress_classes"] = sorted(e.egress_classes)
    out["action"] = e.action
    if e.destructive_action:
        out["destructive_action"] = e.destructive_action
    out["reason_code"] = e.reason_code
    out["violation"] = e.violation
    return out


def _dataflow(d: Dataflow) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": True, "tainted_sources": sorted(d.tainted_sources)}
    for key, items in (
        ("destination_kinds", d.destination_kinds),
        ("destination_values", d.destination_values),
        ("destination_operations", d.destination_operations),
    ):
        if items:
            out[key] = sorted(items)
    out["action"] = d.action
    out["reason_code"] = d.reason_code
    out["violation"] = d.violation
    return out


def _rule(r: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.name, "priority": r.priority, "effect": r.effect}
    out["match"] = _match(r.match)
    if r.reason_codes:
        out["reason_codes"] = list(r.reason_codes)
    if r.violations:
        out["violations"] = list(r.violations)
    if r.min_approvals:
        out["min_approvals"] = r.min_approvals
    if r.require_distinct_approvers and r.min_approvals <= 1:
        out["require_distinct_approvers"] = True
    for key, limit in (("rate_limit", r.rate_limit), ("destructive_budget", r.destructive_budget)):
        if limit is not None:
            out[key] = {"requests": limit.requests, "window": limit.window, "scope": limit.scope}
    if r.endpoint is not None:
        out["endpoint"] = _endpoint(r.endpoint)
    if r.dataflow is not None:
        out["dataflow"] = _dataflow(r.dataflow)
    return out


def format_policy(policy: CompiledPolicy) -> str:
    """Render a compiled policy as canonical YAML text."""
    doc: dict[str, Any] = {
        "schema_id": policy.schema_id,
        "schema_version": policy.schema_version,
        "default_verdict": policy.default_verdict,
    }
    fc = policy.fail_closed
    if fc.enabled or fc.risk_classes or fc.required_fields or fc.required_high_risk_fields:
        block: dict[str, Any] = {"enabled": fc.enabled}
        if fc.risk_classes:
            block["risk_classes"] = list(fc.risk_classes)
        if fc.required_fields:
            block["required_fields"] = list(fc.required_fields)
        if fc.required_high_risk_fields:
            block["required_high_risk_fields"] = list(fc.required_high_risk_fields)
        doc["fail_closed"] = block
    doc["rules"] = [_rule(r) for r in policy.rules]
    text: str = yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return text


def format_policy_text(text: str, *, source: str = "<policy>") -> str:
    """Validate ``text`` and return its canonical formatting.

    Raises:
        PolicyError: the policy is invalid.
    """
    return format_policy(compile_policy(text, source=source))


@dataclass(frozen=True, slots=True)
class FormatOutcome:
    """Result of :func:`format_file`.

    Attributes:
        payload: the ``--json`` object (``changed`` says whether the file was canonical).
        formatted: the canonical text.
        wrote: the file was rewritten (``--write`` and not canonical).
    """

    payload: dict[str, Any]
    formatted: str
    wrote: bool = False


def format_file(path: Path, *, write: bool, check: bool) -> FormatOutcome:
    """Format a policy file: print it, rewrite it (``write``) or test it (``check``).

    Raises:
        PolicyError: unreadable or invalid policy.
        InvalidInputError: ``check`` and the file is not canonical.
    """
    from ..artifacts.fsutil import write_atomic

    policy = load_policy(path)
    original = path.read_text(encoding="utf-8")
    formatted = format_policy(policy)
    changed = formatted != original
    payload: dict[str, Any] = {
        "ok": True,
        "path": str(path),
        "policy_digest": policy.digest,
        "changed": changed,
    }
    if check and changed:
        raise InvalidInputError(
            f"policy {path} is not canonically formatted (run gait policy fmt --write)",
            code="policy_not_formatted",
            details={"path": str(path), "policy_digest": policy.digest},
        )
    if write and changed:
        write_atomic(path, formatted.encode("utf-8"), mode=path.stat().st_mode & 0o777)
    return FormatOutcome(payload, formatted, wrote=write and changed)
