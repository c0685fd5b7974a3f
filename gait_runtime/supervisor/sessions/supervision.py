"""What a session manager keeps per session, and the rules it supervises them by.

Owns: :class:`SessionSlot` (one session's mailbox ends, journal path, restart
history and routing flags, kept across actor restarts), the journal file
naming of ``spec/service.md`` §3.3 (:func:`journal_path_for`,
:func:`header_ids`), the idle stop hand-over (:func:`idle_callback`), the ``one_for_one`` restart intensity
(:func:`restart_allowed`), answering what a stopped or failed actor left in
its mailbox (:func:`fail_pending`, :func:`answer_leftovers`), the bound on
open sessions (:func:`make_room`: evict the least recently used idle one) and
the per-caller copy of an actor's error (:func:`fresh_error`). The
:class:`~.manager.SessionManager` holds the slots and the task group; these
are its rules, with no task of their own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import anyio
import msgspec
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ...errors import GaitError, InternalError, SessionFailedError, SessionLimitReached
from ..journal.checkpoint import journal_base
from ..journal.records import Envelope
from .messages import Message

__all__ = [
    "SessionSlot",
    "answer_leftovers",
    "fail_pending",
    "fresh_error",
    "header_ids",
    "idle_callback",
    "journal_path_for",
    "make_room",
    "restart_allowed",
]

_log = structlog.get_logger("gait_runtime.supervisor.sessions.manager")
_HEADER_PROBE_BYTES: Final = 64 * 1024


@dataclass(eq=False)
class SessionSlot:
    """One session as the manager sees it, across restarts of its actor.

    Attributes:
        key: ``(session_id, run_id)``.
        journal_path: the session's journal.
        send: the mailbox's send end (callers).
        receive: the mailbox's receive end (the actor of the moment).
        done: set once the session is gone for good (stopped, failed, drained).
        restarts: monotonic times of recent restarts (the intensity window).
        restart_count: restarts since the session started.
        failed: why the session failed ("" while it has not).
        routable: new messages may be routed to it.
        last_used: the manager's use counter at its last append (for eviction).
        in_flight: callers waiting on it (a busy session is never evicted).
    """

    key: tuple[str, str]
    journal_path: Path
    send: MemoryObjectSendStream[Message]
    receive: MemoryObjectReceiveStream[Message]
    done: anyio.Event = field(default_factory=anyio.Event)
    restarts: deque[float] = field(default_factory=deque)
    restart_count: int = 0
    failed: str = ""
    routable: bool = True
    last_used: int = 0
    in_flight: int = 0


def header_ids(path: Path) -> tuple[str, str] | None:
    """``(session_id, run_id)`` of the journal's header line, or ``None`` (absent, unreadable)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(_HEADER_PROBE_BYTES)
        env = msgspec.json.decode(first, type=Envelope)
    except (OSError, msgspec.DecodeError):
        return None
    if env.header is None:
        return None
    return env.header.session_id, env.header.run_id


def journal_path_for(session_dir: Path, session_id: str, run_id: str) -> Path:
    """``<dir>/<base>.journal.jsonl``, or ``<base>_<run_id>.journal.jsonl`` when the
    first belongs to another run (``spec/service.md`` §3.3)."""
    base = journal_base(session_id)
    path = session_dir / f"{base}.journal.jsonl"
    ids = header_ids(path)
    if ids is None or ids == (session_id, run_id):
        return path
    return session_dir / f"{base}_{journal_base(run_id)}.journal.jsonl"


def idle_callback(s: SessionSlot, stopping: dict[Path, anyio.Event]) -> Callable[[], None]:
    """What the actor of ``s`` calls right before an idle stop: route nothing more to
    it, and let a restart of the same journal wait until it is gone."""

    def on_idle() -> None:
        s.routable = False
        stopping[s.journal_path] = s.done

    return on_idle


def fresh_error(exc: BaseException) -> BaseException:
    """A new exception object per caller (one object must not be raised in two tasks)."""
    if isinstance(exc, GaitError):
        clone = type(exc)(
            exc.message, code=exc.code_override, hint=exc.hint, details=dict(exc.details)
        )
        clone.__cause__ = exc.__cause__
        return clone
    return InternalError(f"session actor error: {exc!r}")


def restart_allowed(s: SessionSlot, exc: Exception, intensity: tuple[int, float]) -> bool:
    """Record a crash of ``s``'s actor; ``False`` (and ``s.failed`` set) past the intensity.

    ``intensity`` is ``(max_restarts, window_s)``: one crash more than
    ``max_restarts`` inside the window fails the session.
    """
    _log.error("session actor crashed", session_id=s.key[0], error=repr(exc), exc_info=exc)
    max_restarts, window = intensity
    now = anyio.current_time()
    while s.restarts and s.restarts[0] <= now - window:
        s.restarts.popleft()
    if len(s.restarts) >= max_restarts:
        s.failed = (
            f"session {s.key[0]} failed: its actor crashed {len(s.restarts) + 1} times "
            f"within {window:g}s (restart intensity {max_restarts} in {window:g}s); "
            f"last error: {exc!r}"
        )
        s.routable = False
        _log.error("session failed", session_id=s.key[0], reason=str(s.failed))
        return False
    s.restarts.append(now)
    s.restart_count += 1
    return True


def fail_pending(s: SessionSlot) -> None:
    """Answer every queued message of a failed session with its failure; close the mailbox."""
    while True:
        try:
            message = s.receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            break
        message.reply.set(SessionFailedError(s.failed))
    s.receive.close()


def answer_leftovers(s: SessionSlot) -> None:
    """Answer what an actor that is gone for good left in its mailbox (nothing
    after a clean stop; after a cancelled drain, its callers must not hang)."""
    while True:
        try:
            message = s.receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return
        message.reply.set(
            InternalError("session actor stopped before answering", code="session_actor_crashed")
        )


async def make_room(
    sessions: dict[tuple[str, str], SessionSlot],
    stopping: dict[Path, anyio.Event],
    bound: int,
    session_id: str,
    drain_timeout_s: float,
    on_evict: Callable[[], None],
    starting: Callable[[], int],
    start_finished: Callable[[], Awaitable[object]],
) -> None:
    """Keep open sessions under ``bound``: close the least recently used idle one(s).

    An actor closed here stops like on an idle timeout (its journal is closed)
    and reopens transparently on its next message. A session with a call in
    flight is never closed for room; when every open session has one, the new
    session is refused (503 at the HTTP edge).

    ``on_evict`` is called once per session closed; ``starting()`` is how many
    sessions other callers are starting (past this check, not yet registered):
    they count against the bound too, or concurrent starts would overshoot it.
    When only such starts fill it, this waits for one (``start_finished()``)
    and looks again.

    Raises:
        SessionLimitReached: every open session is busy.
    """
    while len(sessions) + starting() >= bound:
        idle = [s for s in sessions.values() if s.routable and not s.in_flight]
        if not idle and starting():
            await start_finished()
            continue
        if not idle:
            raise SessionLimitReached(
                f"session {session_id}: {len(sessions)} sessions are open and "
                f"busy (max_sessions {bound})",
                details={"retry_after_s": 1},
            )
        victim = min(idle, key=lambda s: s.last_used)
        victim.routable = False
        stopping[victim.journal_path] = victim.done
        victim.send.close()
        on_evict()
        with anyio.move_on_after(drain_timeout_s, shield=True):
            await victim.done.wait()
