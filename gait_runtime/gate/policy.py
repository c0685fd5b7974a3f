"""Policy YAML: strict loading, validation, compilation and ``policy_digest`` (gate.md §3).

Owns: the policy key tables (every in-scope key; unknown, legacy and
out-of-scope keys are invalid input with their location), normalisation
(defaults, aliases, list rules, rule order), compilation into the immutable
:class:`CompiledPolicy` the evaluator runs, the §3.10 digest payload, and the
``oss-prod`` profile checks (§9). File access only in :func:`load_policy`.

The value types live in :mod:`.model`, the key tables and located errors in
:mod:`._policy_keys`, the §3.10 digest payload in :mod:`._policy_digest` and
the compiled match checks in :mod:`.predicates`; this module is the loader
that ties them together.

Deliberate divergences from the Go implementation (documented in
``docs/policy.md``): duplicate rule names are rejected; malformed endpoint
patterns are rejected at load instead of never matching; non-string scalars
where a string is expected are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..artifacts.jcs import digest
from ..errors import PolicyError
from ._glob import DomainPattern, GlobError, PathPattern
from ._limits import SCOPES, WINDOWS, RateLimit
from ._policy_digest import policy_payload
from ._policy_file import read_policy as read_policy
from ._policy_keys import (
    DATAFLOW_KEYS,
    ENDPOINT_KEYS,
    FAIL_CLOSED_KEYS,
    HIGH_RISK_FIELDS,
    LEGACY,
    MATCH_KEYS,
    MATCH_OOS,
    RATE_KEYS,
    REQUIRED_FIELDS,
    RULE_KEYS,
    RULE_OOS,
    TOP_KEYS,
    TOP_OOS,
    Ctx,
    check_keys,
    dotted,
    get_list,
    get_map,
    get_str,
    legacy_error,
)
from ._strings import sanitize_rule_name, trim, trim_lower, uniq_sorted, uniq_sorted_lower
from .intent import DISCOVERY_METHODS, ENDPOINT_CLASSES, PROVENANCE_SOURCES, TARGET_KINDS
from .model import POLICY_SCHEMA_ID as POLICY_SCHEMA_ID
from .model import POLICY_SCHEMA_VERSION as POLICY_SCHEMA_VERSION
from .model import VERDICTS as VERDICTS
from .model import CompiledPolicy as CompiledPolicy
from .model import Dataflow as Dataflow
from .model import Endpoint as Endpoint
from .model import FailClosed as FailClosed
from .model import Match as Match
from .model import Rule as Rule
from .predicates import compile_predicates

if TYPE_CHECKING:
    from pathlib import Path

    from ._yaml import Marks

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
    "compile_document",
    "compile_policy",
    "load_policy",
    "parse_policy",
    "read_policy",
]


def _verdict(ctx: Ctx, value: str, path: tuple[str | int, ...], message: str) -> str:
    text = trim_lower(value)
    if text not in VERDICTS:
        raise ctx.semantic(path, message)
    return text


def _valid_list(
    ctx: Ctx, items: list[str], allowed: frozenset[str], path: tuple[str | int, ...], what: str
) -> None:
    for item in items:
        if item not in allowed:
            raise ctx.semantic(path, f"invalid {what} {item!r} at {dotted(path)} ({ctx.source})")


# --------------------------------------------------------------------------- compile


def compile_policy(text: str, *, source: str = "<policy>") -> CompiledPolicy:
    """Parse, validate, normalise and compile a policy document.

    Args:
        text: the YAML text.
        source: a name for messages (usually the file path).

    Raises:
        PolicyError: the policy is invalid; it is never partially applied.
    """
    doc, marks = parse_policy(text, source=source)
    return compile_document(doc, source=source, marks=marks)


def parse_policy(text: str, *, source: str = "<policy>") -> tuple[Any, Marks]:
    """The YAML step of :func:`compile_policy`: the document's plain value and key marks.

    YAML is imported here, not at module import: a caller holding an already parsed
    document (the coding-agent hook's policy cache) compiles it without the parser.

    Raises:
        PolicyError: malformed YAML, several documents, duplicate or non-string keys.
    """
    from ._yaml import load_yaml

    return load_yaml(text, source)


def compile_document(
    doc: Any, *, source: str = "<policy>", marks: Marks | None = None
) -> CompiledPolicy:
    """The step of :func:`compile_policy` after YAML: validate, normalise, compile ``doc``.

    ``doc`` is what :func:`parse_policy` returned (it is not modified); ``marks`` only
    place error messages (without them an error names line 0, column 0).

    Raises:
        PolicyError: the policy is invalid; it is never partially applied.
    """
    ctx = Ctx(source, marks if marks is not None else {})
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PolicyError(
            f"parse policy yaml: policy must be a mapping ({source})", code="policy_yaml"
        )
    legacy = [k for k in doc if k in {entry[0] for entry in LEGACY}]
    if legacy:
        raise legacy_error(legacy)
    check_keys(ctx, doc, (), TOP_KEYS, TOP_OOS)
    schema_id = trim(get_str(doc, "schema_id")) or POLICY_SCHEMA_ID
    if schema_id != POLICY_SCHEMA_ID:
        raise ctx.semantic(("schema_id",), f"unsupported policy schema_id {schema_id!r} ({source})")
    schema_version = trim(get_str(doc, "schema_version")) or POLICY_SCHEMA_VERSION
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
    payload = policy_payload(schema_id, schema_version, default_verdict, fail_closed, rules)
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
    text, source = read_policy(path)
    return compile_policy(text, source=source)


def _default_verdict(ctx: Ctx, doc: Mapping[str, Any]) -> str:
    verdict = trim_lower(get_str(doc, "default_verdict"))
    action = trim_lower(get_str(doc, "default_action"))
    if verdict and action and verdict != action:
        raise ctx.semantic(
            ("default_action",),
            f"default_verdict {verdict!r} and default_action {action!r} must match ({ctx.source})",
        )
    chosen = verdict or action or "require_approval"
    key = "default_verdict" if verdict else "default_action"
    return _verdict(ctx, chosen, (key,), f"invalid default_verdict {chosen!r} ({ctx.source})")


def _fail_closed(ctx: Ctx, doc: Mapping[str, Any]) -> FailClosed:
    raw = doc.get("fail_closed")
    if raw is None:
        return FailClosed()
    check_keys(ctx, raw, ("fail_closed",), FAIL_CLOSED_KEYS)
    enabled = bool(raw.get("enabled"))
    risk = uniq_sorted_lower(get_list(raw, "risk_classes"))
    if enabled and not risk:
        risk = ["critical", "high"]
    required = uniq_sorted_lower(get_list(raw, "required_fields"))
    _valid_list(
        ctx, required, REQUIRED_FIELDS, ("fail_closed", "required_fields"), "required field"
    )
    high = uniq_sorted_lower(get_list(raw, "required_high_risk_fields"))
    _valid_list(
        ctx,
        high,
        HIGH_RISK_FIELDS,
        ("fail_closed", "required_high_risk_fields"),
        "high-risk field",
    )
    return FailClosed(enabled, tuple(risk), tuple(required), tuple(high))


def _rule(ctx: Ctx, raw: Any, index: int) -> Rule:
    path: tuple[str | int, ...] = ("rules", index)
    if not isinstance(raw, dict):
        raise ctx.error(path, "rule must be a mapping", "policy_type")
    check_keys(ctx, raw, path, RULE_KEYS, RULE_OOS)
    name = trim(get_str(raw, "name"))
    if not name:
        raise ctx.semantic((*path, "name"), f"rules[{index}].name is required ({ctx.source})")
    effect = trim_lower(get_str(raw, "effect"))
    action = trim_lower(get_str(raw, "action"))
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
    match = _match(ctx, get_map(raw, "match"), (*path, "match"), raw.get("match"))
    return Rule(
        name=name,
        priority=raw.get("priority") or 0,
        effect=chosen,
        match=match,
        reason_codes=tuple(uniq_sorted(get_list(raw, "reason_codes"))),
        violations=tuple(uniq_sorted(get_list(raw, "violations"))),
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
        predicates=compile_predicates(match),
    )


def _reject_duplicate_names(ctx: Ctx, rules: list[Rule]) -> None:
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


def _match(ctx: Ctx, raw: dict[str, Any], path: tuple[str | int, ...], given: Any) -> Match:
    if given is not None and not isinstance(given, dict):
        raise ctx.error(path, 'field "match" must be a mapping', "policy_type")
    check_keys(ctx, raw, path, MATCH_KEYS, MATCH_OOS)
    tool_names = get_list(raw, "tool_names")
    if get_str(raw, "tool_name"):
        tool_names.append(get_str(raw, "tool_name"))
    single = trim_lower(get_str(raw, "endpoint_class"))
    if single:
        _valid_list(ctx, [single], ENDPOINT_CLASSES, (*path, "endpoint_class"), "endpoint class")
    classes = uniq_sorted_lower(
        get_list(raw, "endpoint_classes")
        + ([get_str(raw, "endpoint_class")] if get_str(raw, "endpoint_class") else [])
    )
    _valid_list(ctx, classes, ENDPOINT_CLASSES, (*path, "endpoint_classes"), "endpoint class")
    methods = uniq_sorted_lower(get_list(raw, "discovery_method"))
    _valid_list(ctx, methods, DISCOVERY_METHODS, (*path, "discovery_method"), "discovery method")
    annotations = tuple(
        (k, v) for k, v in sorted(get_map(raw, "tool_annotations").items()) if v is not None
    )
    return Match(
        tool_names=tuple(uniq_sorted_lower(tool_names)),
        risk_classes=tuple(uniq_sorted_lower(get_list(raw, "risk_classes"))),
        identities=tuple(uniq_sorted(get_list(raw, "identities"))),
        workspace_prefixes=tuple(uniq_sorted(get_list(raw, "workspace_prefixes"))),
        target_kinds=tuple(uniq_sorted_lower(get_list(raw, "target_kinds"))),
        target_values=tuple(uniq_sorted(get_list(raw, "target_values"))),
        endpoint_classes=tuple(classes),
        discovery_methods=tuple(methods),
        tool_annotations=annotations,
        data_classes=tuple(uniq_sorted_lower(get_list(raw, "data_classes"))),
        destination_kinds=tuple(uniq_sorted_lower(get_list(raw, "destination_kinds"))),
        destination_values=tuple(uniq_sorted(get_list(raw, "destination_values"))),
        destination_operations=tuple(uniq_sorted_lower(get_list(raw, "destination_operations"))),
        provenance_sources=tuple(uniq_sorted_lower(get_list(raw, "provenance_sources"))),
        skill_publishers=tuple(uniq_sorted_lower(get_list(raw, "skill_publishers"))),
        skill_sources=tuple(uniq_sorted_lower(get_list(raw, "skill_sources"))),
    )


def _constraint_action(
    ctx: Ctx, raw: Mapping[str, Any], key: str, path: tuple[str | int, ...], default: str
) -> str:
    text = trim_lower(get_str(raw, key))
    if not text:
        return default
    if text not in ("block", "require_approval"):
        raise ctx.semantic(
            (*path, key),
            f"invalid {dotted((*path, key))} {text!r}: expected block or require_approval "
            f"({ctx.source})",
        )
    return text


def _patterns(
    ctx: Ctx, items: list[str], path: tuple[str | int, ...], rule: str, domain: bool
) -> tuple[Any, ...]:
    out = []
    for text in items:
        try:
            out.append(DomainPattern.compile(text) if domain else PathPattern.compile(text))
        except GlobError as exc:
            raise ctx.semantic(
                path,
                f"rule {rule}: invalid endpoint pattern {text!r} at {dotted(path)} "
                f"({exc}) ({ctx.source})",
            ) from exc
    return tuple(out)


def _endpoint(ctx: Ctx, raw: Any, path: tuple[str | int, ...], rule: str) -> Endpoint | None:
    if raw is None:
        return None
    check_keys(ctx, raw, path, ENDPOINT_KEYS)
    path_allow = uniq_sorted(get_list(raw, "path_allowlist"))
    path_deny = uniq_sorted(get_list(raw, "path_denylist"))
    dom_allow = uniq_sorted_lower(get_list(raw, "domain_allowlist"))
    dom_deny = uniq_sorted_lower(get_list(raw, "domain_denylist"))
    egress = uniq_sorted_lower(get_list(raw, "egress_classes"))
    for item in egress:
        if item not in ENDPOINT_CLASSES or not item.startswith("net."):
            raise ctx.semantic(
                (*path, "egress_classes"),
                f"invalid egress class {item!r} at {dotted((*path, 'egress_classes'))} "
                f"({ctx.source})",
            )
    destructive_action = ""
    if get_str(raw, "destructive_action").strip():
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
        reason_code=trim(get_str(raw, "reason_code")) or "endpoint_constraint_violation",
        violation=trim(get_str(raw, "violation")) or "endpoint_constraint_violation",
    )


def _dataflow(ctx: Ctx, raw: Any, path: tuple[str | int, ...]) -> Dataflow | None:
    if raw is None:
        return None
    check_keys(ctx, raw, path, DATAFLOW_KEYS)
    tainted = uniq_sorted_lower(get_list(raw, "tainted_sources"))
    _valid_list(ctx, tainted, PROVENANCE_SOURCES, (*path, "tainted_sources"), "tainted source")
    kinds = uniq_sorted_lower(get_list(raw, "destination_kinds"))
    _valid_list(ctx, kinds, TARGET_KINDS, (*path, "destination_kinds"), "destination kind")
    values = uniq_sorted(get_list(raw, "destination_values"))
    ops = uniq_sorted_lower(get_list(raw, "destination_operations"))
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
        reason_code=trim(get_str(raw, "reason_code")) or "dataflow_tainted_destination",
        violation=trim(get_str(raw, "violation")) or "tainted_dataflow",
    )


def _rate(ctx: Ctx, raw: Any, path: tuple[str | int, ...], *, budget: bool) -> RateLimit | None:
    if raw is None:
        return None
    check_keys(ctx, raw, path, RATE_KEYS)
    requests = raw.get("requests") or 0
    if requests < 0:
        raise ctx.semantic(
            (*path, "requests"), f"{dotted((*path, 'requests'))} must be >= 0 ({ctx.source})"
        )
    window = trim_lower(get_str(raw, "window")) or "minute"
    if window not in WINDOWS:
        raise ctx.semantic(
            (*path, "window"),
            f"invalid {dotted((*path, 'window'))} {window!r}: expected minute or hour "
            f"({ctx.source})",
        )
    scope = trim_lower(get_str(raw, "scope")) or "tool_identity"
    if scope not in SCOPES:
        raise ctx.semantic(
            (*path, "scope"),
            f"invalid {dotted((*path, 'scope'))} {scope!r}: expected tool, identity or "
            f"tool_identity ({ctx.source})",
        )
    if budget and raw and requests < 1:
        raise ctx.semantic(
            (*path, "requests"),
            f"{dotted((*path, 'requests'))} must be >= 1 when destructive_budget is set "
            f"({ctx.source})",
        )
    return RateLimit(requests, window, scope) if requests > 0 else None


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
