"""Policy YAML: strict loading, validation, compilation and ``policy_digest`` (gate.md §3).

Owns: the policy key tables (every in-scope key; unknown, legacy and
out-of-scope keys are invalid input with their location), normalisation
(defaults, aliases, list rules, rule order), compilation into the immutable
:class:`CompiledPolicy` the evaluator runs, the §3.10 digest payload, and the
``oss-prod`` profile checks (§9). File access only in :func:`load_policy`.

The module is long (about 950 lines) because the key tables, the located
validation errors and the §3.10 digest payload must agree key by key; splitting
them would spread one contract over several files.

Deliberate divergences from the Go implementation (documented in
``docs/policy.md``): duplicate rule names are rejected; malformed endpoint
patterns are rejected at load instead of never matching; non-string scalars
where a string is expected are rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..artifacts.jcs import digest
from ..errors import PolicyError
from ._glob import DomainPattern, GlobError, PathPattern
from ._limits import SCOPES, WINDOWS, RateLimit
from ._strings import sanitize_rule_name, trim, trim_lower, uniq_sorted, uniq_sorted_lower
from ._yaml import Marks, load_yaml
from .intent import DISCOVERY_METHODS, ENDPOINT_CLASSES, PROVENANCE_SOURCES, TARGET_KINDS

__all__ = [
    "POLICY_SCHEMA_ID",
    "POLICY_SCHEMA_VERSION",
    "VERDICTS",
    "CompiledPolicy",
    "Dataflow",
    "Endpoint",
    "FailClosed",
    "Match",
    "Rule",
    "check_oss_prod",
    "compile_policy",
    "load_policy",
]

POLICY_SCHEMA_ID: Final = "gait.gate.policy"
POLICY_SCHEMA_VERSION: Final = "1.0.0"
VERDICTS: Final = ("allow", "dry_run", "require_approval", "block")
"""All verdicts, least to most restrictive."""

_LEGACY: Final = (
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
_LEGACY_HINT: Final = (
    "use the repo-root `.gait.yaml` contract: `schema_id`, `schema_version`, "
    "`default_verdict`, optional `fail_closed`, optional `mcp_trust`, and `rules`"
)
_REQUIRED_FIELDS: Final = frozenset(
    {"targets", "arg_provenance", "endpoint_class", "delegation", "context_evidence"}
)
_HIGH_RISK_FIELDS: Final = frozenset(
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
_TOP: Final = {
    "schema_id": "str",
    "schema_version": "str",
    "default_verdict": "str",
    "default_action": "str",
    "fail_closed": "map",
    "rules": "rules",
}
_TOP_OOS: Final = frozenset({"scripts", "mcp_trust"})
_FAIL_CLOSED: Final = {
    "enabled": "bool",
    "risk_classes": "list",
    "required_fields": "list",
    "required_high_risk_fields": "list",
}
_RULE: Final = {
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
_RATE: Final = {"requests": "int", "window": "str", "scope": "str"}
_RULE_OOS: Final = frozenset(
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
_MATCH: Final = {
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
_MATCH_OOS: Final = frozenset(
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
_ANNOTATIONS: Final = {
    "readOnlyHint": "ReadOnlyHint",
    "destructiveHint": "DestructiveHint",
    "idempotentHint": "IdempotentHint",
    "openWorldHint": "OpenWorldHint",
}
_ENDPOINT: Final = {
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
_DATAFLOW: Final = {
    "enabled": "bool",
    "tainted_sources": "list",
    "destination_kinds": "list",
    "destination_values": "list",
    "destination_operations": "list",
    "action": "str",
    "reason_code": "str",
    "violation": "str",
}
_KIND_NAMES: Final = {
    "str": "string",
    "bool": "boolean",
    "int": "integer",
    "list": "list of strings",
    "map": "mapping",
    "rules": "list of rules",
    "ann": "mapping of booleans",
}


# --------------------------------------------------------------------------- compiled value types


@dataclass(frozen=True, slots=True)
class FailClosed:
    """Normalised ``fail_closed`` block."""

    enabled: bool = False
    risk_classes: tuple[str, ...] = ()
    required_fields: tuple[str, ...] = ()
    required_high_risk_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """Normalised ``match`` block; empty tuples mean "no constraint"."""

    tool_names: tuple[str, ...] = ()
    risk_classes: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    workspace_prefixes: tuple[str, ...] = ()
    target_kinds: tuple[str, ...] = ()
    target_values: tuple[str, ...] = ()
    endpoint_classes: tuple[str, ...] = ()
    discovery_methods: tuple[str, ...] = ()
    tool_annotations: tuple[tuple[str, bool], ...] = ()
    data_classes: tuple[str, ...] = ()
    destination_kinds: tuple[str, ...] = ()
    destination_values: tuple[str, ...] = ()
    destination_operations: tuple[str, ...] = ()
    provenance_sources: tuple[str, ...] = ()
    skill_publishers: tuple[str, ...] = ()
    skill_sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Normalised ``endpoint`` constraint (only kept when enabled)."""

    path_allowlist: tuple[PathPattern, ...] = ()
    path_denylist: tuple[PathPattern, ...] = ()
    domain_allowlist: tuple[DomainPattern, ...] = ()
    domain_denylist: tuple[DomainPattern, ...] = ()
    egress_classes: frozenset[str] = frozenset()
    action: str = "block"
    destructive_action: str = ""
    reason_code: str = "endpoint_constraint_violation"
    violation: str = "endpoint_constraint_violation"


