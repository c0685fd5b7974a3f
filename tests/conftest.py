"""Shared fixtures: the vector folder, both anyio backends, a fake clock, a scratch dir."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gait_runtime.supervisor._journal_io.uring import binding_probe

VECTORS = Path(__file__).parent / "vectors"


def pytest_configure(config: pytest.Config) -> None:
    """Give each checkout its own temp root unless ``--basetemp`` is given.

    pytest's default root (``/tmp/pytest-of-<user>``) is shared by every run of the
    user and each run prunes the older numbered directories in it, so runs of two
    checkouts at once can delete each other's test directories mid-test.
    """
    if config.option.basetemp is None:
        tag = hashlib.sha256(str(config.rootpath).encode()).hexdigest()[:10]
        config.option.basetemp = str(Path(tempfile.gettempdir()) / f"gait-pytest-{tag}")


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


@pytest.fixture(scope="session", autouse=True)
def hook_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every process a test starts keeps the hook's start-up caches in a scratch dir
    (``GAIT_CACHE_DIR``), never in the user's ``~/.cache/gait``."""
    path = tmp_path_factory.mktemp("hook-cache")
    old = os.environ.get("GAIT_CACHE_DIR")
    os.environ["GAIT_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GAIT_CACHE_DIR", None)
    else:
        os.environ["GAIT_CACHE_DIR"] = old
