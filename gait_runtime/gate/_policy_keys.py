"""Policy key tables and located validation errors (gate.md §3).

Owns: every in-scope policy key with its kind, the out-of-scope and legacy
keys, the fail-closed field names, the :class:`Ctx` that turns a key path into
a located :class:`~gait_runtime.errors.PolicyError`, and the key checker.
:mod:`.policy` validates with these; :mod:`._policy_digest` names the
annotations Go's way with :data:`ANNOTATIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ..errors import PolicyError

if TYPE_CHECKING:
    from ._yaml import Marks

LEGACY: Final = (
    (
        "version",
        ("schema_id", "schema_version"),
        "set schema_id=gait.gate.policy and schema_version=1.0.0",
    ),
    (
        "name",
        (),
        "remove the top-level policy name; rule names remain under rules[].name when needed",
    ),
    ("boundaries", ("rules", "mcp_trust"), ""),
    ("defaults", ("default_verdict", "fail_closed"), ""),
    ("trust_sources", ("mcp_trust.snapshot",), ""),
    ("unknown_server", ("mcp_trust.action",), ""),
)
LEGACY_HINT: Final = (
    "use the repo-root `.gait.yaml` contract: `schema_id`, `schema_version`, "
    "`default_verdict`, optional `fail_closed`, optional `mcp_trust`, and `rules`"
)
REQUIRED_FIELDS: Final = frozenset(
    {"targets", "arg_provenance", "endpoint_class", "delegation", "context_evidence"}
)
HIGH_RISK_FIELDS: Final = frozenset(
    {
        "agent_id",
        "agent_identity",
        "run_id",
        "workflow_id",
        "repo",
        "environment",
        "credential_ref",
        "credential_source",
        "credential_access_type",
        "credential_issuer",
        "credential_ttl_seconds",
        "approval_ref",
        "wrkr_inventory_ref",
        "agent_action_bom_ref",
    }
)

# Key tables: key -> kind. Kinds: str, bool, int, list (of str), map, ann (tool annotations).
TOP_KEYS: Final = {
    "schema_id": "str",
    "schema_version": "str",
    "default_verdict": "str",
    "default_action": "str",
    "fail_closed": "map",
    "rules": "rules",
}
TOP_OOS: Final = frozenset({"scripts", "mcp_trust"})
FAIL_CLOSED_KEYS: Final = {
    "enabled": "bool",
    "risk_classes": "list",
    "required_fields": "list",
    "required_high_risk_fields": "list",
}
RULE_KEYS: Final = {
    "name": "str",
    "priority": "int",
    "effect": "str",
    "action": "str",
    "match": "map",
    "reason_codes": "list",
    "violations": "list",
    "min_approvals": "int",
    "require_distinct_approvers": "bool",
    "endpoint": "map",
    "dataflow": "map",
    "rate_limit": "map",
    "destructive_budget": "map",
}
RATE_KEYS: Final = {"requests": "int", "window": "str", "scope": "str"}
RULE_OOS: Final = frozenset(
    {
        "require_declared_agent",
        "allowed_agent_ids",
        "denied_agent_ids",
        "required_agent_manifest_digest",
        "allowed_agent_manifest_publishers",
        "allowed_agent_manifest_sources",
        "required_agent_lifecycle_states",
        "require_agent_owner",
        "require_unexpired_agent",
        "block_standing_credentials",
        "allowed_credential_sources",
        "allowed_credential_issuers",
        "allowed_credential_access_types",
        "max_credential_ttl_seconds",
        "require_jit_credential",
        "require_broker_credential",
        "broker_reference",
        "broker_scopes",
        "require_context_evidence",
        "required_context_evidence_mode",
        "max_context_age_seconds",
        "freeze_window",
        "sandbox",
    }
)
MATCH_KEYS: Final = {
    "tool_name": "str",
    "tool_names": "list",
    "risk_classes": "list",
    "identities": "list",
    "workspace_prefixes": "list",
    "target_kinds": "list",
    "target_values": "list",
    "endpoint_class": "str",
    "endpoint_classes": "list",
    "discovery_method": "list",
    "tool_annotations": "ann",
    "data_classes": "list",
    "destination_kinds": "list",
    "destination_values": "list",
    "destination_operations": "list",
    "provenance_sources": "list",
    "skill_publishers": "list",
    "skill_sources": "list",
}
MATCH_OOS: Final = frozenset(
    {
        "context_tool_names",
        "context_data_classes",
        "context_endpoint_classes",
        "context_autonomy_levels",
        "require_delegation",
        "allowed_delegator_identities",
        "allowed_delegate_identities",
        "delegation_scopes",
        "max_delegation_depth",
    }
)
ANNOTATIONS: Final = {
    "readOnlyHint": "ReadOnlyHint",
    "destructiveHint": "DestructiveHint",
    "idempotentHint": "IdempotentHint",
    "openWorldHint": "OpenWorldHint",
}
ENDPOINT_KEYS: Final = {
    "enabled": "bool",
    "path_allowlist": "list",
    "path_denylist": "list",
    "domain_allowlist": "list",
    "domain_denylist": "list",
    "egress_classes": "list",
    "action": "str",
    "destructive_action": "str",
    "reason_code": "str",
    "violation": "str",
}
DATAFLOW_KEYS: Final = {
    "enabled": "bool",
    "tainted_sources": "list",
    "destination_kinds": "list",
    "destination_values": "list",
    "destination_operations": "list",
    "action": "str",
    "reason_code": "str",
    "violation": "str",
}
KIND_NAMES: Final = {
    "str": "string",
    "bool": "boolean",
    "int": "integer",
    "list": "list of strings",
    "map": "mapping",
    "rules": "list of rules",
    "ann": "mapping of booleans",
}


class Ctx:
    """Carries the source name and key marks while validating."""

    def __init__(self, source: str, marks: Marks) -> None:
        self.source = source
        self.marks = marks

    def where(self, path: tuple[str | int, ...]) -> tuple[str, int, int]:
        """Dotted path and the mark of the nearest enclosing node that has one."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return dotted(path), mark[0], mark[1]
        return dotted(path), 0, 0

    def error(
        self, path: tuple[str | int, ...], problem: str, code: str = "policy_invalid"
    ) -> PolicyError:
        dotted, line, col = self.where(path)
        return PolicyError(
            f"parse policy yaml: [{line}:{col}] {problem} at {dotted} ({self.source})",
            code=code,
            details={"field": dotted, "line": line, "column": col},
        )

    def semantic(self, path: tuple[str | int, ...], message: str) -> PolicyError:
        dotted, line, col = self.where(path)
        return PolicyError(
            message, code="policy_invalid", details={"field": dotted, "line": line, "column": col}
        )


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"