@dataclass(frozen=True, slots=True)
class Dataflow:
    """Normalised ``dataflow`` constraint (only kept when enabled)."""

    tainted_sources: frozenset[str] = frozenset({"external", "tool_output"})
    destination_kinds: frozenset[str] = frozenset()
    destination_values: frozenset[str] = frozenset()
    destination_operations: frozenset[str] = frozenset()
    action: str = "require_approval"
    reason_code: str = "dataflow_tainted_destination"
    violation: str = "tainted_dataflow"


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule.

    Attributes:
        name: trimmed rule name.
        priority: lower is evaluated first.
        effect: ``allow``/``dry_run``/``require_approval``/``block``.
        match: the match constraints.
        reason_codes: normalised reason codes (may be empty).
        violations: normalised violations.
        min_approvals: declared minimum approvals.
        require_distinct_approvers: explicit or implied by ``min_approvals > 1``.
        endpoint: endpoint constraint, or None.
        dataflow: dataflow constraint, or None.
        rate_limit: active rate limit (``requests > 0``), or None.
        destructive_budget: destructive-target budget, or None.
        fallback_reason: ``matched_rule_<sanitized name>``.
        position: ``rules[i]`` index in the source document.
        predicates: compiled match checks (all must hold).
    """

    name: str
    priority: int
    effect: str
    match: Match
    reason_codes: tuple[str, ...]
    violations: tuple[str, ...]
    min_approvals: int
    require_distinct_approvers: bool
    endpoint: Endpoint | None
    dataflow: Dataflow | None
    rate_limit: RateLimit | None
    destructive_budget: RateLimit | None
    fallback_reason: str
    position: int
    predicates: tuple[Callable[[Any], bool], ...] = field(repr=False, compare=False, default=())


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """An immutable, validated policy ready for :func:`gait_runtime.gate.evaluate`.

    Attributes:
        schema_id: ``gait.gate.policy`` (also the trace ``policy_id``).
        schema_version: ``1.0.0`` (also the trace ``policy_version``).
        default_verdict: verdict when no rule matches.
        fail_closed: the fail-closed settings.
        rules: rules sorted by (priority, name).
        digest: ``policy_digest`` (gate.md §3.10).
        source: where the policy came from (file path or ``<policy>``).
        payload: the normalised digest payload (Go key names).
    """

    schema_id: str
    schema_version: str
    default_verdict: str
    fail_closed: FailClosed
    rules: tuple[Rule, ...]
    digest: str
    source: str
    payload: dict[str, Any] = field(repr=False, compare=False)

    @property
    def policy_id(self) -> str:
        """The trace ``policy_id`` (the policy ``schema_id``)."""
        return self.schema_id

    @property
    def policy_version(self) -> str:
        """The trace ``policy_version`` (the policy ``schema_version``)."""
        return self.schema_version


# --------------------------------------------------------------------------- validation helpers


class _Ctx:
    """Carries the source name and key marks while validating."""

    def __init__(self, source: str, marks: Marks) -> None:
        self.source = source
        self.marks = marks

    def where(self, path: tuple[str | int, ...]) -> tuple[str, int, int]:
        """Dotted path and the mark of the nearest enclosing node that has one."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return _dotted(path), mark[0], mark[1]
        return _dotted(path), 0, 0

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


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "<root>"


