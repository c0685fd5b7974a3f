"""Benchmark of ``regress run`` in-process over 100 fixtures (``make bench``).

Target (docs/performance.md "Regress"): at most 20 ms per fixture in-process. Plain
pytest runs the body once, so this also checks the 100-fixture run passes.
"""

from __future__ import annotations

from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from gait_runtime.regress import RunOutcome, init_fixture, run_regress
from gait_runtime.runpack import write_runpack
from gait_runtime.runpack.demo import demo_runpack

FIXTURES = 100


def test_bench_regress_run_100_fixtures(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """Load, strict-read, grade (4 graders) and write result + JUnit for 100 fixtures."""
    source = tmp_path / "runpack_run_demo.zip"
    write_runpack(source, demo_runpack())
    for i in range(FIXTURES):
        init_fixture(str(source), name=f"fixture-{i:03d}", root=tmp_path)

    def run() -> RunOutcome:
        return run_regress(
            config=str(tmp_path / "gait.yaml"),
            output=str(tmp_path / "regress_result.json"),
            junit=str(tmp_path / "junit.xml"),
            root=tmp_path,
        )

    outcome: RunOutcome = benchmark(run)
    assert (outcome.status, outcome.fixtures, len(outcome.graders)) == ("pass", 100, 400)
