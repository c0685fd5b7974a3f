"""The journal backend Protocol: what a session actor needs from a session journal.

Owns: :class:`JournalBackend` (open and recover, prepare and commit a batch,
read events from a sequence, checkpoint, compact, status, close) with its three
views (:class:`DiskView`: bytes and durability, :class:`PositionView`:
sequences, :class:`LeaseView`: the writer lock lease), and
:data:`JournalFactory`, the callable a ``SessionConfig`` may carry to put
sessions on another backend. The file journal (:class:`~.store.JournalStore`)
is the embedded default and satisfies the Protocol as it is; the NATS
JetStream backend lives in :mod:`gait_runtime.cluster`.

Every method is synchronous: the actor calls them from its own I/O thread,
one call per batch (a backend on a network client bridges to its own event
loop). The ``direct_*`` methods are the file journal's io_uring path; a
backend without a descriptor answers ``None`` from
:meth:`JournalBackend.direct_fd` and is never asked for the other two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .compaction import CompactionReport
from .records import CheckpointRecord, EventFields, EventRecord
from .store import JournalStore, PreparedBatch, StoreOptions

__all__ = ["DiskView", "JournalBackend", "JournalFactory", "LeaseView", "PositionView"]


class DiskView(Protocol):
    """Bytes written and their durability."""

    size: int
    dirty: bool
    fsyncs: int
    quarantined: list[Path]

    def sync(self) -> bool:
        """Make pending appends durable; whether there was anything to do."""
        ...


class PositionView(Protocol):
    """Where the journal is."""

    last_sequence: int

    def pending_events(self) -> int:
        """Events appended since the last checkpoint."""
        ...

    def next_checkpoint_end(self, limit: int) -> int:
        """The last sequence the next checkpoint covers, at most ``limit`` events on."""
        ...


class LeaseView(Protocol):
    """The writer lock kept across batches under load (a file journal's Go lock)."""

    keep: bool
    reclaimed: int

    @property
    def held(self) -> bool:
        """True while the lock is held between operations."""
        ...

    def release(self) -> None:
        """Release a held lock (no-op when none is held)."""
        ...


class JournalBackend(Protocol):
    """One session journal opened for writing by one actor."""

    path: Path

    @property
    def disk(self) -> DiskView:
        """Bytes and durability."""
        ...

    @property
    def position(self) -> PositionView:
        """Sequences."""
        ...

    @property
    def lease(self) -> LeaseView:
        """The writer lock lease."""
        ...

    def open(
        self, session_id: str = "", run_id: str = "", *, create: bool = True, full: bool = True
    ) -> bool:
        """Open and recover (last sequence, checkpoint chain head); ``True`` when created."""
        ...

    def prepare(self, items: Sequence[tuple[EventFields, int]]) -> PreparedBatch:
        """Encode a batch with the sequences it will most likely get (CPU only)."""
        ...

    def commit(self, batch: PreparedBatch, *, fsync: bool | None = None) -> list[EventRecord]:
        """Append a prepared batch as one unit; durable when it returns (per policy)."""
        ...

    def direct_fd(self) -> int | None:
        """A descriptor the event loop may write the next batch to, or ``None``."""
        ...

    def direct_done(self, batch: PreparedBatch) -> list[EventRecord]:
        """Account for a batch written whole to :meth:`direct_fd`."""
        ...

    def direct_repair(
        self, batch: PreparedBatch, written: int, error: OSError | None
    ) -> list[EventRecord]:
        """Finish or undo a short or failed write to :meth:`direct_fd`."""
        ...

    def events_from(self, sequence: int) -> list[EventRecord]:
        """Every event record with a sequence of at least ``sequence``, in order."""
        ...

    def checkpoint(
        self, runpack_path: Path, *, chain_out: Path | None = None
    ) -> tuple[CheckpointRecord, Path]:
        """Emit a checkpoint covering every event since the last one."""
        ...

    def compact(self, out: Path | None = None, *, dry_run: bool = False) -> CompactionReport:
        """Drop events covered by verified checkpoints, keeping every sequence."""
        ...

    def status(self) -> dict[str, object]:
        """The session status object (``event_count``, ``last_sequence``, ...)."""
        ...

    def close(self, *, final_state: bool = True) -> None:
        """Make everything durable and release the journal."""
        ...


JournalFactory = Callable[[Path, StoreOptions], JournalBackend]
"""Builds the backend of one session from its journal path and write options."""


def _file_journal_satisfies_the_protocol(path: Path, options: StoreOptions) -> JournalBackend:
    return JournalStore(path, options)  # checked by mypy: the file journal is a backend
