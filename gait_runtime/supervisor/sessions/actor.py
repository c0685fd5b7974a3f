"""SessionActor: one task that owns one session journal.

Owns: the actor's run loop (take one message, drain what is already waiting up
to ``batch_limit``, commit the batch with one worker-thread call = Go lock +
one ``write`` + one ``fsync`` + state update, then answer every caller), the
message types of its mailbox, the fsync ``interval`` timer, checkpoints every N
events or T seconds, the idle stop, and the clean drain when its mailbox is
closed. The messages and their one-shot answers are :mod:`.messages`'. It
does not own the mailbox (the :class:`~.sessions.SessionManager` creates it and
keeps it across restarts, so queued messages survive a crash) nor restart
policy.

Blocking journal work runs in the actor's own long-lived
:class:`~.iothread.IoThread` (one job at a time, the actor waits for each), not
in a thread-pool hop per batch: see that module for why. A batch made while
the Go lock lease is held (sustained load) is one ``write`` and nothing else;
when the manager has a :class:`~.uring.JournalRing` the actor submits that
write to it from the loop instead (see that module for why).

Only this task touches its :class:`~.store.JournalStore`, so there is no lock
on the hot path; the store's Go-compatible file lock is taken once per batch
and only ever contends with other processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import anyio
import anyio.lowlevel
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from ...errors import GaitError, InternalError
from .._journal_io.iothread import IoThread
from .._journal_io.loop import loop_primitives
from .._journal_io.uring import JournalRing, RingBusy
from ..journal.backend import JournalBackend
from ..journal.checkpoint import checkpoint_file_name, journal_base
from ..journal.records import CheckpointRecord, EventRecord
from ..journal.store import JournalStore, PreparedBatch, StoreOptions
from .config import SessionConfig
from .messages import ActorStats, AppendAck, AppendRequest, CallRequest, Message

__all__ = ["SessionActor"]

_T = TypeVar("_T")

_log = structlog.get_logger("gait_runtime.supervisor.sessions.actor")


class SessionActor:
    """Run one session's journal from a mailbox.

    Args:
        session_id: the session id.
        run_id: the run id (used when the journal is created).
        journal_path: the journal file.
        config: manager-wide settings.
        mailbox: receive end of the session's mailbox (owned by the manager).
        stats: shared counters.
        on_idle: called synchronously, right before the actor closes its
            mailbox for an idle stop, so the manager stops routing to it.
        ring: the manager's io_uring for appends under a lock lease (``None``:
            every batch goes through the actor's thread).
    """

    def __init__(
        self,
        session_id: str,
        run_id: str,
        journal_path: Path,
        config: SessionConfig,
        mailbox: MemoryObjectReceiveStream[Message],
        stats: ActorStats,
        on_idle: Callable[[], None] | None = None,
        ring: JournalRing | None = None,
    ) -> None:
        self.session_id = session_id
        self.run_id = run_id
        self.journal_path = journal_path
        self.config = config
        self.mailbox = mailbox
        self.stats = stats
        self._on_idle = on_idle
        self.store: JournalBackend = (config.journal_factory or JournalStore)(
            journal_path,
            StoreOptions(
                lock=config.lock,
                fsync_events=config.fsync == "always",
                state_updates=config.state_updates,
                producer_version=config.producer_version,
                clock=config.clock,
                opener=config.journal_opener(),
                signing_key=config.signing_key,
                checkpoint_max_events=config.checkpoint_max_events,
            ),
        )
        self._base = journal_base(session_id)
        self._last_activity = 0.0
        self._last_sync = 0.0
        self._next_checkpoint = math.inf
        self._lease_until = 0.0
        self._thread = IoThread(f"gait-session-io:{session_id}") if config.offload_io else None
        self._ring = ring if config.offload_io else None
        self._now: Callable[[], float] = anyio.current_time

    async def _io(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run blocking journal work: in the actor's I/O thread, or inline when configured."""
        if self._thread is not None:
            return await self._thread.run(fn, *args)
        await anyio.lowlevel.checkpoint()
        return fn(*args)

    # ------------------------------------------------------------------ timing

    def _deadline(self) -> float:
        cfg = self.config
        deadline = math.inf
        if cfg.idle_timeout_s > 0:
            deadline = self._last_activity + cfg.idle_timeout_s
        if cfg.fsync == "interval" and self.store.disk.dirty:
            deadline = min(deadline, self._last_sync + cfg.fsync_interval_s)
        if cfg.checkpoint_every_s > 0 and self.store.position.pending_events() > 0:
            deadline = min(deadline, self._next_checkpoint)
        if self.store.lease.held:
            deadline = min(deadline, self._lease_until)
        return deadline

    def _arm_lease(self) -> None:
        """Keep the Go lock across batches for ``lock_lease_s`` under sustained load."""
        lease = self.config.lock_lease_s
        if lease <= 0:
            return
        now = self._now()
        if not self.store.lease.held:
            self._lease_until = now + lease
        self.store.lease.keep = now < self._lease_until

    async def _timers(self, now: float) -> None:
        cfg = self.config
        if self.store.lease.held and now >= self._lease_until:
            # Off the loop: unlinking J.lock waits on the directory while fsyncs
            # are in flight (about 0.7 ms measured), which stalled every session.
            self.store.lease.keep = False
            await self._io(self.store.lease.release)
        if (
            cfg.fsync == "interval"
            and self.store.disk.dirty
            and now >= self._last_sync + cfg.fsync_interval_s
        ):
            await self._sync()
        if (
            cfg.checkpoint_every_s > 0
            and now >= self._next_checkpoint
            and self.store.position.pending_events() > 0
        ):
            await self._auto_checkpoint()

    async def _sync(self) -> None:
        before = self.store.disk.fsyncs
        await self._io(self.store.disk.sync)
        self.stats.fsyncs += self.store.disk.fsyncs - before
        self._last_sync = self._now()

    # -------------------------------------------------------------------- run

    async def open(self) -> None:
        """Open (and recover) the journal in a worker thread.

        Raises:
            GaitError: the journal cannot be opened or fails validation; the
                session must not start.
        """
        self._now = loop_primitives().now
        quarantined_before = len(self.store.disk.quarantined)
        if self._thread is not None and not self._thread.running:
            self._thread.start()
        try:
            await self._io(self._open)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._io(self._close_quietly)
            if self._thread is not None:
                self._thread.stop()
            raise
        self.stats.quarantined_tails += len(self.store.disk.quarantined) - quarantined_before
        self.stats.fsyncs += self.store.disk.fsyncs
        self.stats.reclaimed_locks += self.store.lease.reclaimed
        now = self._now()
        self._last_activity = self._last_sync = now
        self._next_checkpoint = now + self.config.checkpoint_every_s

    async def serve(self) -> Literal["idle", "closed"]:
        """Serve the mailbox until it closes or the session goes idle; always closes the store.

        Returns:
            ``"idle"`` after an idle stop, ``"closed"`` after the mailbox closed.
        """
        try:
            return await self._serve()
        finally:
            with anyio.CancelScope(shield=True):
                await self._io(self._close_quietly)
            if self._thread is not None:
                self._thread.stop()

    def _open(self) -> None:
        full = not self.config.trust_state_on_start
        self.store.open(self.session_id, self.run_id, create=True, full=full)

    def _close_quietly(self) -> None:
        try:
            self.store.close()
        except GaitError as exc:
            _log.warning("closing session failed", session_id=self.session_id, error=str(exc))

    async def _receive(self) -> Message | None:
        """The next message, or ``None`` when a timer is due.

        Under load a message is usually waiting: it is taken without the
        scheduling round of ``receive()`` (every commit yields anyway). When
        none is, the callers the last batch answered usually send their next
        one as soon as they run: one plain yield lets them, which is much
        cheaper than a timed wait (a cancel scope with a deadline).

        Raises:
            anyio.EndOfStream: the mailbox was closed and is empty.
        """
        mailbox = self.mailbox
        try:
            return mailbox.receive_nowait()
        except anyio.WouldBlock:
            pass
        await anyio.lowlevel.checkpoint()
        try:
            return mailbox.receive_nowait()
        except anyio.WouldBlock:
            pass
        deadline = self._deadline()
        if deadline == math.inf:
            return await mailbox.receive()
        with anyio.CancelScope(deadline=deadline):
            return await mailbox.receive()
        return None

    async def _serve(self) -> Literal["idle", "closed"]:
        mailbox = self.mailbox
        limit = self.config.batch_limit
        while True:
            try:
                message = await self._receive()
            except anyio.EndOfStream:
                await self._final_checkpoint()
                return "closed"
            now = self._now()
            if message is None:
                await self._timers(now)
                if (
                    self.config.idle_timeout_s > 0
                    and now >= self._last_activity + self.config.idle_timeout_s
                ):
                    stats = mailbox.statistics()
                    if stats.current_buffer_used == 0 and stats.tasks_waiting_send == 0:
                        if self._on_idle is not None:
                            self._on_idle()
                        mailbox.close()
                        await self._final_checkpoint()
                        return "idle"
                continue
            self._last_activity = now
            batch: list[AppendRequest] = []
            pending: CallRequest | None = None
            if isinstance(message, AppendRequest):
                batch.append(message)
                while len(batch) < limit:
                    try:
                        nxt = mailbox.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    if isinstance(nxt, AppendRequest):
                        batch.append(nxt)
                    else:
                        pending = nxt
                        break
            else:
                pending = message
            if batch:
                try:
                    await self._commit(batch)
                except BaseException:
                    if pending is not None:  # taken from the mailbox: answer it, do not strand it
                        pending.reply.set(
                            InternalError(
                                f"session {self.session_id} actor crashed before this call",
                                code="session_actor_crashed",
                            )
                        )
                    raise
            if pending is not None:
                await self._call(pending)
            await self._timers(self._now())

    # ----------------------------------------------------------------- appends

    async def _commit(self, batch: list[AppendRequest]) -> None:
        items = [(req.fields, req.created_at_ns) for req in batch]
        before = self.store.disk.fsyncs
        self._arm_lease()
        try:
            records = await self._write(self.store.prepare(items))
        except GaitError as exc:
            self.stats.fsyncs += self.store.disk.fsyncs - before
            self.stats.failed_batches += 1
            _log.error(
                "session batch failed", session_id=self.session_id, batch=len(batch), error=str(exc)
            )
            for req in batch:
                req.reply.set(exc)
            return
        except BaseException as exc:
            err = InternalError(
                f"session {self.session_id} actor crashed during append: {exc!r}",
                code="session_actor_crashed",
            )
            for req in batch:
                req.reply.set(err)
            raise
        self.stats.fsyncs += self.store.disk.fsyncs - before
        path = self.store.path
        for req, rec in zip(batch, records, strict=True):
            req.reply.set(AppendAck(rec.sequence, path, rec.created_at))
        n = len(batch)
        self.stats.appends += n
        self.stats.batches += 1
        self.stats.max_batch = max(self.stats.max_batch, n)
        if not self.store.disk.dirty:
            self._last_sync = self._now()
        every = self.config.checkpoint_every_events
        if every > 0 and self.store.position.pending_events() >= every:
            await self._auto_checkpoint()

    async def _write(self, batch: PreparedBatch) -> list[EventRecord]:
        """One batch into the journal: through the ring when the store allows a
        plain write (a held lease), else :meth:`~.store.JournalStore.commit` in
        the thread. A short or failed ring write is finished or undone in the thread."""
        ring = self._ring
        if ring is None or not ring.usable or (fd := self.store.direct_fd()) is None:
            return await self._io(self.store.commit, batch)
        try:
            written = await ring.write(fd, batch.data, self.store.disk.size)
        except RingBusy:
            return await self._io(self.store.commit, batch)
        except OSError as exc:
            return await self._io(self.store.direct_repair, batch, 0, exc)
        self.stats.ring_writes += 1
        if written == len(batch.data):
            return self.store.direct_done(batch)
        return await self._io(self.store.direct_repair, batch, written, None)

    # ------------------------------------------------------------- checkpoints

    def _checkpoint(self) -> CheckpointRecord:
        """Cover every pending event, in bounded checkpoints; the last one is returned."""
        position = self.store.position
        directory = self.config.checkpoint_dir or self.config.session_dir
        while True:
            end = position.next_checkpoint_end(self.config.checkpoint_max_events)
            record, _ = self.store.checkpoint(directory / checkpoint_file_name(self._base, end))
            if position.pending_events() == 0:
                return record

    async def _auto_checkpoint(self) -> None:
        try:
            await self._do_checkpoint()
        except GaitError as exc:
            self.stats.checkpoint_failures += 1
            _log.error("automatic checkpoint failed", session_id=self.session_id, error=str(exc))
        self._next_checkpoint = self._now() + self.config.checkpoint_every_s

    async def _do_checkpoint(self) -> CheckpointRecord:
        before = self.store.disk.fsyncs
        try:
            record = await self._io(self._checkpoint)
        finally:
            self.stats.fsyncs += self.store.disk.fsyncs - before
        self.stats.checkpoints += 1
        self._last_sync = self._now()
        return record

    async def _final_checkpoint(self) -> None:
        if (
            self.config.final_checkpoint
            and self.config.checkpoints_enabled
            and self.store.position.pending_events() > 0
        ):
            with anyio.CancelScope(shield=True):
                await self._auto_checkpoint()

    # ------------------------------------------------------------------- calls

    async def _call(self, request: CallRequest) -> None:
        result: object
        try:
            if request.op == "checkpoint":
                result = (
                    await self._do_checkpoint()
                    if self.store.position.pending_events() > 0
                    else None
                )
                self._next_checkpoint = self._now() + self.config.checkpoint_every_s
            elif request.op == "compact":
                result = await self._io(self.store.compact)
                self.stats.compactions += 1
            else:
                result = self.store.status()
        except GaitError as exc:
            result = exc
        except BaseException as exc:
            request.reply.set(
                InternalError(
                    f"session {self.session_id} actor crashed: {exc!r}",
                    code="session_actor_crashed",
                )
            )
            raise
        request.reply.set(result)
