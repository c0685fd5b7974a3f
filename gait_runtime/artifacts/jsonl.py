"""Locked single-write line appends, compatible with the Go implementation's writers.

Owns: :func:`append_line_locked` and :func:`file_lock` (the lock alone, for
read-modify-write of small state files), the export-file lock protocol of
``spec/sessions.md`` §9.2 — a lock file ``<file>.lock`` taken through
:mod:`gait_runtime.artifacts.lockfile` (empty body, retried every 10 ms, removed
when its mtime is older than 2 minutes, given up after 30 s) — followed by one ``write`` of the
whole line, ``fsync``, lock release and a parent-directory ``fsync``. Inside one
process the threads writing the same file also queue on an in-memory lock, so
they wait without polling. Does not own: the session-journal lock (a different
protocol with a JSON body and ``created_at`` staleness) or what the lines say.

Everything here is blocking; async callers use ``anyio.to_thread.run_sync``.
It lives in ``artifacts`` (not ``telemetry``) so the CLI can append its usage
events without importing the logging and tracing stack;
``gait_runtime.telemetry`` re-exports :func:`append_line_locked`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from ..errors import ContentionError, IOFailure
from .fsutil import fsync_dir
from .lockfile import release_lock_file, take_lock_file

__all__ = [
    "LOCK_RETRY_S",
    "LOCK_STALE_AFTER_S",
    "LOCK_TIMEOUT_S",
    "append_line_locked",
    "file_lock",
]

LOCK_RETRY_S: Final = 0.010
"""Pause between two attempts to create a contended lock file."""
LOCK_STALE_AFTER_S: Final = 120.0
"""A lock file whose mtime is older than this is left over by a dead writer."""
LOCK_TIMEOUT_S: Final = 30.0
"""Give up taking the lock after this long."""

_registry_guard = threading.Lock()
_path_locks: dict[str, threading.Lock] = {}


def _process_lock(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _registry_guard:
        lock = _path_locks.get(key)
        if lock is None:
            lock = _path_locks[key] = threading.Lock()
        return lock


def append_line_locked(
    path: Path | str,
    line: bytes | str,
    *,
    timeout: float = LOCK_TIMEOUT_S,
    retry: float = LOCK_RETRY_S,
    stale_after: float = LOCK_STALE_AFTER_S,
) -> None:
    """Append ``line`` plus ``\\n`` to ``path`` under the cross-process lock.

    Parent directories are created with mode 0750 and a new file gets mode 0600.
    The line is written with a single ``write`` so readers and other writers
    (Go or Python) never see it interleaved.

    Args:
        path: the JSONL file.
        line: one record without its trailing newline.
        timeout: seconds to wait for the lock before giving up.
        retry: seconds between attempts while another process holds the lock.
        stale_after: a lock file whose mtime is older than this many seconds
            is removed and the attempt repeated at once.

    Raises:
        ContentionError: the lock could not be taken within ``timeout``.
        IOFailure: the directory, lock or file could not be written.
    """
    target = Path(path)
    data = (line.encode("utf-8") if isinstance(line, str) else line) + b"\n"
    with file_lock(target, timeout=timeout, retry=retry, stale_after=stale_after):
        _write_line(target, data)
    fsync_dir(target.parent if str(target.parent) else Path("."))


@contextmanager
def file_lock(
    path: Path | str,
    *,
    timeout: float = LOCK_TIMEOUT_S,
    retry: float = LOCK_RETRY_S,
    stale_after: float = LOCK_STALE_AFTER_S,
) -> Iterator[Path]:
    """Hold ``<path>.lock`` (same protocol as :func:`append_line_locked`) for a block.

    Creates the parent directories (0750). Yields ``path``.

    Raises:
        ContentionError: the lock could not be taken within ``timeout``.
        IOFailure: the directory or lock could not be written or released.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    _make_dirs(directory)
    deadline = time.monotonic() + timeout
    local = _process_lock(target)
    if not local.acquire(timeout=max(timeout, 0.0)):
        raise ContentionError(f"append lock timeout: {target}.lock")
    try:
        lock_path = _take_file_lock(target, deadline, retry, stale_after)
        try:
            yield target
        finally:
            try:
                release_lock_file(lock_path)
            except OSError as exc:
                raise IOFailure(f"release lock {lock_path}: {exc.strerror or exc}") from exc
    finally:
        local.release()


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` giving every created directory mode 0750 (like Go's ``MkdirAll``)."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for part in reversed(missing):
        try:
            part.mkdir(mode=0o750)
        except FileExistsError:
            if not part.is_dir():
                raise IOFailure(f"create directory {part}: not a directory") from None
        except OSError as exc:
            raise IOFailure(f"create directory {part}: {exc.strerror or exc}") from exc


def _take_file_lock(target: Path, deadline: float, retry: float, stale_after: float) -> str:
    lock_path = f"{target}.lock"
    try:
        held = take_lock_file(
            lock_path, deadline=deadline, retry_s=retry, stale_after_s=stale_after
        )
    except OSError as exc:
        raise IOFailure(f"create lock {lock_path}: {exc.strerror or exc}") from exc
    if not held:
        raise ContentionError(f"append lock timeout: {lock_path}")
    return lock_path


def _write_line(target: Path, data: bytes) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise IOFailure(f"open {target}: {exc.strerror or exc}") from exc
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        raise IOFailure(f"append {target}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
