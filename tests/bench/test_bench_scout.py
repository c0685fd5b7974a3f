"""Benchmark of the scout signal engine (``make bench``; plain pytest runs it once).

200 generated runpacks from 8 incident shapes; the full-scale figure (10,000
runpacks, a fresh ``gait scout signal`` process) comes from ``soak/bench_scout.py``.
The benchmark asserts the clustering, so the timed code is the correct code.
"""

from __future__ import annotations

from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from gait_runtime.runpack import build_runpack, write_runpack
from gait_runtime.scout import build_signal_report

SHAPES = [
    (["fs.read_file", "fs.write_file"], ["ok", "ok"]),
    (["fs.read_file", "fs.delete_file"], ["ok", "error"]),
    (["http.fetch"], ["timeout"]),
    (["db.query", "payments.refund"], ["ok", "blocked"]),
    (["tool.search", "tool.summarize"], ["ok", "ok"]),
    (["queue.send"], ["ok"]),
    (["shell.exec", "fs.write_file"], ["error", "ok"]),
    (["fs.list_dir"], ["ok"]),
]


def _generate(directory: Path, runs: int) -> None:
    for number in range(runs):
        tools, statuses = SHAPES[number % len(SHAPES)]
        run = {"run_id": f"run_b{number:04d}", "created_at": "2026-03-01T09:30:00Z"}
        intents = [
            {"intent_id": f"i{k}", "tool_name": t, "args": {"n": number}}
            for k, t in enumerate(tools)
        ]
        results = [
            {"intent_id": f"i{k}", "status": s, "result": {}} for k, s in enumerate(statuses)
        ]
        pack = build_runpack(run, intents, results, producer_version="bench")
        write_runpack(directory / f"runpack_{number:04d}.zip", pack)


def test_bench_signal_over_200_runpacks(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """Fingerprint, cluster, rank and serialise 200 runpacks (8 families of 25)."""
    _generate(tmp_path, 200)

    def signal() -> bytes:
        with build_signal_report([str(tmp_path)], producer_version="bench") as report:
            return report.to_bytes()

    data = benchmark(signal)
    assert b'"run_count":200,"family_count":8' in data
