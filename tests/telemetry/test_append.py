"""The export-file lock protocol of spec/sessions.md §9.2 (``append_line_locked``)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gait_runtime.errors import ContentionError, IOFailure
from gait_runtime.telemetry import append_line_locked

WRITER = """
import sys
from gait_runtime.telemetry import append_line_locked
path, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(count):
    append_line_locked(path, '{"who":"%s","i":%d,"pad":"%s"}' % (who, i, "x" * 3000))
"""


def test_200_threads_append_exactly_200_valid_lines(tmp_path: Path) -> None:
    """Concurrent writers never interleave: every line parses and none is lost."""
    target = tmp_path / "out" / "decisions.jsonl"
    start = threading.Barrier(200)
    failures: list[BaseException] = []

    def write(i: int) -> None:
        try:
            start.wait(timeout=30)
            append_line_locked(target, json.dumps({"i": i, "pad": "y" * 500}))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    lines = target.read_bytes().split(b"\n")
    assert lines[-1] == b""
    docs = [json.loads(line) for line in lines[:-1]]
    assert sorted(d["i"] for d in docs) == list(range(200))
    assert not Path(f"{target}.lock").exists()


def test_processes_share_the_file_lock(tmp_path: Path) -> None:
    """Separate processes (no shared in-memory lock) still never interleave lines."""
    target = tmp_path / "shared.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(target), f"p{n}", "40"])
        for n in range(4)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    docs = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(docs) == 160
    for n in range(4):
        assert sorted(d["i"] for d in docs if d["who"] == f"p{n}") == list(range(40))


def test_new_file_is_0600_and_parents_0750(tmp_path: Path) -> None:
    """Modes follow spec/otel.md §2: file 0600, created directories 0750."""
    old = os.umask(0)
    try:
        target = tmp_path / "a" / "b" / "x.jsonl"
        append_line_locked(target, b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o750
    assert target.read_bytes() == b"{}\n"


def test_fresh_foreign_lock_times_out_with_contention_error(tmp_path: Path) -> None:
    """A live lock held by another writer makes the append give up after the timeout."""
    target = tmp_path / "x.jsonl"
    lock = Path(f"{target}.lock")
    lock.write_bytes(b"")
    with pytest.raises(ContentionError, match="append lock timeout"):
        append_line_locked(target, b"{}", timeout=0.05, retry=0.01)
    assert lock.exists()
    assert not target.exists()


def test_stale_lock_is_removed_and_append_succeeds(tmp_path: Path) -> None:
    """A lock whose mtime is older than 2 minutes is left over by a dead writer."""
    target = tmp_path / "x.jsonl"
    lock = Path(f"{target}.lock")
    lock.write_bytes(b"")
    old = time.time() - 121
    os.utime(lock, (old, old))
    append_line_locked(target, b'{"a":1}', timeout=0.05)
    assert target.read_bytes() == b'{"a":1}\n'
    assert not lock.exists()


def test_lock_released_after_waiting_writer_gets_in(tmp_path: Path) -> None:
    """A writer waiting on a foreign lock appends once the lock file disappears."""
    target = tmp_path / "x.jsonl"
    lock = Path(f"{target}.lock")
    lock.write_bytes(b"")
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            append_line_locked(target, b"{}", timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=write)
    worker.start()
    assert not done.is_set()
    lock.unlink()
    assert done.wait(timeout=30)
    worker.join(timeout=30)
    assert errors == []
    assert target.read_bytes() == b"{}\n"


def test_directory_target_raises_io_failure_and_releases_lock(tmp_path: Path) -> None:
    """An unwritable target is an IOFailure; the lock file is cleaned up."""
    target = tmp_path / "is_a_dir"
    target.mkdir()
    with pytest.raises(IOFailure):
        append_line_locked(target, b"{}")
    assert not Path(f"{target}.lock").exists()
