"""SessionManager: the registry and supervisor of session actors.

Owns: starting a session's actor on first use (``await tg.start``), routing
appends and control calls to its mailbox (``send`` for backpressure,
``send_nowait`` + :class:`~gait_runtime.errors.MailboxFull` for load
shedding), ``one_for_one`` restarts with a restart intensity (then the session
answers ``session_failed`` while the others carry on), idle stops and
transparent restarts, the state-directory lock, the bounded and shielded drain
on exit, and the statistics the HTTP layer reports. It is the only object that
holds a task group and spawns into it on behalf of other tasks. The rules it
supervises by (restart intensity, eviction under the session bound, journal
naming, answering stranded messages) are :mod:`.supervision`'s; the messages
are :mod:`.messages`'.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import structlog
import structlog.contextvars
from anyio.abc import TaskGroup, TaskStatus

from ...errors import (
    InternalError,
    MailboxFull,
    SessionFailedError,
    SessionInputError,
)
from .._journal_io.loop import OneShot, loop_primitives
from .._journal_io.uring import JournalRing, RingUnavailable
from ..journal.checkpoint import journal_base
from ..journal.compaction import CompactionReport
from ..journal.lock import StateDirLock, acquire_state_dir_lock
from ..journal.records import CheckpointRecord, EventFields, normalize_fields
from .actor import SessionActor
from .config import SessionConfig
from .messages import ActorStats, AppendAck, AppendRequest, CallOp, CallRequest, Message, Reply
from .supervision import (
    SessionSlot,
    answer_leftovers,
    fail_pending,
    fresh_error,
    header_ids,
    idle_callback,
    journal_path_for,
    make_room,
    restart_allowed,
)

__all__ = ["MailboxFull", "SessionManager", "journal_path_for"]

_log = structlog.get_logger("gait_runtime.supervisor.sessions.manager")
_T = TypeVar("_T")


class SessionManager:
    """Run every session of one state directory as a supervised actor.

    Use as an async context manager. Entering takes the state-directory lock (a
    second manager on the same directory fails fast with
    :class:`~gait_runtime.errors.StateDirLockedError`); leaving closes every
    mailbox, lets each actor flush its queue, write final checkpoints if a
    cadence is configured and fsync, all shielded and bounded by
    ``config.drain_timeout_s``.

    Args:
        config: the session settings.
    """

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._stats = ActorStats()
        self._sessions: dict[tuple[str, str], SessionSlot] = {}
        self._by_id: dict[str, tuple[str, str]] = {}
        self._failed: dict[tuple[str, str], str] = {}
        self._stopping: dict[Path, anyio.Event] = {}
        self._starting: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        self._dir_lock: StateDirLock | None = None
        self._restarts_total = 0
        self._draining = False
        self._new_event: Callable[[], OneShot] = anyio.Event
        self._ring: JournalRing | None = None
        self._ring_tg: TaskGroup | None = None
        self._bound = config.session_bound()
        self._use = 0
        self._evictions = 0
        self._opening = 0
        self._start_done = anyio.Event()

    # ------------------------------------------------------------- lifecycle

    def _open_ring(self) -> JournalRing | None:
        mode = self.config.journal_io
        if mode == "thread" or not self.config.offload_io or self.config.journal_factory:
            return None  # the ring writes file journals only
        try:
            return JournalRing.open()
        except RingUnavailable as exc:
            if mode == "uring":
                raise InternalError(
                    f"journal_io=uring: {exc}",
                    code="journal_ring_unavailable",
                    hint="use journal_io=auto (or thread) on this machine",
                ) from exc
            _log.info("session journals use I/O threads only", reason=str(exc))
            return None

    async def __aenter__(self) -> SessionManager:
        self._new_event = loop_primitives().event
        if self.config.offload_io:
            self._dir_lock = await anyio.to_thread.run_sync(
                acquire_state_dir_lock, self.config.session_dir
            )
        else:
            self._dir_lock = acquire_state_dir_lock(self.config.session_dir)
        try:
            ring = self._open_ring()
            if ring is not None:
                # The ring's reaper lives outside the actors' task group and ends
                # after it: an actor cancelled mid-write still gets its completion.
                ring_tg = anyio.create_task_group()
                await ring_tg.__aenter__()
                self._ring, self._ring_tg = ring, ring_tg
                await ring_tg.start(ring.serve)
            tg = anyio.create_task_group()
            await tg.__aenter__()
        except BaseException:
            await self._close_ring()
            self._dir_lock.release()
            raise
        self._tg = tg
        return self

    @property
    def journal_io(self) -> str:
        """What carries appends under a lock lease while running: ``uring`` or ``thread``."""
        return "thread" if self._ring is None else "uring"

    async def _close_ring(self) -> None:
        ring, ring_tg = self._ring, self._ring_tg
        self._ring = self._ring_tg = None
        if ring_tg is not None:
            ring_tg.cancel_scope.cancel()
            await ring_tg.__aexit__(None, None, None)
        if ring is not None:
            ring.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        assert tg is not None
        # From here on no new actor may join the task group: one started now would
        # wait on a mailbox nobody closes and hold the group's exit open.
        self._draining = True
        try:
            with anyio.move_on_after(self.config.drain_timeout_s, shield=True) as scope:
                sessions = list(self._sessions.values())
                for s in sessions:
                    s.routable = False
                    s.send.close()
                for s in sessions:
                    await s.done.wait()
                for event in list(self._stopping.values()):
                    await event.wait()
            if scope.cancelled_caught:
                _log.error(
                    "session drain exceeded its deadline; cancelling",
                    drain_timeout_s=self.config.drain_timeout_s,
                )
                tg.cancel_scope.cancel()
            return await tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None
            try:
                await self._close_ring()
            finally:
                if self._dir_lock is not None:
                    self._dir_lock.release()

    # --------------------------------------------------------------- routing

    async def _session(self, session_id: str, run_id: str | None) -> SessionSlot:
        key = self._key(session_id, run_id)
        s = self._sessions.get(key) if key is not None else None
        if s is not None and s.routable:
            return s
        # Starts are serialised per session id (not globally): a slow start (a big
        # journal being validated) never delays other sessions, and two run ids of
        # one session cannot both pick the same journal file.
        while True:
            starting = self._starting.get(session_id.strip())
            if starting is None:
                break
            await starting.wait()
        gate = self._starting[session_id.strip()] = anyio.Event()
        try:
            return await self._start(session_id, run_id)
        finally:
            del self._starting[session_id.strip()]
            gate.set()

    async def _start(self, session_id: str, run_id: str | None) -> SessionSlot:
        key = self._key(session_id, run_id)
        if key is None:
            raise SessionInputError(
                f"unknown session {session_id!r}: no run id given and none running",
                code="session_unknown",
            )
        s = self._sessions.get(key)
        if s is not None and s.routable:
            return s
        if key in self._failed:
            raise SessionFailedError(self._failed[key])
        if self._tg is None:
            raise InternalError("session manager is not running", code="manager_closed")
        if self._draining:
            raise InternalError(
                f"session {session_id}: the session manager is draining; no new sessions",
                code="manager_draining",
            )
        if self.config.offload_io:
            path = await anyio.to_thread.run_sync(
                journal_path_for, self.config.session_dir, key[0], key[1]
            )
        else:
            path = journal_path_for(self.config.session_dir, key[0], key[1])
        stopping = self._stopping.get(path)
        if stopping is not None:
            await stopping.wait()
        await make_room(
            self._sessions,
            self._stopping,
            self._bound,
            session_id,
            self.config.drain_timeout_s,
            self._count_eviction,
            lambda: self._opening,
            lambda: self._start_done.wait(),
        )
        send, receive = anyio.create_memory_object_stream[Message](self.config.mailbox_size)
        s = SessionSlot(key, path, send, receive)
        self._opening += 1  # no await since make_room: the bound holds across concurrent starts
        try:
            await self._tg.start(self._supervise, s)
        except BaseException:
            send.close()
            receive.close()
            raise
        finally:
            self._opening -= 1
            done, self._start_done = self._start_done, anyio.Event()
            done.set()
        self._sessions[key] = s
        self._by_id[key[0]] = key
        return s

    def _key(self, session_id: str, run_id: str | None) -> tuple[str, str] | None:
        sid = session_id.strip()
        if not sid:
            raise SessionInputError("session_id is required", code="session_start_invalid")
        if run_id is not None:
            rid = run_id.strip()
            if not rid:
                raise SessionInputError("run_id is required", code="session_start_invalid")
            return sid, rid
        key = self._by_id.get(sid)
        if key is not None:
            return key
        ids = header_ids(self.config.session_dir / f"{journal_base(sid)}.journal.jsonl")
        return ids if ids is not None and ids[0] == sid else None

    # ----------------------------------------------------------- supervision

    async def _supervise(self, s: SessionSlot, *, task_status: TaskStatus[None]) -> None:
        # This task copied the context of the request that opened the session: drop
        # that request's log ids, keep only this session's.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(session_id=s.key[0])
        first = True
        try:
            while True:
                actor = SessionActor(
                    s.key[0],
                    s.key[1],
                    s.journal_path,
                    self.config,
                    s.receive,
                    self._stats,
                    on_idle=idle_callback(s, self._stopping),
                    ring=self._ring,
                )
                try:
                    if first:
                        await actor.open()
                        task_status.started()
                        first = False
                    else:
                        await actor.open()
                    outcome = await actor.serve()
                except Exception as exc:
                    if first:
                        raise
                    if not restart_allowed(s, exc, self.config.restart_intensity):
                        self._failed[s.key] = s.failed
                        fail_pending(s)
                        return
                    self._restarts_total += 1
                    continue
                _log.info("session stopped", session_id=s.key[0], outcome=outcome)
                return
        finally:
            s.routable = False
            if self._sessions.get(s.key) is s:
                del self._sessions[s.key]
                if self._by_id.get(s.key[0]) == s.key:
                    del self._by_id[s.key[0]]
            answer_leftovers(s)
            s.receive.close()
            s.send.close()
            s.done.set()
            self._stopping.pop(s.journal_path, None)

    def _count_eviction(self) -> None:
        self._evictions += 1

    # ------------------------------------------------------------------- API

    async def append(
        self, session_id: str, run_id: str, event: EventFields, *, wait: bool = True
    ) -> AppendAck:
        """Append one event to a session, starting its actor on first use.

        Args:
            session_id: the session.
            run_id: the session's run id (names the journal on first use).
            event: the event fields (normalised here; invalid input is refused
                before anything is queued).
            wait: ``True`` waits for mailbox room (backpressure); ``False``
                raises :class:`MailboxFull` instead.

        Returns:
            The acknowledgement, sent only after the record is as durable as
            ``config.fsync`` promises.

        Raises:
            SessionInputError: bad event fields or an invalid journal.
            MailboxFull: ``wait=False`` and the mailbox is full.
            SessionFailedError: the session exceeded its restart intensity.
            IOFailure: the batch could not be written (nothing was appended).
        """
        fields = normalize_fields(event)
        created = fields.created_at_ns
        if created is None:
            created = self.config.clock.now_ns()
        for _ in range(3):
            s = self._sessions.get((session_id, run_id))
            if s is None or not s.routable:
                s = await self._session(session_id, run_id)
            self._use += 1
            s.last_used = self._use
            reply: Reply[AppendAck] = Reply(self._new_event())
            request = AppendRequest(fields, created, reply)
            s.in_flight += 1
            try:
                try:  # the common case inline: room in the mailbox, no extra frame
                    s.send.send_nowait(request)
                except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    if not await self._deliver(s, request, wait):
                        continue
                result = await reply.wait()
            finally:
                s.in_flight -= 1
            if isinstance(result, BaseException):
                raise fresh_error(result)
            return result
        raise InternalError(
            f"session {session_id} kept stopping while appending", code="session_unavailable"
        )

    async def _deliver(self, s: SessionSlot, request: Message, wait: bool) -> bool:
        """Queue ``request``; ``False`` when the actor stopped (the caller retries).

        With room in the mailbox this does not yield (``send_nowait``): the caller
        yields while it waits for the reply, and a cancelled caller's record may
        be written anyway, as for any cancellation after queueing.
        """
        try:
            try:
                s.send.send_nowait(request)
            except anyio.WouldBlock:
                if not wait:
                    raise
                await s.send.send(request)
        except anyio.WouldBlock:
            raise MailboxFull(
                f"session {s.key[0]} mailbox is full ({self.config.mailbox_size} messages)",
                details={"retry_after_s": 1},
            ) from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            if s.failed:
                raise SessionFailedError(s.failed) from None
            if self._tg is None:
                raise InternalError(
                    "session manager is not running", code="manager_closed"
                ) from None
            return False
        return True

    async def _await_reply(self, reply: Reply[_T]) -> _T:
        result = await reply.wait()
        if isinstance(result, BaseException):
            raise fresh_error(result)
        return result

    async def _request(self, session_id: str, op: CallOp) -> object:
        for _ in range(3):
            s = await self._session(session_id, None)
            reply: Reply[object] = Reply(self._new_event())
            s.in_flight += 1
            try:
                if await self._deliver(s, CallRequest(op, reply), True):
                    return await self._await_reply(reply)
            finally:
                s.in_flight -= 1
        raise InternalError(
            f"session {session_id} kept stopping during {op}", code="session_unavailable"
        )

    async def checkpoint(self, session_id: str) -> CheckpointRecord | None:
        """Checkpoint the session now; ``None`` when no event is pending."""
        result = await self._request(session_id, "checkpoint")
        assert result is None or isinstance(result, CheckpointRecord)
        return result

    async def compact(self, session_id: str) -> CompactionReport:
        """Compact the session's journal in place (history covered by verified checkpoints)."""
        result = await self._request(session_id, "compact")
        assert isinstance(result, CompactionReport)
        return result

    async def status(self, session_id: str) -> dict[str, object]:
        """The session's status object (``event_count``, ``last_sequence``, ...)."""
        result = await self._request(session_id, "status")
        assert isinstance(result, dict)
        return result

    def open_journal_paths(self) -> list[Path]:
        """Journals of the sessions whose actors are running (retention must skip them)."""
        paths = {s.journal_path for s in self._sessions.values()}
        paths.update(self._stopping)
        return sorted(paths)

    def stats(self) -> dict[str, Any]:
        """Counters for health endpoints and benchmarks."""
        st = self._stats
        return {
            "sessions_active": sum(1 for s in self._sessions.values() if s.routable),
            "sessions_open": len(self._sessions),
            "max_sessions": self._bound,
            "session_evictions": self._evictions,
            "mailbox_depths": {
                s.key[0]: s.send.statistics().current_buffer_used
                for s in self._sessions.values()
                if s.routable
            },
            "restarts": self._restarts_total,
            "failed_sessions": sorted(k[0] for k in self._failed),
            "appends": st.appends,
            "batches": st.batches,
            "max_batch": st.max_batch,
            "fsyncs": st.fsyncs,
            "fsyncs_per_append": (st.fsyncs / st.appends) if st.appends else 0.0,
            "failed_batches": st.failed_batches,
            "journal_io": self.journal_io,
            "ring_writes": st.ring_writes,
            "checkpoints": st.checkpoints,
            "checkpoint_failures": st.checkpoint_failures,
            "compactions": st.compactions,
            "quarantined_tails": st.quarantined_tails,
            "reclaimed_locks": st.reclaimed_locks,
        }
