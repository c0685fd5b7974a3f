"""Shared fixtures: the vector folder, both anyio backends, a fake clock, a scratch dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gait_runtime.supervisor.uring import binding_probe

VECTORS = Path(__file__).parent / "vectors"

RING_UNUSABLE = binding_probe()
"""Why this machine cannot run journal appends through io_uring ("" when it can)."""

JOURNAL_IO_PATHS = ["thread"] if RING_UNUSABLE else ["uring", "thread"]
"""The journal append paths this machine can run: tests of both paths parametrize over it."""

needs_ring = pytest.mark.skipif(bool(RING_UNUSABLE), reason=f"no io_uring here: {RING_UNUSABLE}")
"""For tests of the ring itself: reported as skipped, with the reason, where it cannot run."""


@pytest.fixture
def vectors() -> Path:
    """Root of the Go implementation's interop vectors copied into the repo."""
    return VECTORS


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test on both backends."""
    return str(request.param)


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """Run the test with the working directory set to a fresh temp dir."""
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
