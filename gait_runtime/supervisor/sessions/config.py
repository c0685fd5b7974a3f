"""Session settings: one frozen value per :class:`~.sessions.SessionManager`.

Owns: :class:`SessionConfig` (where journals live, the fsync policy, mailbox and
batch sizes, idle timeout, checkpoint cadence, restart intensity, the optional
checkpoint signing key, the wall clock) and its validation. Every buffer size
here is a named, bounded number, never ``math.inf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, get_args

from ... import __version__
from ...artifacts.signing import SigningKey
from ...clock import Clock, SystemClock
from ...errors import UsageError
from ..journal.backend import JournalFactory
from ..journal.lock import LockSettings
from ..journal.store import CHECKPOINT_MAX_EVENTS, FileOpener, StateUpdates, journal_opener

__all__ = [
    "FSYNC_POLICIES",
    "JOURNAL_IO_MODES",
    "STATE_UPDATE_MODES",
    "FsyncPolicy",
    "JournalIo",
    "SessionConfig",
    "StateUpdates",
]

FsyncPolicy = Literal["always", "interval", "never"]
"""When journal appends become durable (``always``: one fsync per batch)."""
FSYNC_POLICIES: Final[tuple[FsyncPolicy, ...]] = get_args(FsyncPolicy)
STATE_UPDATE_MODES: Final[tuple[StateUpdates, ...]] = get_args(StateUpdates)
JournalIo = Literal["auto", "uring", "thread"]
JOURNAL_IO_MODES: Final[tuple[JournalIo, ...]] = get_args(JournalIo)


@dataclass(frozen=True)
class SessionConfig:
    """Settings shared by every session of one manager.

    Attributes:
        session_dir: directory holding ``<base>.journal.jsonl`` files (and the
            state-directory lock).
        fsync: ``always`` = one fsync per batch before anyone is answered;
            ``interval`` = answer after the write, fsync at most every
            ``fsync_interval_s`` (a crash of the machine, not of the process,
            may lose that window); ``never`` = fsync only at checkpoints and stop.
        fsync_interval_s: the ``interval`` window.
        mailbox_size: bounded mailbox capacity per session (backpressure beyond).
        batch_limit: most appends written by one ``write``/``fsync``.
        idle_timeout_s: stop a session actor after this long without messages
            (0 disables).
        checkpoint_every_events: checkpoint when this many events are pending
            (0 disables).
        checkpoint_every_s: checkpoint pending events this often (0 disables).
        checkpoint_dir: where checkpoint runpacks go (default ``session_dir``).
        checkpoint_max_events: events one checkpoint covers at most (more
            pending events are covered by consecutive checkpoints).
        restart_intensity: ``(max_restarts, window_s)``; one more crash inside the
            window marks the session failed.
        signing_key: sign checkpoint runpacks with this key.
        producer_version: written into every record.
        clock: wall clock for record timestamps.
        state_updates: how often ``J.state.json`` is rewritten (see
            :class:`~.store.StoreOptions`).
        lock: Go session lock tunables (honoured for every batch).
        lock_lease_s: under sustained load keep the Go lock across batches for up
            to this long instead of creating and deleting ``J.lock`` per batch
            (a Go CLI waits at most this plus its retry interval); ``0`` takes
            and releases it for every batch.
        final_checkpoint: on drain, checkpoint pending events when a checkpoint
            cadence is configured.
        drain_timeout_s: bound on the shielded drain in ``__aexit__``.
        opener: opens journal descriptors (fault injection in tests); ``None``
            opens real files, with ``O_DSYNC`` under ``fsync=always`` (each
            batch's one ``write`` is durable when it returns).
        trust_state_on_start: an actor start trusts ``J.state.json`` when its
            ``journal_size_bytes`` equals the journal's size (Go's rule; the state is
            written only after complete writes, so a torn tail or a hand edit that
            changes the size is always caught) and reads the journal only for its
            first checkpoint; ``False`` validates the whole journal on every start.
        journal_io: how appends reach the journal while a session holds its lock
            lease: ``auto`` submits them to an io_uring shared by the manager
            when the kernel allows one (see :mod:`.uring`), else uses the
            actor's thread; ``uring`` requires the ring (the manager fails to
            start without it); ``thread`` never uses one. Lock and state files,
            checkpoints and recovery always use the thread.
        max_sessions: the bound on sessions open at once (each holds a journal
            descriptor and a thread). ``0`` derives it at start-up from the
            process's descriptor limit (``RLIMIT_NOFILE``), keeping a quarter of
            it (at least 64) for connections, traces, health and metrics. At the
            bound, opening a session first closes the least recently used one
            with an empty mailbox; when every open session is busy the new one
            is refused with :class:`~gait_runtime.errors.SessionLimitReached`.
        offload_io: run journal I/O in each actor's own worker thread (default,
            see :mod:`.iothread`). ``False`` runs
            it on the event loop: for virtual-time tests (a task waiting on a
            thread looks blocked to an autojumping clock) and single-session tools.
        journal_factory: builds each session's journal backend (see
            :mod:`..journal.backend`); ``None`` is the file journal in ``session_dir``.
    """

    session_dir: Path
    fsync: FsyncPolicy = "always"
    fsync_interval_s: float = 0.05
    mailbox_size: int = 1024
    batch_limit: int = 256
    idle_timeout_s: float = 300.0
    checkpoint_every_events: int = 0
    checkpoint_every_s: float = 0.0
    checkpoint_dir: Path | None = None
    checkpoint_max_events: int = CHECKPOINT_MAX_EVENTS
    restart_intensity: tuple[int, float] = (3, 10.0)
    signing_key: SigningKey | None = None
    producer_version: str = __version__
    clock: Clock = field(default_factory=SystemClock)
    state_updates: StateUpdates = "batch"
    lock: LockSettings = field(default_factory=LockSettings)
    lock_lease_s: float = 0.05
    final_checkpoint: bool = True
    drain_timeout_s: float = 30.0
    opener: FileOpener | None = None
    trust_state_on_start: bool = True
    offload_io: bool = True
    journal_io: JournalIo = "auto"
    journal_factory: JournalFactory | None = None
    max_sessions: int = 0

    def __post_init__(self) -> None:
        if self.fsync not in FSYNC_POLICIES:
            raise UsageError(f"fsync: unsupported policy {self.fsync!r}")
        if self.mailbox_size < 1 or self.batch_limit < 1:
            raise UsageError("mailbox_size and batch_limit must be at least 1")
        if self.fsync == "interval" and self.fsync_interval_s <= 0:
            raise UsageError("fsync_interval_s must be positive with fsync=interval")
        restarts, window = self.restart_intensity
        if restarts < 0 or window <= 0:
            raise UsageError("restart_intensity must be (restarts >= 0, window_s > 0)")
        if self.checkpoint_every_events < 0 or self.checkpoint_every_s < 0:
            raise UsageError("checkpoint cadence must not be negative")
        if self.checkpoint_max_events < 1:
            raise UsageError("checkpoint_max_events must be at least 1")
        if self.lock_lease_s < 0:
            raise UsageError("lock_lease_s must not be negative")
        if self.journal_io not in JOURNAL_IO_MODES:
            raise UsageError(f"journal_io: unsupported value {self.journal_io!r}")
        if self.max_sessions < 0:
            raise UsageError("max_sessions must not be negative (0 derives it)")
        if self.idle_timeout_s < 0 or self.drain_timeout_s <= 0:
            raise UsageError("idle_timeout_s must be >= 0 and drain_timeout_s > 0")

    def session_bound(self) -> int:
        """:attr:`max_sessions`, or the bound the descriptor limit allows when it is 0."""
        if self.max_sessions:
            return self.max_sessions
        return sessions_for_descriptor_limit()

    def journal_opener(self) -> FileOpener:
        """:attr:`opener`, or real files (``O_DSYNC`` under ``fsync=always``) when None."""
        return self.opener or journal_opener(sync_writes=self.fsync == "always")

    @property
    def checkpoints_enabled(self) -> bool:
        """True when a checkpoint cadence is configured."""
        return self.checkpoint_every_events > 0 or self.checkpoint_every_s > 0


def sessions_for_descriptor_limit() -> int:
    """Open sessions the soft ``RLIMIT_NOFILE`` leaves room for (2 descriptors each).

    A quarter of the limit (at least 64) stays free for the listener, connections,
    trace and checkpoint writes, health and metrics; the bound is at least 1 and at
    most 100,000.
    """
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1024
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 100_000
    reserve = max(64, soft // 4)
    return max(1, min(100_000, (soft - reserve) // 2))
