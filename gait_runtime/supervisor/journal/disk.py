"""The open journal on disk: one descriptor and what we know about the bytes behind it.

Owns: :class:`JournalDisk` — (re)opening the descriptor through the injected
opener, appending a batch with one logical write and at most one fsync (cut
back on failure), ``sync`` for the ``interval``/``never`` policies, moving a
torn tail to a quarantine file, noticing a foreign writer (another inode or
size than ours) and the descriptor the event loop's io_uring may write to.
Counts fsyncs, quarantined tails and foreign writes. Never interprets records
(:mod:`.store` and :mod:`.scan` do).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import cast

import structlog

from ...artifacts.fsutil import ensure_dir, write_atomic
from ...errors import SessionInputError
from .files import DirectJournalFile, FileOpener, JournalFile, io_error

__all__ = ["JournalDisk"]

_log = structlog.get_logger("gait_runtime.supervisor.journal.disk")


class JournalDisk:
    """One journal file, opened for appending.

    Args:
        path: the journal ``J``.
        opener: opens the descriptor (tests inject faults here).

    Attributes:
        size: bytes of the journal as we wrote or last read it.
        dirty: bytes were written since the last fsync.
        fsyncs: fsyncs done (including ``O_DSYNC`` writes that stand for one).
        quarantined: quarantine files written for torn tails.
        foreign_writes: times the file changed under us (another writer).
    """

    def __init__(self, path: Path, opener: FileOpener) -> None:
        self.path = path
        self._opener = opener
        self._file: JournalFile | None = None
        self._ino = -1
        self.size = 0
        self.dirty = False
        self.fsyncs = 0
        self.quarantined: list[Path] = []
        self.foreign_writes = 0

    @property
    def is_open(self) -> bool:
        """True while a descriptor is open."""
        return self._file is not None

    def reopen(self) -> None:
        """Close the current descriptor (if any) and open the journal again."""
        if self._file is not None:
            self._file.close()
        ensure_dir(self.path.parent if str(self.path.parent) else Path("."))
        try:
            self._file = self._opener(self.path)
            self._ino = self._file.inode()
        except OSError as exc:
            raise io_error("open session journal", self.path, exc) from exc

    def use_file(self, file: JournalFile) -> None:
        """Swap the open descriptor for ``file`` (fault injection in tests)."""
        self._file = file

    def empty(self) -> None:
        """Open the journal and cut it to zero bytes (a new journal)."""
        self.reopen()
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.truncate(0)
        self.size = 0

    def append(self, data: bytes, *, fsync: bool, done: int = 0) -> None:
        """One logical append: write everything (after the ``done`` bytes already
        written), optionally fsync; undo on failure.

        Raises:
            IOFailure: the write or fsync failed; the file was cut back.
        """
        assert self._file is not None
        before = self.size
        try:
            pos = done
            while pos < len(data):
                pos += self._file.write(data[pos:])
            if fsync:
                self._file.fsync()
                self.fsyncs += 1
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._file.truncate(before)
            raise io_error("append session journal", self.path, exc) from exc
        self.size = before + len(data)
        self.dirty = not fsync

    def sync(self) -> bool:
        """fsync pending appends. Returns whether it did."""
        if not self.dirty or self._file is None:
            return False
        try:
            self._file.fsync()
        except OSError as exc:
            raise io_error("fsync session journal", self.path, exc) from exc
        self.fsyncs += 1
        self.dirty = False
        return True

    def read_all(self) -> bytes:
        """The whole journal."""
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise io_error("read session journal", self.path, exc) from exc

    def read_from(self, offset: int) -> bytes:
        """The journal from ``offset`` up to :attr:`size`."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                return fh.read(self.size - offset)
        except OSError as exc:
            raise io_error("read session journal", self.path, exc) from exc

    def quarantine(self, torn: bytes, good: int) -> None:
        """Move the torn bytes after ``good`` to ``J.quarantine.<good>`` and truncate."""
        target = Path(f"{self.path}.quarantine.{good}")
        n = 1
        while target.exists():
            target = Path(f"{self.path}.quarantine.{good}.{n}")
            n += 1
        write_atomic(target, torn)
        if self._file is None:
            self.reopen()
        assert self._file is not None
        try:
            self._file.truncate(good)
            self._file.fsync()
        except OSError as exc:
            raise io_error("truncate torn session journal", self.path, exc) from exc
        self.quarantined.append(target)
        _log.warning(
            "session journal had a torn tail; moved it to quarantine",
            path=str(self.path),
            torn_bytes=len(torn),
            offset=good,
            quarantine=str(target),
        )

    def changed(self) -> bool:
        """True when someone else wrote or replaced the journal (reopened if replaced).

        Raises:
            SessionInputError: the journal is gone.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise SessionInputError(
                f"session journal not found: {self.path}", code="session_journal_missing"
            ) from exc
        except OSError as exc:
            raise io_error("stat session journal", self.path, exc) from exc
        if st.st_ino == self._ino and st.st_size == self.size:
            return False
        self.foreign_writes += 1
        _log.info("session journal changed on disk; re-reading state", path=str(self.path))
        if st.st_ino != self._ino:
            self.reopen()
        return True

    def direct_fd(self, durable: bool) -> int | None:
        """The descriptor's own fd, when plain writes to it are as durable as asked
        and the journal on disk is still the one we wrote (same inode and size)."""
        get = getattr(self._file, "direct_fd", None)
        fd = None if get is None else cast("int | None", get(durable))
        if fd is None:
            return None
        # The foreign-writer check of commit, kept even under our lease (a line of
        # defence against writers that ignore the lock): a path lookup and an
        # inode read, no lock the journal's writers hold. Anything odd takes the
        # commit path, which re-reads or reports it.
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return fd if st.st_ino == self._ino and st.st_size == self.size else None

    def wrote_directly(self, data: bytes, written: int, *, durable: bool, whole: bool) -> None:
        """Tell the file about ``written`` bytes of ``data`` written to :meth:`direct_fd`;
        with ``whole``, count them as appended (as durable as ``durable`` says)."""
        cast(DirectJournalFile, self._file).wrote_directly(data, written, durable)
        if whole:
            self.size += len(data)
            if durable:
                self.fsyncs += 1
            self.dirty = not durable

    def cut_back(self) -> None:
        """Truncate to :attr:`size` after a failed direct write (errors ignored)."""
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.truncate(self.size)

    def close(self) -> None:
        """Close the descriptor (no-op when closed)."""
        if self._file is not None:
            self._file.close()
            self._file = None
