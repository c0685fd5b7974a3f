"""Taking work from an actor's mailbox: one batch, or everything left at stop.

Owns: :func:`take_batch` (the first message and whatever else is already waiting,
up to a limit: one group commit) and :func:`leftovers` (what is still queued once
the actor stops, for its callers to be failed). Used by the trace log and the
trace-file writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = ["leftovers", "take_batch"]

_T = TypeVar("_T")


def take_batch(receive: MemoryObjectReceiveStream[_T], first: _T, limit: int) -> list[_T]:
    """``first`` and the messages already waiting behind it, at most ``limit`` in all."""
    batch = [first]
    while len(batch) < limit:
        try:
            batch.append(receive.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
    return batch


def leftovers(receive: MemoryObjectReceiveStream[_T]) -> Iterator[_T]:
    """Every message still queued (the mailbox may already be closed)."""
    while True:
        try:
            yield receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return
