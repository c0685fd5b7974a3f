"""Whole-process wall time of ``gait demo`` and ``gait verify run_demo``, and their import share.

Run with ``.venv/bin/python soak/bench_cli.py [--runs N]``. Each command runs N times
(default 10) as a fresh process of the installed ``gait`` script in a temporary
directory; the script prints the median and p90 wall time of each, then runs
``python -X importtime -m gait_runtime verify run_demo`` once and reports how much
of the start-up went to imports (and the largest top-level imports). Real time is
measured on purpose: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GAIT = Path(sys.executable).parent / "gait"


def _timed(argv: list[str], cwd: Path) -> float:
    """Wall time (ms) of one process; fails loudly on a non-zero exit."""
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _import_profile(cwd: Path) -> tuple[float, float, list[tuple[float, str]]]:
    """(total import ms, process wall ms, top-level imports by cumulative ms)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gait_runtime", "verify", "run_demo"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = (time.perf_counter() - started) * 1000
    top: list[tuple[float, str]] = []
    total = 0.0
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        cumulative, name = parts[1].strip(), parts[2]
        if not cumulative.isdigit() or name.startswith("  "):
            continue  # the header line, or a nested (already counted) import
        total += int(cumulative) / 1000
        top.append((int(cumulative) / 1000, name.strip()))
    return total, wall, sorted(top, reverse=True)[:8]


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gait-bench-") as tmp:
        cwd = Path(tmp)
        os.environ["HOME"] = tmp
        results: dict[str, list[float]] = {"gait demo": [], "gait verify run_demo": []}
        _timed([str(GAIT), "demo"], cwd)  # warm the page cache and __pycache__
        for _ in range(args.runs):
            results["gait demo"].append(_timed([str(GAIT), "demo"], cwd))
            results["gait verify run_demo"].append(_timed([str(GAIT), "verify", "run_demo"], cwd))
        print(f"python {sys.version.split()[0]}, {args.runs} runs each, cwd {cwd}")
        for name, samples in results.items():
            print(
                f"{name:24s} median {statistics.median(samples):7.1f} ms   "
                f"p90 {_percentile(samples, 0.9):7.1f} ms   min {min(samples):7.1f} ms"
            )
        total, wall, top = _import_profile(cwd)
        print(
            f"imports (python -X importtime -m gait_runtime verify run_demo): "
            f"{total:.1f} ms of {wall:.1f} ms wall ({100 * total / wall:.0f} %)"
        )
        for ms, name in top:
            print(f"  {ms:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