def check_keys(
    ctx: Ctx,
    obj: Mapping[str, Any],
    path: tuple[str | int, ...],
    table: Mapping[str, str],
    oos: frozenset[str] = frozenset(),
) -> None:
    for key, value in obj.items():
        kp = (*path, key)
        if key in oos:
            raise ctx.error(
                kp,
                f'field "{key}" is out of scope for this implementation and would not be '
                "enforced; remove it",
                "policy_out_of_scope",
            )
        kind = table.get(key)
        if kind is None:
            raise ctx.error(kp, f'unknown field "{key}"', "policy_unknown_field")
        if value is None:
            continue
        if not kind_ok(kind, value):
            raise ctx.error(kp, f'field "{key}" must be a {KIND_NAMES[kind]}', "policy_type")
        if kind == "list":
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise ctx.error((*kp, i), f'items of "{key}" must be strings', "policy_type")
        if kind == "ann":
            for ann_key, ann_value in value.items():
                if ann_key not in ANNOTATIONS:
                    raise ctx.error(
                        (*kp, ann_key), f'unknown field "{ann_key}"', "policy_unknown_field"
                    )
                if ann_value is not None and type(ann_value) is not bool:
                    raise ctx.error(
                        (*kp, ann_key), f'field "{ann_key}" must be a boolean', "policy_type"
                    )


def kind_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return type(value) is bool
    if kind == "int":
        return type(value) is int
    if kind in ("list", "rules"):
        return isinstance(value, list)
    return isinstance(value, dict)


def get_str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def get_list(obj: Mapping[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    return list(value) if isinstance(value, list) else []


def get_map(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def legacy_error(keys: list[str]) -> PolicyError:
    present = [entry for entry in LEGACY if entry[0] in keys]
    parts = []
    replacements = []
    for name, fields, note in present:
        if fields:
            text = f"{name}->{'|'.join(fields)}" + (f" ({note})" if note else "")
        else:
            text = f"{name}->{note}"
        parts.append(text)
        entry: dict[str, Any] = {"field": name}
        if fields:
            entry["replacement_fields"] = list(fields)
        if note:
            entry["note"] = note
        replacements.append(entry)
    names = ", ".join(p[0] for p in present)
    return PolicyError(
        f"parse policy yaml: legacy policy proposal fields are not supported [{names}]: "
        + "; ".join(parts),
        code="policy_legacy_fields",
        hint=LEGACY_HINT,
        details={
            "migration": {
                "kind": "policy_fields",
                "deprecated_fields": [p[0] for p in present],
                "field_replacements": replacements,
            }
        },
    )
