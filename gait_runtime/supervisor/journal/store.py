"""The synchronous journal store: every byte a session writes goes through here.

Owns: one open ``O_APPEND`` descriptor per journal, the Go session lock taken
around every read-modify-write (``spec/sessions.md`` §7), appending a batch of
events with one ``write`` and at most one ``fsync`` (§9.1), crash recovery on
open (a torn tail is moved to a quarantine file and the journal truncated to
its last good line), noticing foreign writers (a Go CLI appending between our
batches, or a compaction that replaced the file) and re-syncing from disk,
checkpoints (§4) and compaction (§5, via :mod:`.compaction`), and keeping
``J.state.json`` correct for Go readers (§6).

The in-memory counters are the truth while the store is open; the journal is
re-read only on open, after a foreign write, and for checkpoints (only the
uncheckpointed tail) and compaction. The session actor calls these methods from
a worker thread, one call per batch, so nothing here is async. This module is
long because the lock, the write path and recovery must be read together.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, cast

import msgspec
import structlog

from ...artifacts.fsutil import ensure_dir, fsync_dir, write_atomic
from ...artifacts.signing import SigningKey
from ...artifacts.timefmt import format_ns
from ...clock import Clock, SystemClock
from ...errors import IOFailure, SessionInputError
from ...runpack import write_runpack
from .checkpoint import build_checkpoint_record, build_checkpoint_runpack
from .compaction import CompactionReport, compact_bytes, verify_covering_checkpoints
from .lock import HeldSessionLock, LockSettings
from .records import (
    HEADER_SCHEMA,
    SCHEMA_VERSION,
    CheckpointRecord,
    Envelope,
    EventFields,
    EventRecord,
    HeaderRecord,
    build_event,
    encode_line,
)
from .scan import (
    SessionState,
    chain_bytes,
    chain_path_for,
    load_state,
    scan_journal,
    split_torn_tail,
    state_bytes,
    write_chain,
    write_state_fast,
)

__all__ = [
    "DirectJournalFile",
    "FileOpener",
    "JournalFile",
    "JournalStore",
    "OsJournalFile",
    "PreparedBatch",
    "StoreOptions",
    "journal_opener",
]

_log = structlog.get_logger("gait_runtime.supervisor.journal.store")
_TAIL_DECODER = msgspec.json.Decoder(Envelope)
StateUpdates = Literal["batch", "durable", "rest"]


class JournalFile(Protocol):
    """The few operations the store needs on an open journal (a seam for fault injection)."""

    def write(self, data: bytes) -> int:
        """Append bytes; may write fewer than given (like ``os.write``)."""
        ...

    def fsync(self) -> None:
        """Make written bytes durable."""
        ...

    def truncate(self, size: int) -> None:
        """Cut the file back to ``size`` bytes."""
        ...

    def inode(self) -> int:
        """Inode of the open file."""
        ...

    def close(self) -> None:
        """Close the descriptor."""
        ...


class OsJournalFile:
    """A real journal descriptor: ``O_WRONLY | O_CREAT | O_APPEND``, mode 0600.

    Args:
        path: the journal.
        sync_writes: open with ``O_DSYNC``: every ``write`` returns only once its
            data and the new file size are on stable storage (what ``fdatasync``
            guarantees), so :meth:`fsync` has nothing left to do. One system call
            per batch instead of two, and one hand-over of the interpreter lock
            fewer in the I/O thread: 10–30 % more appends/s with 16 sessions on
            the development VM (``docs/performance.md``).
    """

    def __init__(self, path: Path, *, sync_writes: bool = False) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        if sync_writes:
            flags |= os.O_DSYNC
        self.sync_writes = sync_writes
        self._fd = os.open(path, flags, 0o600)

    def write(self, data: bytes) -> int:
        """``os.write``."""
        return os.write(self._fd, data)

    def fsync(self) -> None:
        """``os.fsync`` (nothing to do with ``sync_writes``: every write was durable)."""
        if not self.sync_writes:
            os.fsync(self._fd)

    def truncate(self, size: int) -> None:
        """``os.ftruncate``."""
        os.ftruncate(self._fd, size)

    def inode(self) -> int:
        """``fstat().st_ino``."""
        return os.fstat(self._fd).st_ino

    def direct_fd(self, durable: bool) -> int | None:
        """The descriptor itself, when a plain write to it is as durable as asked
        (``durable`` needs ``sync_writes``); ``None`` otherwise or once closed."""
        if self._fd < 0 or (durable and not self.sync_writes):
            return None
        return self._fd

    def wrote_directly(self, data: bytes, written: int, durable: bool) -> None:
        """Nothing to account for on a plain descriptor."""

    def close(self) -> None:
        """``os.close`` (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class DirectJournalFile(JournalFile, Protocol):
    """A journal file that may also be written through its descriptor by someone
    else (the event loop's io_uring), with :meth:`wrote_directly` told after."""

    def direct_fd(self, durable: bool) -> int | None:
        """A descriptor whose plain writes are as durable as :meth:`write` (plus
        :meth:`fsync` when ``durable``), or ``None``."""
        ...

    def wrote_directly(self, data: bytes, written: int, durable: bool) -> None:
        """Account for ``written`` bytes of ``data`` written to :meth:`direct_fd`."""
        ...


FileOpener = Callable[[Path], JournalFile]


def journal_opener(*, sync_writes: bool) -> FileOpener:
    """The real-file opener; ``sync_writes`` for the ``always`` fsync policy (``O_DSYNC``)."""
    return functools.partial(OsJournalFile, sync_writes=True) if sync_writes else OsJournalFile


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
    """

    lock: LockSettings = field(default_factory=LockSettings)
    fsync_events: bool = True
    state_updates: StateUpdates = "batch"
    producer_version: str = "0.0.0-dev"
    clock: Clock = field(default_factory=SystemClock)
    opener: FileOpener = OsJournalFile
    signing_key: SigningKey | None = None
    env: dict[str, str] | None = None


def _io(what: str, path: Path, exc: OSError) -> IOFailure:
    code = "disk_full" if exc.errno == errno.ENOSPC else "io_failure"
    return IOFailure(f"{what} {path}: {exc.strerror or exc}", code=code)


class JournalStore:
    """One session journal, opened for writing.

    Args:
        path: the journal path ``J``.
        options: write behaviour.
    """

    def __init__(self, path: Path, options: StoreOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or StoreOptions()
        self.state_path = Path(str(self.path) + ".state.json")
        self.chain_path = chain_path_for(self.path)
        self._file: JournalFile | None = None
        self._ino = -1
        self.header: HeaderRecord | None = None
        self.size = 0
        self.event_count = 0
        self.last_sequence = 0
        self.checkpoint_count = 0
        self.last_checkpoint_sequence = 0
        self.last_checkpoint_digest = ""
        self.checkpoints: list[CheckpointRecord] | None = None
        self.tail_offset: int | None = None
        self.dirty = False
        self.fsyncs = 0
        self.quarantined: list[Path] = []
        self.reclaimed_locks = 0
        self.foreign_writes = 0
        self.hold_lock = False
        self._held: HeldSessionLock | None = None
        self._state_stale = False

    # ----------------------------------------------------------------- locking

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """The Go session lock around one operation, or the lease already held.

        With :attr:`hold_lock` set, the lock is kept after the operation (a
        lease, released by :meth:`release_lock`); this saves a file create and
        unlink per batch under sustained load.
        """
        if self._held is not None:
            try:
                yield
            finally:
                if not self.hold_lock:
                    self.release_lock()
            return
        handle = HeldSessionLock(self.path, self.options.lock, on_reclaim=self._count_reclaim)
        handle.acquire()
        try:
            yield
        finally:
            if self.hold_lock:
                self._held = handle
            else:
                handle.release()

    @property
    def lock_held(self) -> bool:
        """True while a lock lease is held between operations."""
        return self._held is not None

    def release_lock(self) -> None:
        """Release a held lock lease (no-op when none is held).

        A state left stale by batches under the lease is written first, so a
        reader that takes the lock next finds it exact.
        """
        if self._held is None:
            return
        if self._state_stale and self.header is not None:
            try:
                self._write_state(durable=False)
            except IOFailure as exc:  # a cache: readers rebuild it when it does not match
                _log.warning("session state not updated", path=str(self.state_path), error=str(exc))
        held, self._held = self._held, None
        held.release()

    def _count_reclaim(self, _reason: str) -> None:
        self.reclaimed_locks += 1

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
        with self._lock():
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
            self._reopen()
            self._load(full=full)
            assert self.header is not None
            if (session_id and session_id.strip() != self.header.session_id) or (
                run_id and run_id.strip() != self.header.run_id
            ):
                raise SessionInputError(
                    "session journal already initialized with different session/run",
                    code="session_identity_mismatch",
                    details={"journal": str(self.path)},
                )
            return False

    def _reopen(self) -> None:
        if self._file is not None:
            self._file.close()
        ensure_dir(self.path.parent if str(self.path.parent) else Path("."))
        try:
            self._file = self.options.opener(self.path)
            self._ino = self._file.inode()
        except OSError as exc:
            raise _io("open session journal", self.path, exc) from exc

    def _create(self, session_id: str, run_id: str) -> None:
        now = format_ns(self.options.clock.now_ns())
        header = HeaderRecord(
            schema_id=HEADER_SCHEMA,
            schema_version=SCHEMA_VERSION,
            created_at=now,
            producer_version=self.options.producer_version or "0.0.0-dev",
            session_id=session_id,
            run_id=run_id,
            started_at=now,
            events=msgspec.Raw(b"[]"),
        )
        self._reopen()
        assert self._file is not None
        with contextlib.suppress(OSError):
            self._file.truncate(0)
        self.size = 0
        self._append_bytes(encode_line(Envelope("header", header=header)), fsync=True)
        fsync_dir(self.path.parent if str(self.path.parent) else Path("."))
        self.header = header
        self.event_count = self.last_sequence = self.checkpoint_count = 0
        self.last_checkpoint_sequence = 0
        self.last_checkpoint_digest = ""
        self.checkpoints = []
        self.tail_offset = self.size
        self._write_state(durable=True)

    def _load(self, *, full: bool) -> None:
        try:
            size = os.stat(self.path).st_size
        except OSError as exc:
            raise _io("stat session journal", self.path, exc) from exc
        if not full:
            state = load_state(self.state_path, size)
            if state is not None:
                self._adopt_state(state)
                return
        self._full_scan()
        self._write_state(durable=True)

    def _adopt_state(self, state: SessionState) -> None:
        self.header = HeaderRecord(
            schema_id=HEADER_SCHEMA,
            schema_version=SCHEMA_VERSION,
            created_at=state.created_at,
            producer_version=state.producer_version,
            session_id=state.session_id,
            run_id=state.run_id,
            started_at=state.started_at,
        )
        self.size = state.journal_size_bytes
        self.event_count = state.event_count
        self.last_sequence = state.last_sequence
        self.checkpoint_count = state.checkpoint_count
        self.last_checkpoint_sequence = state.last_checkpoint_sequence
        self.last_checkpoint_digest = state.last_checkpoint_digest
        self.checkpoints = None
        self.tail_offset = None

    def _read_all(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise _io("read session journal", self.path, exc) from exc

    def _full_scan(self) -> None:
        data = self._read_all()
        good, torn = split_torn_tail(data)
        if torn:
            self._quarantine(torn, good)
            data = data[:good]
        scan = scan_journal(data)
        self.header = scan.header
        self.size = scan.size
        self.event_count = scan.event_count
        self.last_sequence = scan.last_sequence
        self.checkpoints = scan.checkpoints
        self.checkpoint_count = len(scan.checkpoints)
        last = scan.checkpoints[-1] if scan.checkpoints else None
        self.last_checkpoint_sequence = last.sequence_end if last else 0
        self.last_checkpoint_digest = last.checkpoint_digest if last else ""
        self.tail_offset = scan.tail_offset

    def _quarantine(self, torn: bytes, good: int) -> None:
        target = Path(f"{self.path}.quarantine.{good}")
        n = 1
        while target.exists():
            target = Path(f"{self.path}.quarantine.{good}.{n}")
            n += 1
        write_atomic(target, torn)
        if self._file is None:
            self._reopen()
        assert self._file is not None
        try:
            self._file.truncate(good)
            self._file.fsync()
        except OSError as exc:
            raise _io("truncate torn session journal", self.path, exc) from exc
        self.quarantined.append(target)
        _log.warning(
            "session journal had a torn tail; moved it to quarantine",
            path=str(self.path),
            torn_bytes=len(torn),
            offset=good,
            quarantine=str(target),
        )

    def _refresh_if_changed(self) -> None:
        """Re-sync from disk when someone else wrote or replaced the journal."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise SessionInputError(
                f"session journal not found: {self.path}", code="session_journal_missing"
            ) from exc
        except OSError as exc:
            raise _io("stat session journal", self.path, exc) from exc
        if st.st_ino == self._ino and st.st_size == self.size:
            return
        self.foreign_writes += 1
        _log.info("session journal changed on disk; re-reading state", path=str(self.path))
        if st.st_ino != self._ino:
            self._reopen()
        self._load(full=False)

    # ------------------------------------------------------------------ writes

    def _append_bytes(self, data: bytes, *, fsync: bool, done: int = 0) -> None:
        """One logical append: write everything (after the ``done`` bytes already
        written), optionally fsync; undo on failure."""
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
            raise _io("append session journal", self.path, exc) from exc
        self.size = before + len(data)
        self.dirty = not fsync

    def _write_state(self, *, durable: bool) -> None:
        assert self.header is not None
        state = SessionState(
            updated_at=format_ns(self.options.clock.now_ns()),
            producer_version=self.options.producer_version or "0.0.0-dev",
            session_id=self.header.session_id,
            run_id=self.header.run_id,
            created_at=self.header.created_at,
            started_at=self.header.started_at,
            event_count=self.event_count,
            last_sequence=self.last_sequence,
            checkpoint_count=self.checkpoint_count,
            last_checkpoint_index=self.checkpoint_count,
            last_checkpoint_sequence=self.last_checkpoint_sequence,
            last_checkpoint_digest=self.last_checkpoint_digest,
            journal_size_bytes=self.size,
        )
        data = state_bytes(state)
        if durable:
            write_atomic(self.state_path, data)
        else:
            write_state_fast(self.state_path, data)
        self._state_stale = False

    def prepare(self, items: Sequence[tuple[EventFields, int]]) -> PreparedBatch:
        """Build and encode a batch with the sequences it will most likely get (CPU only).

        Runs on the caller's thread (the event loop) so worker threads do little
        more than syscalls; :meth:`commit` re-encodes in the rare case a foreign
        writer moved the sequence in between.
        """
        assert self.header is not None
        sid, rid = self.header.session_id, self.header.run_id
        pv = self.options.producer_version or self.header.producer_version
        first = self.last_sequence + 1
        records = [build_event(sid, rid, first + i, f, t, pv) for i, (f, t) in enumerate(items)]
        data = b"".join(encode_line(Envelope("event", event=r)) for r in records)
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
        with self._lock():
            self._refresh_if_changed()
            if batch.first_sequence != self.last_sequence + 1:
                batch = self.prepare(batch.items)
            self._append_bytes(batch.data, fsync=do_fsync)
            return self._account(batch)

    def _account(self, batch: PreparedBatch) -> list[EventRecord]:
        """Count a batch that is in the file (and the state file, per ``state_updates``)."""
        self.event_count += len(batch.records)
        if batch.records:
            self.last_sequence = batch.records[-1].sequence
        mode = self.options.state_updates
        if mode == "durable" or (mode == "batch" and not self.hold_lock):
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
        if self._held is None or not self.hold_lock or self.options.state_updates == "durable":
            return None
        get = getattr(self._file, "direct_fd", None)
        fd = None if get is None else cast("int | None", get(self.options.fsync_events))
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

    def direct_done(self, batch: PreparedBatch) -> list[EventRecord]:
        """Account for ``batch`` written whole to :meth:`direct_fd` (no I/O; the loop)."""
        durable = self.options.fsync_events
        cast(DirectJournalFile, self._file).wrote_directly(batch.data, len(batch.data), durable)
        self.size += len(batch.data)
        if durable:
            self.fsyncs += 1
        self.dirty = not durable
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
        assert self._file is not None
        durable = self.options.fsync_events
        if error is not None:
            with contextlib.suppress(OSError):
                self._file.truncate(self.size)
            raise _io("append session journal", self.path, error) from error
        cast(DirectJournalFile, self._file).wrote_directly(batch.data, written, False)
        self._append_bytes(batch.data, fsync=durable, done=written)
        return self._account(batch)

    def append(
        self, items: Sequence[tuple[EventFields, int]], *, fsync: bool | None = None
    ) -> list[EventRecord]:
        """:meth:`prepare` then :meth:`commit` (for synchronous callers)."""
        return self.commit(self.prepare(items), fsync=fsync)

    def sync(self) -> bool:
        """fsync pending appends (``interval``/``never`` policies). Returns whether it did."""
        if not self.dirty or self._file is None:
            return False
        try:
            self._file.fsync()
        except OSError as exc:
            raise _io("fsync session journal", self.path, exc) from exc
        self.fsyncs += 1
        self.dirty = False
        return True

    # ------------------------------------------------------------- checkpoints

    def _tail_events(self) -> list[EventRecord]:
        assert self.tail_offset is not None
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.tail_offset)
                data = fh.read(self.size - self.tail_offset)
        except OSError as exc:
            raise _io("read session journal", self.path, exc) from exc
        events: list[EventRecord] = []
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            env = _TAIL_DECODER.decode(raw)
            if env.event is not None and env.event.sequence > self.last_checkpoint_sequence:
                events.append(env.event)
        return events

    def pending_events(self) -> int:
        """Events appended since the last checkpoint."""
        return max(0, self.last_sequence - self.last_checkpoint_sequence)

    def checkpoint(
        self,
        runpack_path: Path,
        *,
        chain_out: Path | None = None,
    ) -> tuple[CheckpointRecord, Path]:
        """Emit a checkpoint covering every event since the last one (§4.1).

        Args:
            runpack_path: where the checkpoint runpack goes; recorded as given.
            chain_out: also write the chain file here (its directory is created).

        Returns:
            The checkpoint record and the chain path to report.

        Raises:
            SessionInputError: no new events (``checkpoint_empty``).
            IOFailure: a file could not be written.
        """
        with self._lock():
            self._refresh_if_changed()
            if self.checkpoints is None or self.tail_offset is None:
                self._full_scan()
            assert self.header is not None and self.checkpoints is not None
            events = self._tail_events()
            if not events:
                raise SessionInputError(
                    "no new session events available for checkpoint", code="checkpoint_empty"
                )
            if chain_out is not None:
                ensure_dir(chain_out.parent if str(chain_out.parent) else Path("."))
            index = len(self.checkpoints) + 1
            prev = self.checkpoints[-1].checkpoint_digest if self.checkpoints else ""
            now = self.options.clock.now_ns()
            pv = self.options.producer_version or self.header.producer_version
            runpack = build_checkpoint_runpack(
                self.header.session_id,
                index,
                self.header.run_id,
                events,
                created_at_ns=now,
                producer_version=pv,
                env=self.options.env,
                signing_key=self.options.signing_key,
            )
            write_runpack(runpack_path, runpack)
            record = build_checkpoint_record(
                session_id=self.header.session_id,
                run_id=self.header.run_id,
                index=index,
                events=events,
                runpack_path=runpack_path,
                manifest_digest=runpack.manifest_digest,
                prev_digest=prev,
                created_at_ns=now,
                producer_version=pv,
            )
            self._append_bytes(encode_line(Envelope("checkpoint", checkpoint=record)), fsync=True)
            self.dirty = False
            self.checkpoints.append(record)
            self.checkpoint_count = index
            self.last_checkpoint_sequence = record.sequence_end
            self.last_checkpoint_digest = record.checkpoint_digest
            self.last_sequence = max(self.last_sequence, record.sequence_end)
            self.tail_offset = self.size
            self._write_state(durable=True)
            chain = chain_bytes(self.header, self.header.producer_version, self.checkpoints)
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
        with self._lock():
            self._refresh_if_changed()
            if self.dirty:
                self.sync()
            data = self._read_all()
            result = compact_bytes(data)
            in_place = os.path.abspath(target) == os.path.abspath(self.path)
            compacted = (
                result.events_after < result.events_before
                or not in_place
                or len(result.data) != len(data)
            )
            report = CompactionReport(
                journal_path=str(self.path),
                output_path=str(target),
                dry_run=dry_run,
                compacted=compacted,
                events_before=result.events_before,
                events_after=result.events_after,
                checkpoints=len(result.scan.checkpoints),
                last_checkpoint_sequence=result.scan.last_checkpoint_end,
                bytes_before=len(data),
                bytes_after=len(result.data),
            )
            if dry_run or not compacted:
                return report
            if result.events_after < result.events_before:
                verify_covering_checkpoints(result.scan)
            write_atomic(target, result.data)
            if in_place:
                self._reopen()
                self._full_scan()
                self._write_state(durable=True)
            return report

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, object]:
        """The ``status`` object of the CLI (§3)."""
        assert self.header is not None
        return {
            "session_id": self.header.session_id,
            "run_id": self.header.run_id,
            "created_at": self.header.created_at,
            "started_at": self.header.started_at,
            "event_count": self.event_count,
            "checkpoint_count": self.checkpoint_count,
            "last_sequence": self.last_sequence,
        }

    def refresh(self) -> None:
        """Take the lock and re-sync from disk if the journal changed (Go's ``status``)."""
        with self._lock():
            self._refresh_if_changed()

    def close(self, *, final_state: bool = True) -> None:
        """fsync what is pending, write an exact durable state, close the descriptor."""
        if self._file is None:
            return
        try:
            self.sync()
            if final_state and self.header is not None:
                with self._lock():
                    self._refresh_if_changed()
                    self._write_state(durable=True)
        finally:
            self.hold_lock = False
            self.release_lock()
            self._file.close()
            self._file = None
