"""Run the documented soak figures and print them as a Markdown table.

Usage::

    .venv/bin/python soak/figures.py --out /tmp/soak-figures            # run, then tabulate
    .venv/bin/python soak/figures.py --out /tmp/soak-figures --table-only

Runs ``gait soak run`` for ``swarm``, ``capacity`` and ``soak`` (``--soak-duration``,
default 30m) on both backends, one after the other (never in parallel: they would
share the CPUs), each into ``<out>/<profile>-<backend>``, then prints one table
row per report found: throughput, p50/p95/p99, drift ratio, contention errors,
error rate, RSS growth, acknowledged/missing decisions and the capacity knee.
A run that breaks a budget still yields its figures (its exit code is 2).
Real time is the point here: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROFILES = ("swarm", "capacity", "soak")
BACKENDS = ("asyncio", "trio")


def _run(profile: str, backend: str, out: Path, soak_duration: str) -> None:
    argv = [sys.executable, "-m", "gait_runtime", "soak", "run", "--quiet"]
    argv += ["--profile", profile, "--backend", backend, "--out", str(out)]
    if profile == "soak":
        argv += ["--duration", soak_duration]
    done = subprocess.run(argv, check=False)
    print(f"{profile}/{backend}: exit {done.returncode}", file=sys.stderr)


def _row(report: dict[str, Any]) -> str:
    r = report
    prof, tot, lat = r["profile"], r["totals"], r["latency_ms"]
    ver, rss, drift = r["verification"], r["rss"], r["drift"]
    cap = r.get("capacity") or {}
    knee = f"{cap['knee_agents']} @ p99 {cap['knee_p99_ms']:g} ms" if cap else "-"
    cells = [
        f"{prof['name']}",
        f"{prof['backend']}",
        f"{r['duration_s']:.0f} s",
        f"{tot['decisions']}",
        f"{tot['throughput_rps']:g}",
        f"{lat['p50_ms']:.1f} / {lat['p95_ms']:.1f} / {lat['p99_ms']:.1f}",
        f"{drift['ratio']:g}",
        f"{tot['outcomes']['contention']}",
        f"{tot['error_rate'] * 100:.3f} %",
        f"{rss['growth_mb']:g} MB",
        f"{ver['acknowledged']} / {ver['acknowledged_missing']}",
        knee,
        "pass" if r["ok"] else "FAIL",
    ]
    return "| " + " | ".join(cells) + " |"


def table(out: Path) -> list[str]:
    """Markdown table of every report under ``out``."""
    lines = [
        "| profile | backend | driven | decisions | decisions/s | p50 / p95 / p99 ms | drift "
        "| contention | errors | RSS growth | acked / missing | knee | budgets |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for profile in PROFILES:
        for backend in BACKENDS:
            path = out / f"{profile}-{backend}" / "soak_report.json"
            if path.exists():
                lines.append(_row(json.loads(path.read_text())))
    return lines


def main() -> int:
    """Run (unless ``--table-only``) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for the runs")
    parser.add_argument("--soak-duration", default="30m", help="duration of the soak runs")
    parser.add_argument("--table-only", action="store_true", help="only tabulate existing runs")
    ns = parser.parse_args()
    if not ns.table_only:
        for profile in PROFILES:
            for backend in BACKENDS:
                _run(profile, backend, ns.out / f"{profile}-{backend}", ns.soak_duration)
    print("\n".join(table(ns.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
