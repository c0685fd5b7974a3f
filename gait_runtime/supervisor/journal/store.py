"""The synchronous journal store: every byte a session writes goes through here.

Owns: one open ``O_APPEND`` descriptor per journal, the Go session lock taken
around every read-modify-write (``spec/sessions.md`` §7), appending a batch of
events with one ``write`` and at most one ``fsync`` (§9.1), recovery on open
(via :mod:`.recovery`: a torn tail is quarantined), noticing foreign writers and
re-syncing from disk, checkpoints (§4, :mod:`.checkpoint`) and compaction (§5,
:mod:`.compaction`), and keeping ``J.state.json`` correct for Go readers (§6).

The in-memory counters (:class:`~.position.JournalPosition`) are the truth while
open; the journal is re-read only on open, after a foreign write, and for
checkpoints and compaction. The actor calls these from a worker thread, one call
per batch. Disk bytes: :class:`~.disk.JournalDisk`; lock and lease:
:class:`~.lease.SessionLockLease`; the file seam: :mod:`.files`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import structlog

from ...artifacts.fsutil import ensure_dir, fsync_dir, write_atomic
from ...artifacts.signing import SigningKey
from ...artifacts.timefmt import format_ns
from ...clock import Clock, SystemClock
from ...errors import IOFailure, SessionInputError
from .checkpoint import write_checkpoint
from .compaction import (
    CompactionReport,
    compact_bytes,
    compaction_report,
    verify_covering_checkpoints,
)
from .disk import JournalDisk
from .files import DirectJournalFile as DirectJournalFile
from .files import FileOpener as FileOpener
from .files import JournalFile as JournalFile
from .files import OsJournalFile as OsJournalFile
from .files import io_error
from .files import journal_opener as journal_opener
from .lease import SessionLockLease
from .lock import LockSettings
from .position import JournalPosition, new_header
from .records import (
    CheckpointRecord,
    Envelope,
    EventFields,
    EventRecord,
    build_event,
    encode_events,
    encode_line,
)
from .recovery import events_since, full_scan, tail_events
from .scan import chain_bytes, chain_path_for, load_state, state_bytes, write_chain
from .scan import write_state_fast as write_state_fast

__all__ = [
    "CHECKPOINT_MAX_EVENTS",
    "DirectJournalFile",
    "FileOpener",
    "JournalFile",
    "JournalStore",
    "OsJournalFile",
    "PreparedBatch",
    "StateUpdates",
    "StoreOptions",
    "journal_opener",
]

_log = structlog.get_logger("gait_runtime.supervisor.journal.store")

CHECKPOINT_MAX_EVENTS: Final = 10_000
"""Events one checkpoint covers at most: its ``run.json`` stays near 9 MB (about 850
bytes an event), far below the 100 MiB a runpack reader accepts per entry, and the
memory a checkpoint needs stays bounded however long the journal grew. More pending
events are covered by consecutive checkpoints, one call each."""
StateUpdates = Literal["batch", "durable", "rest"]


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Encoded events waiting for :meth:`JournalStore.commit`."""

    first_sequence: int
    items: Sequence[tuple[EventFields, int]]
    records: list[EventRecord]
    data: bytes


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How a store writes.

    Attributes:
        lock: Go session lock tunables.
        fsync_events: fsync after each event batch (checkpoints and headers are
            always fsynced).
        state_updates: ``batch`` keeps ``J.state.json`` exact whenever the session
            lock is free: rewritten in place (no fsync) after a batch that releases
            the lock, or once when a lock lease ends (nobody can read it under our
            lease, so rewriting it per batch bought nothing); ``durable`` rewrites
            it atomically and fsynced after every batch; ``rest`` writes it only
            when exactness matters (checkpoint, compaction, close).
        producer_version: version written into new records.
        clock: wall clock for record timestamps.
        opener: opens the journal descriptor (tests inject faults here).
        signing_key: signs checkpoint runpacks when set.
        env: ``env`` of checkpoint ``run.json`` (host default when ``None``).
        checkpoint_max_events: events one checkpoint covers at most (default
            :data:`CHECKPOINT_MAX_EVENTS`, read when the options are made).
    """

    lock: LockSettings = field(default_factory=LockSettings)
    fsync_events: bool = True
    state_updates: StateUpdates = "batch"
    producer_version: str = "0.0.0-dev"
    clock: Clock = field(default_factory=SystemClock)
    opener: FileOpener = OsJournalFile
    signing_key: SigningKey | None = None
    env: dict[str, str] | None = None
    checkpoint_max_events: int = field(default_factory=lambda: CHECKPOINT_MAX_EVENTS)


class JournalStore:
    """One session journal, opened for writing.

    Args:
        path: the journal path ``J``.
        options: write behaviour.

    Attributes:
        path: the journal.
        state_path: its ``J.state.json`` index.
        chain_path: its ``<base>_chain.json`` chain file.
        options: write behaviour.
        disk: the descriptor and what is known about the bytes (size, fsyncs,
            dirty, quarantined tails, foreign writes); read it, do not change it.
        position: header and counters (last sequence, checkpoints); read only.
        lease: the session lock; set ``lease.keep`` to hold it between
            operations (a lease under sustained load), ``lease.release()`` to end it.
    """

    def __init__(self, path: Path, options: StoreOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or StoreOptions()
        self.state_path = Path(str(self.path) + ".state.json")
        self.chain_path = chain_path_for(self.path)
        self.disk = JournalDisk(self.path, self.options.opener)
        self.position = JournalPosition()
        self.lease = SessionLockLease(
            self.path, self.options.lock, before_release=self._write_stale_state
        )
        self._state_stale = False
        self.state_write_failures = 0

    # ----------------------------------------------------------------- locking

    def _write_stale_state(self) -> None:
        if self._state_stale and self.position.header is not None:
            try:
                self._write_state(durable=False)
            except IOFailure as exc:  # a cache: readers rebuild it when it does not match
                _log.warning("session state not updated", path=str(self.state_path), error=str(exc))

    # ------------------------------------------------------------ open / load

    def open(
        self, session_id: str = "", run_id: str = "", *, create: bool = True, full: bool = True
    ) -> bool:
        """Open the journal, creating it with a header when absent.

        Args:
            session_id: expected session id (empty: accept the journal's).
            run_id: expected run id (empty: accept the journal's).
            create: write a header when the journal is missing or empty.
            full: validate the whole journal (and repair a torn tail) instead of
                trusting a matching state file as the Go CLI does.

        Returns:
            ``True`` when this call created the journal.

        Raises:
            SessionInputError: the journal is invalid, missing (``create`` off),
                or belongs to another session/run.
        """
        if create:
            ensure_dir(self.path.parent if str(self.path.parent) else Path("."))
        with self.lease.around():
            exists = self.path.exists() and self.path.stat().st_size > 0
            if not exists:
                if not create:
                    raise SessionInputError(
                        f"session journal not found: {self.path}", code="session_journal_missing"
                    )
                if not session_id.strip() or not run_id.strip():
                    raise SessionInputError(
                        "session_id and run_id are required to start a session",
                        code="session_start_invalid",
                    )
                self._create(session_id.strip(), run_id.strip())
                return True
            self.disk.reopen()
            self._load(full=full)
            header = self.position.header
            assert header is not None
            if (session_id and session_id.strip() != header.session_id) or (
                run_id and run_id.strip() != header.run_id
            ):
                raise SessionInputError(
                    "session journal already initialized with different session/run",
                    code="session_identity_mismatch",
                    details={"journal": str(self.path)},
                )
            return False

    def _create(self, session_id: str, run_id: str) -> None:
        header = new_header(
            session_id,
            run_id,
            now=format_ns(self.options.clock.now_ns()),
            producer_version=self.options.producer_version or "0.0.0-dev",
        )
        self.disk.empty()
        self.disk.append(encode_line(Envelope("header", header=header)), fsync=True)
        fsync_dir(self.path.parent if str(self.path.parent) else Path("."))
        self.position.start(header, self.disk.size)
        self._write_state(durable=True)

    def _load(self, *, full: bool) -> None:
        try:
            size = os.stat(self.path).st_size
        except OSError as exc:
            raise io_error("stat session journal", self.path, exc) from exc
        if not full:
            state = load_state(self.state_path, size)
            if state is not None:
                self.position.adopt_state(state)
                self.disk.size = state.journal_size_bytes
                return
        full_scan(self.disk, self.position)
        self._write_state(durable=True)

    def _refresh_if_changed(self) -> None:
        """Re-sync from disk when someone else wrote or replaced the journal."""
        if self.disk.changed():
            self._load(full=False)

    # ------------------------------------------------------------------ writes

    def _write_state(self, *, durable: bool) -> None:
        state = self.position.state(
            updated_at=format_ns(self.options.clock.now_ns()),
            producer_version=self.options.producer_version or "0.0.0-dev",
            size=self.disk.size,
        )
        data = state_bytes(state)
        try:
            if durable:
                write_atomic(self.state_path, data)
            else:
                write_state_fast(self.state_path, data)
        except IOFailure as exc:
            # The state file is a size-checked cache: a stale or torn copy is rebuilt
            # from the journal by every reader. A full disk or EIO here must not fail
            # a batch that is already durable, nor a session's (re)start.
            self.state_write_failures += 1
            self._state_stale = True
            _log.warning("session_state_write_failed", path=str(self.state_path), error=exc.message)
            return
        self._state_stale = False

    def prepare(self, items: Sequence[tuple[EventFields, int]]) -> PreparedBatch:
        """Build and encode a batch with the sequences it will most likely get (CPU only).

        Runs on the caller's thread (the event loop) so worker threads do little
        more than syscalls; :meth:`commit` re-encodes in the rare case a foreign
        writer moved the sequence in between.
        """
        header = self.position.header
        assert header is not None
        sid, rid = header.session_id, header.run_id
        pv = self.options.producer_version or header.producer_version
        first = self.position.last_sequence + 1
        records = [build_event(sid, rid, first + i, f, t, pv) for i, (f, t) in enumerate(items)]
        data = encode_events(records)
        return PreparedBatch(first, items, records, data)

    def commit(self, batch: PreparedBatch, *, fsync: bool | None = None) -> list[EventRecord]:
        """Append a prepared batch under the lock with one write and at most one fsync.

        Args:
            batch: from :meth:`prepare`.
            fsync: override ``options.fsync_events`` for this batch.

        Returns:
            The records written, in order, with their sequences.

        Raises:
            IOFailure: the write or fsync failed; the journal was cut back to
                its previous size and nothing in the batch counts as appended.
        """
        do_fsync = self.options.fsync_events if fsync is None else fsync
        with self.lease.around():
            self._refresh_if_changed()
            if batch.first_sequence != self.position.last_sequence + 1:
                batch = self.prepare(batch.items)
            self.disk.append(batch.data, fsync=do_fsync)
            return self._account(batch)

    def _account(self, batch: PreparedBatch) -> list[EventRecord]:
        """Count a batch that is in the file (and the state file, per ``state_updates``)."""
        self.position.event_count += len(batch.records)
        if batch.records:
            self.position.last_sequence = batch.records[-1].sequence
        mode = self.options.state_updates
        if mode == "durable" or (mode == "batch" and not self.lease.keep):
            self._write_state(durable=mode == "durable")
        elif mode == "batch":
            self._state_stale = True  # written when the lease ends (release_lock)
        return batch.records

    # ------------------------------------------------- direct (io_uring) writes

    def direct_fd(self) -> int | None:
        """The descriptor the next batch may be written to by the event loop, or ``None``.

        Only while a lock lease is held since an earlier batch and continues
        after this one (no lock file and no state file due: the batch is one
        ``write``), the state file is not ``durable``, the journal file offers
        a descriptor whose plain writes are as durable as the fsync policy asks
        (``O_DSYNC`` under ``always``), and the journal on disk is still the
        one we wrote (same inode and size; one ``stat``). The caller writes ``batch.data`` to it and then calls
        :meth:`direct_done` (whole) or :meth:`direct_repair` (short or failed).
        """
        if not self.lease.held or not self.lease.keep or self.options.state_updates == "durable":
            return None
        return self.disk.direct_fd(self.options.fsync_events)

    def direct_done(self, batch: PreparedBatch) -> list[EventRecord]:
        """Account for ``batch`` written whole to :meth:`direct_fd` (no I/O; the loop)."""
        durable = self.options.fsync_events
        self.disk.wrote_directly(batch.data, len(batch.data), durable=durable, whole=True)
        return self._account(batch)

    def direct_repair(
        self, batch: PreparedBatch, written: int, error: OSError | None
    ) -> list[EventRecord]:
        """After a short or failed write to :meth:`direct_fd` (an I/O thread call).

        A short write is finished like :meth:`commit` finishes one; a failed
        write is cut back to the journal's size before it, and nothing in the
        batch counts as appended.

        Raises:
            IOFailure: the write failed (or finishing it did).
        """
        if error is not None:
            self.disk.cut_back()
            raise io_error("append session journal", self.path, error) from error
        self.disk.wrote_directly(batch.data, written, durable=False, whole=False)
        self.disk.append(batch.data, fsync=self.options.fsync_events, done=written)
        return self._account(batch)

    def append(
        self, items: Sequence[tuple[EventFields, int]], *, fsync: bool | None = None
    ) -> list[EventRecord]:
        """:meth:`prepare` then :meth:`commit` (for synchronous callers)."""
        return self.commit(self.prepare(items), fsync=fsync)

    # ------------------------------------------------------------- checkpoints

    def checkpoint(
        self,
        runpack_path: Path,
        *,
        chain_out: Path | None = None,
    ) -> tuple[CheckpointRecord, Path]:
        """Emit a checkpoint covering the events since the last one (§4.1), at most
        ``options.checkpoint_max_events`` of them: call again while events are pending.

        Args:
            runpack_path: where the checkpoint runpack goes; recorded as given.
            chain_out: also write the chain file here (its directory is created).

        Returns:
            The checkpoint record and the chain path to report.

        Raises:
            SessionInputError: no new events (``checkpoint_empty``).
            IOFailure: a file could not be written.
        """
        pos = self.position
        with self.lease.around():
            self._refresh_if_changed()
            if pos.checkpoints is None or pos.tail_offset is None:
                full_scan(self.disk, self.position)
            header, checkpoints = pos.header, pos.checkpoints
            assert header is not None and checkpoints is not None
            events, covered_to = tail_events(self.disk, pos, self.options.checkpoint_max_events)
            if not events:
                raise SessionInputError(
                    "no new session events available for checkpoint", code="checkpoint_empty"
                )
            if chain_out is not None:
                ensure_dir(chain_out.parent if str(chain_out.parent) else Path("."))
            record = write_checkpoint(
                header,
                len(checkpoints) + 1,
                checkpoints[-1].checkpoint_digest if checkpoints else "",
                events,
                runpack_path,
                created_at_ns=self.options.clock.now_ns(),
                producer_version=self.options.producer_version or header.producer_version,
                env=self.options.env,
                signing_key=self.options.signing_key,
            )
            self.disk.append(encode_line(Envelope("checkpoint", checkpoint=record)), fsync=True)
            self.disk.dirty = False
            pos.add_checkpoint(record, self.disk.size)
            if pos.pending_events():
                # a bounded checkpoint: the events not covered yet start at covered_to
                # (the checkpoint line itself, appended at the end, holds no event)
                pos.tail_offset = covered_to
            self._write_state(durable=True)
            chain = chain_bytes(header, header.producer_version, checkpoints)
            write_chain(self.chain_path, chain)
            if chain_out is not None:
                write_chain(chain_out, chain)
            return record, chain_out if chain_out is not None else self.chain_path

    # -------------------------------------------------------------- compaction

    def compact(self, out: Path | None = None, *, dry_run: bool = False) -> CompactionReport:
        """Drop events covered by verified checkpoints (§5), keeping every sequence.

        Raises:
            VerificationError: a checkpoint runpack covering dropped events is
                missing or fails verification; nothing was changed.
        """
        target = Path(out) if out is not None else self.path
        with self.lease.around():
            self._refresh_if_changed()
            self.disk.sync()
            data = self.disk.read_all()
            result = compact_bytes(data)
            report = compaction_report(self.path, target, data, result, dry_run=dry_run)
            compacted = report.compacted
            # A dry run answers what the real run would do: it too refuses to drop
            # history whose covering checkpoint is missing or does not verify.
            if compacted and result.events_after < result.events_before:
                verify_covering_checkpoints(result.scan)
            if dry_run or not compacted:
                return report
            write_atomic(target, result.data)
            if os.path.abspath(target) == os.path.abspath(self.path):
                self.disk.reopen()
                full_scan(self.disk, self.position)
                self._write_state(durable=True)
            return report

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, object]:
        """The ``status`` object of the CLI (§3)."""
        return self.position.status()

    def events_from(self, sequence: int) -> list[EventRecord]:
        """Every event record in the journal with a sequence of at least ``sequence``."""
        with self.lease.around():
            self._refresh_if_changed()
            data = self.disk.read_all()[: self.disk.size]
        return events_since(data, sequence)

    def refresh(self) -> None:
        """Take the lock and re-sync from disk if the journal changed (Go's ``status``)."""
        with self.lease.around():
            self._refresh_if_changed()

    def close(self, *, final_state: bool = True) -> None:
        """fsync what is pending, write an exact durable state, close the descriptor."""
        if not self.disk.is_open:
            return
        try:
            self.disk.sync()
            if final_state and self.position.header is not None:
                with self.lease.around():
                    self._refresh_if_changed()
                    self._write_state(durable=True)
        finally:
            self.lease.keep = False
            self.lease.release()
            self.disk.close()
