"""The messages of a session actor's mailbox and the answers they carry.

Owns: :class:`AppendRequest` and :class:`CallRequest` (what a caller queues),
:class:`Reply` (the one-shot answer slot every message carries),
:class:`AppendAck` (the answer to a durable append) and :class:`ActorStats`
(the counters every actor of a manager shares). No I/O, no tasks: the
:class:`~.actor.SessionActor` answers these, the
:class:`~.manager.SessionManager` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar, cast

import anyio
import msgspec

from .._journal_io.loop import OneShot
from ..journal.records import EventFields

__all__ = [
    "ActorStats",
    "AppendAck",
    "AppendRequest",
    "CallOp",
    "CallRequest",
    "Message",
    "Reply",
]


class AppendAck(msgspec.Struct, frozen=True):
    """The answer to a durable append.

    Attributes:
        sequence: the event's sequence number.
        journal_path: the journal it was written to.
        created_at: the event's ``created_at`` text.
    """

    sequence: int
    journal_path: Path
    created_at: str


_T = TypeVar("_T")


class Reply(Generic[_T]):
    """A one-shot answer: set once by the actor, awaited by the one caller that made it.

    It replaces a one-shot memory object stream per request (STYLE habit 6): the
    same contract (one value, one reader, never blocks the actor) for one small
    object and one :class:`anyio.Event`, which matters at tens of thousands of
    appends per second. Cancellation-safe both ways: a caller that stops waiting
    just leaves (the actor's later :meth:`set` is harmless, and the record it
    answers for may still have been written, as documented for ``append``), and
    the actor never waits on a caller. The first answer wins.
    """

    __slots__ = ("_event", "_value")

    def __init__(self, event: OneShot | None = None) -> None:
        self._value: _T | BaseException | None = None
        self._event: OneShot = anyio.Event() if event is None else event

    @property
    def answered(self) -> bool:
        """True once :meth:`set` was called."""
        return self._event.is_set()

    def set(self, value: _T | BaseException) -> None:
        """Answer (a no-op when already answered)."""
        if not self._event.is_set():
            self._value = value
            self._event.set()

    async def wait(self) -> _T | BaseException:
        """Wait for the answer (the value or the error the actor answered with)."""
        await self._event.wait()
        return cast("_T | BaseException", self._value)


@dataclass(slots=True, eq=False)
class AppendRequest:
    """Append one event; the actor answers on ``reply`` once it is durable."""

    fields: EventFields
    created_at_ns: int
    reply: Reply[AppendAck]


CallOp = Literal["checkpoint", "compact", "status"]


@dataclass(slots=True, eq=False)
class CallRequest:
    """A control message (checkpoint, compact, status); answered on ``reply``."""

    op: CallOp
    reply: Reply[object]


Message = AppendRequest | CallRequest


@dataclass(slots=True)
class ActorStats:
    """Counters shared by every actor of a manager (touched only from the event loop)."""

    appends: int = 0
    batches: int = 0
    fsyncs: int = 0
    checkpoints: int = 0
    checkpoint_failures: int = 0
    compactions: int = 0
    quarantined_tails: int = 0
    reclaimed_locks: int = 0
    failed_batches: int = 0
    ring_writes: int = 0
    max_batch: int = 0