def _check_keys(
    ctx: _Ctx,
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
        if not _kind_ok(kind, value):
            raise ctx.error(kp, f'field "{key}" must be a {_KIND_NAMES[kind]}', "policy_type")
        if kind == "list":
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise ctx.error((*kp, i), f'items of "{key}" must be strings', "policy_type")
        if kind == "ann":
            for ann_key, ann_value in value.items():
                if ann_key not in _ANNOTATIONS:
                    raise ctx.error(
                        (*kp, ann_key), f'unknown field "{ann_key}"', "policy_unknown_field"
                    )
                if ann_value is not None and type(ann_value) is not bool:
                    raise ctx.error(
                        (*kp, ann_key), f'field "{ann_key}" must be a boolean', "policy_type"
                    )


def _kind_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return type(value) is bool
    if kind == "int":
        return type(value) is int
    if kind in ("list", "rules"):
        return isinstance(value, list)
    return isinstance(value, dict)


def _s(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _l(obj: Mapping[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    return list(value) if isinstance(value, list) else []


def _m(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _legacy_error(keys: list[str]) -> PolicyError:
    present = [entry for entry in _LEGACY if entry[0] in keys]
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
        hint=_LEGACY_HINT,
        details={
            "migration": {
                "kind": "policy_fields",
                "deprecated_fields": [p[0] for p in present],
                "field_replacements": replacements,
            }
        },
    )


def _verdict(ctx: _Ctx, value: str, path: tuple[str | int, ...], message: str) -> str:
    text = trim_lower(value)
    if text not in VERDICTS:
        raise ctx.semantic(path, message)
    return text


def _valid_list(
    ctx: _Ctx, items: list[str], allowed: frozenset[str], path: tuple[str | int, ...], what: str
) -> None:
    for item in items:
        if item not in allowed:
            raise ctx.semantic(path, f"invalid {what} {item!r} at {_dotted(path)} ({ctx.source})")


# --------------------------------------------------------------------------- compile


def compile_policy(text: str, *, source: str = "<policy>") -> CompiledPolicy:
    """Parse, validate, normalise and compile a policy document.

    Args:
        text: the YAML text.
        source: a name for messages (usually the file path).

    Raises:
        PolicyError: the policy is invalid; it is never partially applied.
    """
    doc, marks = load_yaml(text, source)
    ctx = _Ctx(source, marks)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PolicyError(
            f"parse policy yaml: policy must be a mapping ({source})", code="policy_yaml"
        )
    legacy = [k for k in doc if k in {entry[0] for entry in _LEGACY}]
    if legacy:
        raise _legacy_error(legacy)
    _check_keys(ctx, doc, (), _TOP, _TOP_OOS)
    schema_id = trim(_s(doc, "schema_id")) or POLICY_SCHEMA_ID
    if schema_id != POLICY_SCHEMA_ID:
        raise ctx.semantic(("schema_id",), f"unsupported policy schema_id {schema_id!r} ({source})")
    schema_version = trim(_s(doc, "schema_version")) or POLICY_SCHEMA_VERSION
    if schema_version != POLICY_SCHEMA_VERSION:
        raise ctx.semantic(
            ("schema_version",), f"unsupported policy schema_version {schema_version!r} ({source})"
        )
    default_verdict = _default_verdict(ctx, doc)
    fail_closed = _fail_closed(ctx, doc)
    rules_raw = doc.get("rules") or []
    rules = [_rule(ctx, raw, i) for i, raw in enumerate(rules_raw)]
    _reject_duplicate_names(ctx, rules)
    rules.sort(key=lambda r: (r.priority, r.name))
    payload = _payload(schema_id, schema_version, default_verdict, fail_closed, rules)
    return CompiledPolicy(
        schema_id=schema_id,
        schema_version=schema_version,
        default_verdict=default_verdict,
        fail_closed=fail_closed,
        rules=tuple(rules),
        digest=digest(payload),
        source=source,
        payload=payload,
    )


def load_policy(path: str | Path) -> CompiledPolicy:
    """Read and compile a policy file.

    Raises:
        PolicyError: unreadable or invalid policy.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise PolicyError(
            f"read policy {p}: {exc.strerror or exc}", code="policy_unreadable"
        ) from exc
    return compile_policy(text, source=str(p))


def _default_verdict(ctx: _Ctx, doc: Mapping[str, Any]) -> str:
    verdict = trim_lower(_s(doc, "default_verdict"))
    action = trim_lower(_s(doc, "default_action"))
    if verdict and action and verdict != action:
        raise ctx.semantic(
            ("default_action",),
            f"default_verdict {verdict!r} and default_action {action!r} must match ({ctx.source})",
        )
    chosen = verdict or action or "require_approval"
    key = "default_verdict" if verdict else "default_action"
    return _verdict(ctx, chosen, (key,), f"invalid default_verdict {chosen!r} ({ctx.source})")


def _fail_closed(ctx: _Ctx, doc: Mapping[str, Any]) -> FailClosed:
    raw = doc.get("fail_closed")
    if raw is None:
        return FailClosed()
    _check_keys(ctx, raw, ("fail_closed",), _FAIL_CLOSED)
    enabled = bool(raw.get("enabled"))
    risk = uniq_sorted_lower(_l(raw, "risk_classes"))
    if enabled and not risk:
        risk = ["critical", "high"]
    required = uniq_sorted_lower(_l(raw, "required_fields"))
    _valid_list(
        ctx, required, _REQUIRED_FIELDS, ("fail_closed", "required_fields"), "required field"
    )
    high = uniq_sorted_lower(_l(raw, "required_high_risk_fields"))
    _valid_list(
        ctx,
        high,
        _HIGH_RISK_FIELDS,
        ("fail_closed", "required_high_risk_fields"),
        "high-risk field",
    )
    return FailClosed(enabled, tuple(risk), tuple(required), tuple(high))


def _rule(ctx: _Ctx, raw: Any, index: int) -> Rule:
    path: tuple[str | int, ...] = ("rules", index)
    if not isinstance(raw, dict):
        raise ctx.error(path, "rule must be a mapping", "policy_type")
    _check_keys(ctx, raw, path, _RULE, _RULE_OOS)
    name = trim(_s(raw, "name"))
    if not name:
        raise ctx.semantic((*path, "name"), f"rules[{index}].name is required ({ctx.source})")
    effect = trim_lower(_s(raw, "effect"))
    action = trim_lower(_s(raw, "action"))
    if effect and action and effect != action:
        raise ctx.semantic(
            (*path, "action"), f"rule {name} effect {effect!r} and action {action!r} must match"
        )
    chosen = effect or action
    if not chosen:
        raise ctx.semantic((*path, "effect"), f"rule {name} effect is required ({ctx.source})")
    key = "effect" if effect else "action"
    _verdict(ctx, chosen, (*path, key), f'invalid rule effect "{chosen}" for {name}')
    min_approvals = raw.get("min_approvals") or 0
    if min_approvals < 0:
        raise ctx.semantic(
            (*path, "min_approvals"), f"rule {name} min_approvals must be >= 0 ({ctx.source})"
        )
    match = _match(ctx, _m(raw, "match"), (*path, "match"), raw.get("match"))
    rule = Rule(
        name=name,
        priority=raw.get("priority") or 0,
        effect=chosen,
        match=match,
        reason_codes=tuple(uniq_sorted(_l(raw, "reason_codes"))),
        violations=tuple(uniq_sorted(_l(raw, "violations"))),
        min_approvals=min_approvals,
        require_distinct_approvers=bool(raw.get("require_distinct_approvers")) or min_approvals > 1,
        endpoint=_endpoint(ctx, raw.get("endpoint"), (*path, "endpoint"), name),
        dataflow=_dataflow(ctx, raw.get("dataflow"), (*path, "dataflow")),
        rate_limit=_rate(ctx, raw.get("rate_limit"), (*path, "rate_limit"), budget=False),
        destructive_budget=_rate(
            ctx, raw.get("destructive_budget"), (*path, "destructive_budget"), budget=True
        ),
        fallback_reason="matched_rule_" + sanitize_rule_name(name),
        position=index,
    )
    from .evaluate import compile_predicates

    object.__setattr__(rule, "predicates", compile_predicates(rule.match))
    return rule


def _reject_duplicate_names(ctx: _Ctx, rules: list[Rule]) -> None:
    seen: dict[str, Rule] = {}
    for rule in rules:
        first = seen.get(rule.name)
        if first is not None:
            _, l1, c1 = ctx.where(("rules", first.position))
            _, l2, c2 = ctx.where(("rules", rule.position))
            raise PolicyError(
                f"duplicate rule name {rule.name!r} at rules[{first.position}] ({l1}:{c1}) and "
                f"rules[{rule.position}] ({l2}:{c2}) ({ctx.source})",
                code="policy_duplicate_rule",
                details={"field": f"rules[{rule.position}].name", "line": l2, "column": c2},
            )
        seen[rule.name] = rule


def _match(ctx: _Ctx, raw: dict[str, Any], path: tuple[str | int, ...], given: Any) -> Match:
    if given is not None and not isinstance(given, dict):
        raise ctx.error(path, 'field "match" must be a mapping', "policy_type")
    _check_keys(ctx, raw, path, _MATCH, _MATCH_OOS)
    tool_names = _l(raw, "tool_names")
    if _s(raw, "tool_name"):
        tool_names.append(_s(raw, "tool_name"))
    single = trim_lower(_s(raw, "endpoint_class"))
    if single:
        _valid_list(ctx, [single], ENDPOINT_CLASSES, (*path, "endpoint_class"), "endpoint class")
    classes = uniq_sorted_lower(
        _l(raw, "endpoint_classes")
        + ([_s(raw, "endpoint_class")] if _s(raw, "endpoint_class") else [])
    )
    _valid_list(ctx, classes, ENDPOINT_CLASSES, (*path, "endpoint_classes"), "endpoint class")
    methods = uniq_sorted_lower(_l(raw, "discovery_method"))
    _valid_list(ctx, methods, DISCOVERY_METHODS, (*path, "discovery_method"), "discovery method")
    annotations = tuple(
        (k, v) for k, v in sorted(_m(raw, "tool_annotations").items()) if v is not None
    )
    return Match(
        tool_names=tuple(uniq_sorted_lower(tool_names)),
        risk_classes=tuple(uniq_sorted_lower(_l(raw, "risk_classes"))),
        identities=tuple(uniq_sorted(_l(raw, "identities"))),
        workspace_prefixes=tuple(uniq_sorted(_l(raw, "workspace_prefixes"))),
        target_kinds=tuple(uniq_sorted_lower(_l(raw, "target_kinds"))),
        target_values=tuple(uniq_sorted(_l(raw, "target_values"))),
        endpoint_classes=tuple(classes),
        discovery_methods=tuple(methods),
        tool_annotations=annotations,
        data_classes=tuple(uniq_sorted_lower(_l(raw, "data_classes"))),
        destination_kinds=tuple(uniq_sorted_lower(_l(raw, "destination_kinds"))),
        destination_values=tuple(uniq_sorted(_l(raw, "destination_values"))),
        destination_operations=tuple(uniq_sorted_lower(_l(raw, "destination_operations"))),
        provenance_sources=tuple(uniq_sorted_lower(_l(raw, "provenance_sources"))),
        skill_publishers=tuple(uniq_sorted_lower(_l(raw, "skill_publishers"))),
        skill_sources=tuple(uniq_sorted_lower(_l(raw, "skill_sources"))),
    )


def _constraint_action(
    ctx: _Ctx, raw: Mapping[str, Any], key: str, path: tuple[str | int, ...], default: str
) -> str:
    text = trim_lower(_s(raw, key))
    if not text:
        return default
    if text not in ("block", "require_approval"):
        raise ctx.semantic(
            (*path, key),
            f"invalid {_dotted((*path, key))} {text!r}: expected block or require_approval "
            f"({ctx.source})",
        )
    return text


def _patterns(
    ctx: _Ctx, items: list[str], path: tuple[str | int, ...], rule: str, domain: bool
) -> tuple[Any, ...]:
    out = []
    for text in items:
        try:
            out.append(DomainPattern.compile(text) if domain else PathPattern.compile(text))
        except GlobError as exc:
            raise ctx.semantic(
                path,
                f"rule {rule}: invalid endpoint pattern {text!r} at {_dotted(path)} "
                f"({exc}) ({ctx.source})",
            ) from exc
    return tuple(out)


def _endpoint(ctx: _Ctx, raw: Any, path: tuple[str | int, ...], rule: str) -> Endpoint | None:
    if raw is None:
        return None
    _check_keys(ctx, raw, path, _ENDPOINT)
    path_allow = uniq_sorted(_l(raw, "path_allowlist"))
    path_deny = uniq_sorted(_l(raw, "path_denylist"))
    dom_allow = uniq_sorted_lower(_l(raw, "domain_allowlist"))
    dom_deny = uniq_sorted_lower(_l(raw, "domain_denylist"))
    egress = uniq_sorted_lower(_l(raw, "egress_classes"))
    for item in egress:
        if item not in ENDPOINT_CLASSES or not item.startswith("net."):
            raise ctx.semantic(
                (*path, "egress_classes"),
                f"invalid egress class {item!r} at {_dotted((*path, 'egress_classes'))} "
                f"({ctx.source})",
            )
    destructive_action = ""
    if _s(raw, "destructive_action").strip():
        destructive_action = _constraint_action(ctx, raw, "destructive_action", path, "")
    enabled = bool(raw.get("enabled")) or bool(
        path_allow or path_deny or dom_allow or dom_deny or egress or destructive_action
    )
    action = _constraint_action(ctx, raw, "action", path, "block")
    if not enabled:
        return None
    return Endpoint(
        path_allowlist=_patterns(ctx, path_allow, (*path, "path_allowlist"), rule, False),
        path_denylist=_patterns(ctx, path_deny, (*path, "path_denylist"), rule, False),
        domain_allowlist=_patterns(ctx, dom_allow, (*path, "domain_allowlist"), rule, True),
        domain_denylist=_patterns(ctx, dom_deny, (*path, "domain_denylist"), rule, True),
        egress_classes=frozenset(egress),
        action=action,
        destructive_action=destructive_action,
        reason_code=trim(_s(raw, "reason_code")) or "endpoint_constraint_violation",
        violation=trim(_s(raw, "violation")) or "endpoint_constraint_violation",
    )


def _dataflow(ctx: _Ctx, raw: Any, path: tuple[str | int, ...]) -> Dataflow | None:
    if raw is None:
        return None
    _check_keys(ctx, raw, path, _DATAFLOW)
    tainted = uniq_sorted_lower(_l(raw, "tainted_sources"))
    _valid_list(ctx, tainted, PROVENANCE_SOURCES, (*path, "tainted_sources"), "tainted source")
    kinds = uniq_sorted_lower(_l(raw, "destination_kinds"))
    _valid_list(ctx, kinds, TARGET_KINDS, (*path, "destination_kinds"), "destination kind")
    values = uniq_sorted(_l(raw, "destination_values"))
    ops = uniq_sorted_lower(_l(raw, "destination_operations"))
    enabled = bool(raw.get("enabled")) or bool(tainted or kinds or values or ops)
    action = _constraint_action(ctx, raw, "action", path, "require_approval")
    if not enabled:
        return None
    return Dataflow(
        tainted_sources=frozenset(tainted or ("external", "tool_output")),
        destination_kinds=frozenset(kinds),
        destination_values=frozenset(values),
        destination_operations=frozenset(ops),
        action=action,
        reason_code=trim(_s(raw, "reason_code")) or "dataflow_tainted_destination",
        violation=trim(_s(raw, "violation")) or "tainted_dataflow",
    )


def _rate(ctx: _Ctx, raw: Any, path: tuple[str | int, ...], *, budget: bool) -> RateLimit | None:
    if raw is None:
        return None
    _check_keys(ctx, raw, path, _RATE)
    requests = raw.get("requests") or 0
    if requests < 0:
        raise ctx.semantic(
            (*path, "requests"), f"{_dotted((*path, 'requests'))} must be >= 0 ({ctx.source})"
        )
    window = trim_lower(_s(raw, "window")) or "minute"
    if window not in WINDOWS:
        raise ctx.semantic(
            (*path, "window"),
            f"invalid {_dotted((*path, 'window'))} {window!r}: expected minute or hour "
            f"({ctx.source})",
        )
    scope = trim_lower(_s(raw, "scope")) or "tool_identity"
    if scope not in SCOPES:
        raise ctx.semantic(
            (*path, "scope"),
            f"invalid {_dotted((*path, 'scope'))} {scope!r}: expected tool, identity or "
            f"tool_identity ({ctx.source})",
        )
    if budget and raw and requests < 1:
        raise ctx.semantic(
            (*path, "requests"),
            f"{_dotted((*path, 'requests'))} must be >= 1 when destructive_budget is set "
            f"({ctx.source})",
        )
    return RateLimit(requests, window, scope) if requests > 0 else None


# --------------------------------------------------------------------------- digest payload


def _payload(
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
        out["ToolAnnotations"] = {_ANNOTATIONS[k]: v for k, v in m.tool_annotations}
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


# --------------------------------------------------------------------------- profiles


def check_oss_prod(policy: CompiledPolicy) -> None:
    """Apply the policy rules of the ``oss-prod`` profile (gate.md §9).

    Credential brokers are out of scope, so a non-block rule whose
    ``risk_classes`` include ``high`` or ``critical`` can never satisfy the Go
    profile's broker requirement: such policies are rejected (fail closed).

    Raises:
        PolicyError: the policy is not acceptable under ``oss-prod``.
    """
    if policy.default_verdict == "allow":
        raise PolicyError(
            "oss-prod profile rejects policies whose default_verdict is allow",
            code="policy_profile",
        )
    for rule in policy.rules:
        if rule.effect != "block" and {"high", "critical"} & set(rule.match.risk_classes):
            raise PolicyError(
                f"oss-prod profile: rule {rule.name} (rules[{rule.position}]) allows high/critical "
                "risk without a credential broker, which this implementation does not support",
                code="policy_profile",
            )
