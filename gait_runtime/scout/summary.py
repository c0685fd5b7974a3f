"""The one-screen text summary of a signal report.

Owns: :func:`summary_lines`. The first three lines are the Go implementation's
(``scout signal ok: …``, ``output: …``, ``top_issue: …``); the rest is a short
table of the top issues with their next fix, the skipped inputs grouped by code,
and the baseline deltas. At most ~25 lines whatever the number of runs.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from .signal import SignalReport

__all__ = ["summary_lines"]

_SHOWN_ISSUES: Final = 5
_SHOWN_SKIP_CODES: Final = 5


def summary_lines(report: SignalReport, output: str) -> list[str]:
    """Text lines for ``gait scout signal`` without ``--json``."""
    issues = report.top_issues
    lines = [
        f"scout signal ok: runs={report.run_count} families={report.family_count} "
        f"top_issues={len(issues)}",
        f"output: {output}",
    ]
    if issues:
        first = issues[0]
        lines.append(
            f"top_issue: family={first['family_id']} severity={first['severity_level']} "
            f"score={first['severity_score']} reason={first.get('top_failure_reason', '')}"
        )
    for issue in issues[:_SHOWN_ISSUES]:
        drivers = ",".join(issue.get("drivers", []))
        lines.append(
            f"  #{issue['rank']} {issue['family_id']} {issue['severity_level']}/"
            f"{issue['severity_score']} runs={issue['count']} "
            f"example={issue['canonical_run_id']} drivers={drivers}"
        )
        for suggestion in issue.get("suggestions", [])[:2]:
            lines.append(f"     fix ({suggestion['kind']}): {suggestion['summary']}")
    if len(issues) > _SHOWN_ISSUES:
        lines.append(f"  … {len(issues) - _SHOWN_ISSUES} more in the report")
    if report.skipped:
        codes = Counter(s.code for s in report.skipped)
        shown = ", ".join(f"{c}={n}" for c, n in sorted(codes.items())[:_SHOWN_SKIP_CODES])
        more = " …" if len(codes) > _SHOWN_SKIP_CODES else ""
        lines.append(f"skipped: {len(report.skipped)} input(s) ({shown}{more}); see report.skipped")
    if report.baseline is not None:
        b = report.baseline
        lines.append(
            f"baseline: new={len(b['new_families'])} recurring={len(b['recurring_families'])} "
            f"resolved={len(b['resolved_families'])} ({b['source']})"
        )
    return lines
