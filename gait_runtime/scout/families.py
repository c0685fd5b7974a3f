"""Incident families: clustering by fingerprint, drift drivers, ranking, suggestions.

Owns: :class:`FamilyAccumulator` (one family's running aggregate; memory per
family is its member ids and paths, never the runpacks), the driver rules of
drift attribution, the bounded rule-based next-fix suggestions, the severity
levels and the deterministic ranking (score desc, count desc, family id asc)
that yields ``top_issues``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ._vectors import unique_sorted

__all__ = [
    "TOP_ISSUES",
    "FamilyAccumulator",
    "drivers_for",
    "rank_families",
    "severity_level",
    "suggestions_for",
    "top_issues",
]

TOP_ISSUES: Final = 10
"""``top_issues`` holds at most this many families."""

_DRIVER_RULES: Final = (
    ("policy_change", ("policy", "approval", "blocked", "credential", "violation")),
    (
        "tool_result_shape_change",
        ("diff", "schema", "result_status", "grader", "unexpected_exit_code"),
    ),
    ("reference_set_change", ("ref", "receipt", "retrieval", "source")),
    ("configuration_change", ("config", "nondeterministic", "runtime", "timeout")),
)
_DEFAULT_DRIVER: Final = "configuration_change"

_SUGGESTIONS: Final[dict[str, tuple[str, str, str]]] = {
    # driver: (kind, summary, likely_scope)
    "configuration_change": (
        "configuration",
        "Pin runtime/model/tool configuration and rerun the incident-to-regress bootstrap path.",
        "wrapper runtime config + CI env",
    ),
    "policy_change": (
        "policy_fixture",
        "Add or tighten a policy fixture for this intent and check it with `gait policy test`.",
        "policy/*.yaml + examples/policy/intents",
    ),
    "reference_set_change": (
        "regress_fixture",
        "Pin the retrieval/receipt set, re-capture the runpack and add it as a regress fixture.",
        "run input + refs receipts",
    ),
    "tool_result_shape_change": (
        "regress_fixture",
        "Add or update a regress fixture, then run `gait regress run --json`.",
        "fixtures/* + gait.yaml",
    ),
}


def drivers_for(reasons: Iterable[str]) -> list[str]:
    """Drift drivers of a family's reason codes (``configuration_change`` when none match)."""
    hits: list[str] = []
    for reason in sorted(reasons):
        lowered = reason.lower()
        for driver, words in _DRIVER_RULES:
            if any(w in lowered for w in words):
                hits.append(driver)
                break
    return unique_sorted(hits) or [_DEFAULT_DRIVER]


def suggestions_for(drivers: Iterable[str]) -> list[dict[str, str]]:
    """One next-best-fix suggestion per driver, in sorted driver order."""
    out = []
    for driver in sorted(drivers):
        kind, summary, scope = _SUGGESTIONS[driver]
        out.append({"kind": kind, "summary": summary, "likely_scope": scope})
    return out


def severity_level(score: int) -> str:
    """``critical`` ≥150, ``high`` ≥110, ``medium`` ≥70, else ``low``."""
    if score >= 150:
        return "critical"
    if score >= 110:
        return "high"
    if score >= 70:
        return "medium"
    return "low"


@dataclass(slots=True)
class FamilyAccumulator:
    """The running aggregate of one incident family (one fingerprint)."""

    fingerprint: str
    count: int = 0
    max_base: int = 0
    run_ids: set[str] = field(default_factory=set)
    pointers: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)
    vectors: dict[str, list[str]] = field(default_factory=dict)
    """The five vectors (identical for every member, since they make the fingerprint)."""

    @property
    def family_id(self) -> str:
        """``fam_`` + the first 12 hex chars of the fingerprint."""
        return "fam_" + self.fingerprint[:12]

    @property
    def severity_score(self) -> int:
        """Highest member base severity plus ``min(count, 10)``."""
        return self.max_base + min(self.count, 10)

    def add(self, *, run_id: str, source: str, reasons: Iterable[str], base: int) -> None:
        """Fold one member run in."""
        self.count += 1
        self.max_base = max(self.max_base, base)
        self.run_ids.add(run_id)
        if source:
            self.pointers.add(source)
        self.reasons.update(reasons)

    def to_json(self) -> dict[str, Any]:
        """The family object of the signal report, fields in the Go order."""
        run_ids = unique_sorted(self.run_ids)
        drivers = drivers_for(self.reasons)
        score = self.severity_score
        out: dict[str, Any] = {
            "family_id": self.family_id,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "run_ids": run_ids,
            "canonical_run_id": run_ids[0] if run_ids else "",
        }
        reasons = unique_sorted(self.reasons)
        if reasons:
            out["top_failure_reason"] = reasons[0]
        out["drivers"] = drivers
        out["severity_score"] = score
        out["severity_level"] = severity_level(score)
        pointers = unique_sorted(self.pointers)
        if pointers:
            out["artifact_pointers"] = pointers
        out["suggestions"] = suggestions_for(drivers)
        return out


def rank_families(families: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Families by severity score desc, then count desc, then family id asc."""
    return sorted(families, key=lambda f: (-f["severity_score"], -f["count"], f["family_id"]))


def top_issues(ranked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first :data:`TOP_ISSUES` ranked families as ``top_issues`` entries."""
    out = []
    for rank, family in enumerate(ranked[:TOP_ISSUES], start=1):
        entry: dict[str, Any] = {"rank": rank}
        for key in ("family_id", "fingerprint", "count", "canonical_run_id", "top_failure_reason"):
            if key in family:
                entry[key] = family[key]
        for key in ("drivers", "severity_score", "severity_level", "suggestions"):
            if key in family:
                entry[key] = family[key]
        out.append(entry)
    return out
