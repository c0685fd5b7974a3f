"""The one exclusive lock-file protocol: create with ``O_CREAT|O_EXCL``, poll, drop stale locks.

Owns: :func:`take_lock_file` and :func:`release_lock_file`, shared by the gate's
rate-limit state file (``<state>.lock``) and the export files' locked appends
(``<file>.lock``). A lock is an empty file; whoever created it holds it; a lock
whose mtime is older than ``stale_after_s`` was left by a dead writer and is
removed, after which the attempt is repeated at once. Clocks and the sleep are
injectable so contention tests run in zero wall time. Does not own: the
session-journal lock (a JSON body, ``created_at`` staleness and pid checks, in
the supervisor's journal package) nor the errors callers raise on timeout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["release_lock_file", "take_lock_file"]


def take_lock_file(
    path: Path | str,
    *,
    deadline: float,
    retry_s: float,
    stale_after_s: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_seconds: Callable[[], float] = time.time,
) -> bool:
    """Create ``path`` exclusively, polling every ``retry_s`` until ``deadline``.

    Args:
        path: the lock file.
        deadline: give up at this ``monotonic()`` reading.
        retry_s: pause between two attempts while another writer holds the lock.
        stale_after_s: a lock file older than this (by ``wall_seconds``) is removed.
        monotonic: clock the deadline is read on.
        sleep: the pause between attempts.
        wall_seconds: wall clock compared with the lock file's mtime.

    Returns:
        True when the lock is held; False when it was still held at the deadline.

    Raises:
        OSError: the lock file could not be created for another reason.
    """
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            if _remove_if_stale(path, stale_after_s, wall_seconds):
                continue
            if monotonic() >= deadline:
                return False
            sleep(retry_s)
            continue
        os.close(fd)
        return True


def release_lock_file(path: Path | str) -> None:
    """Remove a lock taken with :func:`take_lock_file` (already gone is fine).

    Raises:
        OSError: the lock file exists but could not be removed.
    """
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _remove_if_stale(path: Path | str, stale_after_s: float, wall: Callable[[], float]) -> bool:
    """Remove a lock older than ``stale_after_s``; True when the caller should retry now."""
    try:
        age = wall() - os.stat(path).st_mtime
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if age <= stale_after_s:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True
