"""Compiled match checks: a rule's ``match`` block turned into predicates over an intent.

Owns: :func:`compile_predicates`, called once per rule while a policy is
compiled (the tuple is passed to the frozen :class:`~.model.Rule` when it is
built); :mod:`.evaluate` runs them. Imports only the policy model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from .model import Match, Predicate

__all__ = ["compile_predicates"]

_HINT_ATTR: Final = {
    "readOnlyHint": "read_only_hint",
    "destructiveHint": "destructive_hint",
    "idempotentHint": "idempotent_hint",
    "openWorldHint": "open_world_hint",
}


def compile_predicates(m: Match) -> tuple[Predicate, ...]:
    """Turn a match block into checks over a NormalizedIntent (all must hold)."""
    preds: list[Predicate] = []
    if m.tool_names:
        tools = frozenset(m.tool_names)
        preds.append(lambda i: i.tool_name in tools)
    if m.risk_classes:
        risks = frozenset(m.risk_classes)
        preds.append(lambda i: i.context["risk_class"] in risks)
    if m.identities:
        ids = frozenset(m.identities)
        preds.append(lambda i: i.context["identity"] in ids)
    if m.workspace_prefixes:
        prefixes = m.workspace_prefixes
        preds.append(lambda i: i.context["workspace"].startswith(prefixes))
    _target_pred(preds, m.target_kinds, "kind")
    _target_pred(preds, m.target_values, "value")
    _target_pred(preds, m.endpoint_classes, "endpoint_class")
    _target_pred(preds, m.discovery_methods, "discovery_method")
    _target_pred(preds, m.data_classes, "sensitivity")
    _target_pred(preds, m.destination_kinds, "kind")
    _target_pred(preds, m.destination_values, "value")
    _target_pred(preds, m.destination_operations, "operation")
    for key, wanted in m.tool_annotations:
        attr = _HINT_ATTR[key]
        preds.append(
            lambda i, a=attr, w=wanted: any(getattr(t, a) == w for t in i.targets)  # type: ignore[misc]
        )
    if m.provenance_sources:
        sources = frozenset(m.provenance_sources)
        preds.append(lambda i: not sources.isdisjoint(i.provenance_sources))
    _skill_pred(preds, m.skill_publishers, "publisher")
    _skill_pred(preds, m.skill_sources, "source")
    return tuple(preds)


def _target_pred(preds: list[Predicate], items: Iterable[str], attr: str) -> None:
    allowed = frozenset(items)
    if allowed:
        preds.append(lambda i: any(getattr(t, attr) in allowed for t in i.targets))


def _skill_pred(preds: list[Predicate], items: Iterable[str], key: str) -> None:
    allowed = frozenset(items)
    if not allowed:
        return

    def check(intent: Any) -> bool:
        skill = intent.preimage.get("skill_provenance")
        return skill is not None and str(skill.get(key, "")).lower() in allowed

    preds.append(check)
