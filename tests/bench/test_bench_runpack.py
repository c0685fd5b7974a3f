"""Benchmarks of the runpack hot paths (run with ``make bench``; plain pytest runs each once).

Targets (docs/runpack.md "Performance"): in-process verify of the demo runpack
under 2 ms median; build + zip of the demo well under that.
"""

from __future__ import annotations

from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from gait_runtime.runpack import VerifyReport, verify_runpack, write_runpack
from gait_runtime.runpack.demo import demo_runpack


def test_bench_verify_demo_runpack(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """In-process `verify_runpack` of the demo runpack file (read, unzip, hash, digest)."""
    path = tmp_path / "runpack_run_demo.zip"
    write_runpack(path, demo_runpack())
    report: VerifyReport = benchmark(verify_runpack, path)
    assert report.ok and report.files_checked == 4


def test_bench_build_and_zip_demo(benchmark: BenchmarkFixture) -> None:
    """The recording pipeline plus the deterministic zip, for the demo content."""

    def build() -> bytes:
        return demo_runpack().zip_bytes()

    data: bytes = benchmark(build)
    assert data == demo_runpack().zip_bytes()
