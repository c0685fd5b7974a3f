"""Whole-process wall time of ``gait regress run`` over 100 fixtures, and its per-fixture cost.

Run with ``.venv/bin/python soak/bench_regress.py [--fixtures N] [--runs R]``. Builds a
workspace of N fixtures (default 100) from the demo runpack in a temporary directory,
then runs the installed ``gait regress run --junit junit.xml`` R times (default 7) as a
fresh process, and ``gait regress run`` over a single fixture R times (the fixed cost:
interpreter start, imports, entry-point scan). Prints medians, and the per-fixture cost
as (median(N) - median(1)) / (N - 1). Real time is measured on purpose: this is a
benchmark, not a test. Targets: the N=100 run under 3 s, at most 20 ms per fixture.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gait_runtime.regress import init_fixture
from gait_runtime.runpack import write_runpack
from gait_runtime.runpack.demo import demo_runpack

GAIT = Path(sys.executable).parent / "gait"


def _workspace(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    source = root / "runpack_run_demo.zip"
    write_runpack(source, demo_runpack())
    for i in range(count):
        init_fixture(str(source), name=f"fixture-{i:03d}", root=root)
    return root


def _median_ms(cwd: Path, runs: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms (user + system) of one ``gait regress run`` process."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [str(GAIT), "regress", "run", "--junit", "junit.xml"],
            cwd=cwd,
            check=True,
            capture_output=True,
        )
        walls.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpus.append(cpu * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Build the workspaces, time the runs, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        many = _workspace(Path(tmp) / "many", args.fixtures)
        one = _workspace(Path(tmp) / "one", 1)
        whole, whole_cpu = _median_ms(many, args.runs)
        fixed, fixed_cpu = _median_ms(one, args.runs)
    steps = max(1, args.fixtures - 1)
    print(f"regress run, {args.fixtures} fixtures: wall {whole:.0f} ms, cpu {whole_cpu:.0f} ms")
    print(f"regress run, 1 fixture:   wall {fixed:.0f} ms, cpu {fixed_cpu:.0f} ms (start-up)")
    print(
        f"per fixture: wall {(whole - fixed) / steps:.1f} ms, "
        f"cpu {(whole_cpu - fixed_cpu) / steps:.1f} ms (medians of {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
