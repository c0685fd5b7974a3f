"""Journal files that report group commits to the Prometheus metrics.

Owns: :func:`metered_opener`, wrapping the session layer's journal opener so
that each ``write`` observes its batch size (records per group commit) and
each ``fsync`` is counted, including writes the io_uring makes straight to
the descriptor. The journal modules themselves know nothing of metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from ...telemetry.metrics import Metrics
from ..journal.files import DirectJournalFile, FileOpener, JournalFile

__all__ = ["metered_opener"]


class _MeteredJournalFile:
    """A journal descriptor that reports group commits to the metrics.

    Every ``write`` of the store is one group commit of whole JSONL records, so
    the number of newlines written is the batch size; every ``fsync`` counts.
    Wraps whatever opener the session layer was given (the real file, or a
    test's fault-injection file); the journal modules themselves are unchanged.
    """

    __slots__ = ("_inner", "_metrics")

    def __init__(self, inner: JournalFile, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def write(self, data: bytes) -> int:
        """Write through; observe the records (lines) the write completed."""
        written = self._inner.write(data)
        self._observe(data, written)
        return written

    def _observe(self, data: bytes, written: int) -> None:
        records = data.count(b"\n", 0, written)
        if records:
            self._metrics.batch_size.observe(records)

    def fsync(self) -> None:
        """fsync through and count it."""
        self._inner.fsync()
        self._metrics.fsyncs.inc()

    def truncate(self, size: int) -> None:
        """Truncate through."""
        self._inner.truncate(size)

    def inode(self) -> int:
        """Inode of the underlying file."""
        return self._inner.inode()

    def direct_fd(self, durable: bool) -> int | None:
        """The underlying file's direct descriptor, if it offers one."""
        get = getattr(self._inner, "direct_fd", None)
        return None if get is None else cast("int | None", get(durable))

    def wrote_directly(self, data: bytes, written: int, durable: bool) -> None:
        """Observe a write made straight to the descriptor (and its sync) like :meth:`write`."""
        cast(DirectJournalFile, self._inner).wrote_directly(data, written, durable)
        self._observe(data, written)
        if durable:
            self._metrics.fsyncs.inc()

    def close(self) -> None:
        """Close the underlying descriptor."""
        self._inner.close()


def metered_opener(opener: FileOpener, metrics: Metrics) -> FileOpener:
    def open_metered(path: Path) -> JournalFile:
        return _MeteredJournalFile(opener(path), metrics)

    return open_metered
