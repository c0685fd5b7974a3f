"""Comparing a signal report with a baseline report (``gait scout signal --baseline``).

Owns: :func:`compare_baseline`: which families are new, which recur (with both
counts) and which are resolved since the baseline, and for each new family the
nearest baseline family (same action sequence, else same tool classes) with the
vectors that changed and the drift drivers those changes point to. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._vectors import unique_sorted
from .families import drivers_for

__all__ = ["compare_baseline"]

_VECTORS: Final = (
    "action_sequence",
    "tool_classes",
    "target_systems",
    "reason_code_vector",
    "ref_receipt_digests",
)


def _baseline_vectors(doc: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """family_id → the five vectors of one member fingerprint of the baseline."""
    out: dict[str, dict[str, list[str]]] = {}
    records = doc.get("fingerprints")
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), str):
            continue
        family_id = "fam_" + record["fingerprint"][:12]
        vectors = {k: [str(v) for v in record.get(k) or []] for k in _VECTORS}
        out.setdefault(family_id, vectors)
    return out


def _drift(current: Mapping[str, list[str]], base: Mapping[str, list[str]]) -> dict[str, Any]:
    changed = [k for k in _VECTORS if list(current[k]) != list(base[k])]
    drivers: list[str] = []
    if "reason_code_vector" in changed:
        added = set(current["reason_code_vector"]) - set(base["reason_code_vector"])
        if added:
            drivers += drivers_for(added)
    if "target_systems" in changed or "ref_receipt_digests" in changed:
        drivers.append("reference_set_change")
    if "action_sequence" in changed or "tool_classes" in changed:
        drivers.append("configuration_change")
    return {"changed_vectors": changed, "drivers": unique_sorted(drivers)}


def compare_baseline(
    families: Sequence[Mapping[str, Any]],
    vectors: Mapping[str, Mapping[str, list[str]]],
    baseline: Mapping[str, Any],
    source: str,
) -> dict[str, Any]:
    """The ``baseline`` section of a signal report.

    Args:
        families: the current report's ranked families.
        vectors: current family_id → its five vectors.
        baseline: the decoded baseline report (already schema-checked).
        source: the baseline path as given.
    """
    base_families = {
        str(f["family_id"]): f
        for f in baseline.get("families") or []
        if isinstance(f, dict) and isinstance(f.get("family_id"), str)
    }
    base_vectors = _baseline_vectors(baseline)
    current_ids = {str(f["family_id"]) for f in families}
    recurring: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    for family in sorted(families, key=lambda f: str(f["family_id"])):
        family_id = str(family["family_id"])
        if family_id in base_families:
            recurring.append(
                {
                    "family_id": family_id,
                    "baseline_count": base_families[family_id].get("count", 0),
                    "count": family["count"],
                }
            )
            continue
        entry: dict[str, Any] = {"family_id": family_id}
        mine = vectors.get(family_id)
        if mine is not None:
            candidates = [
                (0 if v["action_sequence"] == mine["action_sequence"] else 1, fid)
                for fid, v in base_vectors.items()
                if fid not in current_ids
                and (
                    v["action_sequence"] == mine["action_sequence"]
                    or v["tool_classes"] == mine["tool_classes"]
                )
            ]
            if candidates:
                nearest = min(candidates)[1]
                entry["nearest_baseline_family"] = nearest
                entry.update(_drift(mine, base_vectors[nearest]))
        new.append(entry)
    return {
        "source": source,
        "baseline_run_count": baseline.get("run_count", 0),
        "baseline_family_count": len(base_families),
        "new_families": new,
        "recurring_families": recurring,
        "resolved_families": sorted(set(base_families) - current_ids),
    }
