"""``gait soak compare a.json b.json``: two soak reports side by side.

Owns: the list of compared figures (throughput, latency percentiles, error
rate, contention, drift, RSS growth, acknowledged and missing decisions, the
capacity knee), the relative change of each and which direction is better, and
the text table. Pure: takes two report documents, returns rows; reading the
files is ``report.load_report``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["FIGURES", "compare_reports", "compare_text"]

FIGURES: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("throughput_rps", ("totals", "throughput_rps"), "higher"),
    ("p50_ms", ("latency_ms", "p50_ms"), "lower"),
    ("p95_ms", ("latency_ms", "p95_ms"), "lower"),
    ("p99_ms", ("latency_ms", "p99_ms"), "lower"),
    ("max_ms", ("latency_ms", "max_ms"), "lower"),
    ("error_rate", ("totals", "error_rate"), "lower"),
    ("contention_errors", ("totals", "outcomes", "contention"), "lower"),
    ("drift_ratio", ("drift", "ratio"), "lower"),
    ("rss_growth_mb", ("rss", "growth_mb"), "lower"),
    ("rss_max_mb", ("rss", "max_mb"), "lower"),
    ("acknowledged", ("verification", "acknowledged"), "higher"),
    ("acknowledged_missing", ("verification", "acknowledged_missing"), "lower"),
    ("malformed_lines", ("verification", "malformed_lines"), "lower"),
    ("capacity_knee_agents", ("capacity", "knee_agents"), "higher"),
)
"""(name, path in the report, which direction is better)."""


def _get(doc: Mapping[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = doc
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) is None:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def compare_reports(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per figure present in either report: ``a``, ``b``, ``change_pct``, ``verdict``.

    ``verdict`` is ``better``, ``worse`` or ``same`` from b's point of view
    (changes under 5 % count as ``same``; missing values give ``n/a``).
    """
    rows = []
    for name, path, better in FIGURES:
        va, vb = _get(a, path), _get(b, path)
        if va is None and vb is None:
            continue
        change: float | None = None
        verdict = "n/a"
        if va is not None and vb is not None:
            if va == vb:
                change, verdict = 0.0, "same"
            else:
                change = round((vb - va) / abs(va) * 100, 1) if va else None
                bigger = vb > va
                significant = change is None or abs(change) >= 5.0
                if not significant:
                    verdict = "same"
                else:
                    verdict = "better" if bigger == (better == "higher") else "worse"
        rows.append({"figure": name, "a": va, "b": vb, "change_pct": change, "verdict": verdict})
    return rows


def _label(doc: Mapping[str, Any]) -> str:
    prof = doc.get("profile", {})
    return f"{prof.get('name', '?')}/{prof.get('backend', '?')}"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def compare_text(
    a: Mapping[str, Any], b: Mapping[str, Any], rows: list[dict[str, Any]], names: tuple[str, str]
) -> list[str]:
    """The side-by-side table printed by ``gait soak compare``."""
    la, lb = f"A {_label(a)}", f"B {_label(b)}"
    width = max(12, len(la), len(lb))
    lines = [
        f"A: {names[0]} ({'PASS' if a.get('ok') else 'FAIL'}, {a.get('duration_s', 0):g}s)",
        f"B: {names[1]} ({'PASS' if b.get('ok') else 'FAIL'}, {b.get('duration_s', 0):g}s)",
        f"{'figure':<22} {la:>{width}} {lb:>{width}} {'change':>9}  verdict",
    ]
    for row in rows:
        change = "-" if row["change_pct"] is None else f"{row['change_pct']:+.1f}%"
        lines.append(
            f"{row['figure']:<22} {_fmt(row['a']):>{width}} {_fmt(row['b']):>{width}} "
            f"{change:>9}  {row['verdict']}"
        )
    return lines
