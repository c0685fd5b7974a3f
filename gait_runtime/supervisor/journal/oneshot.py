"""One-shot session operations with the Go CLI's semantics (``spec/sessions.md`` §3).

Owns: ``start``, ``append``, ``status``, ``checkpoint`` and ``compact`` as
single async calls that open a journal under the Go lock, trust a matching
state file (rebuilding it when stale, as Go does), do one thing and close.
These back ``gait run session ...``; a long-running process uses
:class:`~.sessions.SessionManager` instead. Each call runs its file work in one
worker thread; ``status`` only reads (no lock, no state rewrite, no
quarantine). Unlike Go, a torn tail is quarantined by the writing calls rather
than making the journal unreadable, and a compacted, fully checkpointed journal keeps its
sequence (§5).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio

from ... import __version__
from ...clock import Clock, SystemClock
from ...errors import SessionInputError
from .compaction import CompactionReport
from .lock import HeldSessionLock, LockSettings, lock_settings_from_env
from .records import CheckpointRecord, EventFields, EventRecord, normalize_fields
from .scan import load_state, scan_journal, split_torn_tail
from .store import JournalStore, StoreOptions

__all__ = [
    "session_append",
    "session_checkpoint",
    "split_checkpoint_path",
    "session_compact",
    "session_start",
    "session_status",
]

_T = TypeVar("_T")


def _store(journal: Path, clock: Clock | None, lock: LockSettings | None) -> JournalStore:
    settings = lock or lock_settings_from_env()
    return JournalStore(
        journal,
        StoreOptions(
            lock=settings,
            fsync_events=not settings.swarm,
            state_updates="durable",
            producer_version=__version__,
            clock=clock or SystemClock(),
        ),
    )


async def _run(
    journal: Path,
    clock: Clock | None,
    lock: LockSettings | None,
    work: Callable[[JournalStore], _T],
) -> _T:
    def call() -> _T:
        store = _store(journal, clock, lock)
        try:
            return work(store)
        finally:
            store.close(final_state=False)

    return await anyio.to_thread.run_sync(call)


async def session_start(
    journal: Path,
    session_id: str,
    run_id: str,
    *,
    clock: Clock | None = None,
    lock: LockSettings | None = None,
) -> dict[str, object]:
    """Create the journal (header + state) or accept it if it has the same ids; return status."""

    def work(store: JournalStore) -> dict[str, object]:
        store.open(session_id, run_id, create=True, full=False)
        return store.status()

    return await _run(journal, clock, lock, work)


async def session_append(
    journal: Path,
    event: EventFields,
    *,
    clock: Clock | None = None,
    lock: LockSettings | None = None,
) -> EventRecord:
    """Append one event to an existing journal; returns the record written."""
    fields = normalize_fields(event)

    def work(store: JournalStore) -> EventRecord:
        store.open(create=False, full=False)
        now = fields.created_at_ns
        if now is None:
            now = store.options.clock.now_ns()
        return store.append([(fields, now)])[0]

    return await _run(journal, clock, lock, work)


async def session_status(
    journal: Path, *, clock: Clock | None = None, lock: LockSettings | None = None
) -> dict[str, object]:
    """Status of an existing journal, read-only: no file is created, changed or moved.

    The read happens under the Go session lock (a consistent snapshot; the
    lock file is removed again). A state file whose size matches is trusted (as
    Go does); otherwise the journal is scanned in memory, and the state file is
    not rewritten. A torn tail is left in place and reported as
    ``torn_tail_bytes`` (the next writer quarantines it).

    Raises:
        SessionInputError: the journal is missing or invalid.
        ContentionError: the lock could not be taken in time.
    """
    del clock
    settings = lock or lock_settings_from_env()

    def call() -> dict[str, object]:
        held = HeldSessionLock(journal, settings)
        held.acquire()
        try:
            return _read_status(journal)
        finally:
            held.release()

    return await anyio.to_thread.run_sync(call)


def _read_status(journal: Path) -> dict[str, object]:
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise SessionInputError(
            f"read session journal {journal}: {exc.strerror or exc}", code="session_journal_invalid"
        ) from exc
    if not data:
        raise SessionInputError(
            f"session journal not found: {journal}", code="session_journal_missing"
        )
    state = load_state(Path(str(journal) + ".state.json"), len(data))
    if state is not None:
        return {
            "session_id": state.session_id,
            "run_id": state.run_id,
            "created_at": state.created_at,
            "started_at": state.started_at,
            "event_count": state.event_count,
            "checkpoint_count": state.checkpoint_count,
            "last_sequence": state.last_sequence,
        }
    good, torn = split_torn_tail(data)
    scan = scan_journal(data[:good])
    status: dict[str, object] = {
        "session_id": scan.header.session_id,
        "run_id": scan.header.run_id,
        "created_at": scan.header.created_at,
        "started_at": scan.header.started_at,
        "event_count": scan.event_count,
        "checkpoint_count": len(scan.checkpoints),
        "last_sequence": scan.last_sequence,
    }
    if torn:
        status["torn_tail_bytes"] = len(torn)
    return status


def split_checkpoint_path(out: Path, part: int) -> Path:
    """Where part ``part`` (1-based) of a split checkpoint goes: ``out`` itself for the
    first, then ``<stem>.<part><suffix>`` beside it (``cp.zip``, ``cp.2.zip``, ...)."""
    return out if part == 1 else out.with_name(f"{out.stem}.{part}{out.suffix}")


async def session_checkpoint(
    journal: Path,
    out: Path,
    *,
    chain_out: Path | None = None,
    clock: Clock | None = None,
    lock: LockSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[CheckpointRecord], Path]:
    """Checkpoint every event since the last checkpoint, starting with the runpack ``out``.

    More than :data:`~.store.CHECKPOINT_MAX_EVENTS` pending events are split into
    consecutive checkpoints (see :func:`split_checkpoint_path`), so no runpack is
    ever larger than a reader accepts. ``progress(done, total)`` is called after
    each one with the events covered so far.
    """

    def work(store: JournalStore) -> tuple[list[CheckpointRecord], Path]:
        store.open(create=False, full=False)
        total = store.position.pending_events()
        records: list[CheckpointRecord] = []
        record, chain = store.checkpoint(out, chain_out=chain_out)
        records.append(record)
        while store.position.pending_events() > 0:
            if progress is not None:
                progress(total - store.position.pending_events(), total)
            target = split_checkpoint_path(out, len(records) + 1)
            record, chain = store.checkpoint(target, chain_out=chain_out)
            records.append(record)
        if progress is not None and len(records) > 1:
            progress(total, total)
        return records, chain

    return await _run(journal, clock, lock, work)


async def session_compact(
    journal: Path,
    *,
    out: Path | None = None,
    dry_run: bool = False,
    clock: Clock | None = None,
    lock: LockSettings | None = None,
) -> CompactionReport:
    """Compact the journal (to ``out`` when given) or report what would change."""

    def work(store: JournalStore) -> CompactionReport:
        store.open(create=False, full=False)
        return store.compact(out, dry_run=dry_run)

    return await _run(journal, clock, lock, work)
