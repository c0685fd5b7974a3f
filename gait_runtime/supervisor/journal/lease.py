"""The Go session lock around each store operation, optionally kept between operations (a lease).

Owns: :class:`SessionLockLease` — take ``<journal>.lock`` (:mod:`.lock`) for
one read-modify-write, or, while :attr:`~SessionLockLease.keep` is set, keep
it after the operation so that sustained load pays one lock file create and
unlink per lease instead of per batch. Before a kept lock is released, a
callback runs (the store writes the state file it left stale under the lease).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from .lock import HeldSessionLock, LockSettings

__all__ = ["SessionLockLease"]


class SessionLockLease:
    """The session lock of one journal, held per operation or as a lease.

    Args:
        journal: the journal path ``J`` (the lock file is ``J.lock``).
        settings: lock timeout, retry and staleness.
        before_release: called right before a kept lock is released.

    Attributes:
        keep: keep the lock after the current operation (a lease).
        reclaimed: stale or orphaned locks this lease removed.
    """

    def __init__(
        self, journal: Path, settings: LockSettings, *, before_release: Callable[[], None]
    ) -> None:
        self._journal = journal
        self._settings = settings
        self._before_release = before_release
        self._held: HeldSessionLock | None = None
        self.keep = False
        self.reclaimed = 0

    @contextlib.contextmanager
    def around(self) -> Iterator[None]:
        """The lock around one operation, or the lease already held.

        With :attr:`keep` set, the lock is kept after the operation (released
        by :meth:`release`).
        """
        if self._held is not None:
            try:
                yield
            finally:
                if not self.keep:
                    self.release()
            return
        handle = HeldSessionLock(self._journal, self._settings, on_reclaim=self._count_reclaim)
        handle.acquire()
        try:
            yield
        finally:
            if self.keep:
                self._held = handle
            else:
                handle.release()

    @property
    def held(self) -> bool:
        """True while a lease is held between operations."""
        return self._held is not None

    def release(self) -> None:
        """Run the before-release callback and release a held lease (no-op when none)."""
        if self._held is None:
            return
        self._before_release()
        held, self._held = self._held, None
        held.release()

    def _count_reclaim(self, _reason: str) -> None:
        self.reclaimed += 1
