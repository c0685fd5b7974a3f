"""Shared fixtures: the vector folder, both anyio backends, a fake clock, a scratch dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

VECTORS = Path(__file__).parent / "vectors"


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
