"""The running event loop's clock and one-shot event, looked up once instead of per call.

Owns: :func:`loop_primitives`. ``anyio.current_time()`` and ``anyio.Event()``
find the backend on every call (``sniffio``, then ``asyncio.get_running_loop()``,
which on Python 3.11 makes a ``getpid`` system call): 1.8 and 2.5 µs per call
on the development VM, several times per append. Session actors, the manager
and the I/O threads call these on every append, so they look the backend up
once, when they start, and keep the backend's own callables: ``loop.time`` or
``trio.current_time`` (what ``anyio.current_time`` returns) and
``asyncio.Event`` or ``trio.Event`` (what ``anyio.Event`` wraps). Call
:func:`loop_primitives` from inside the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

import trio

__all__ = ["LoopPrimitives", "OneShot", "loop_primitives"]


class OneShot(Protocol):
    """The part of an event this package uses: set once, test, wait."""

    def set(self) -> None:
        """Wake every waiter; later waits return at once."""
        ...

    def is_set(self) -> bool:
        """True once :meth:`set` was called."""
        ...

    def wait(self) -> Awaitable[object]:
        """Wait until :meth:`set` (cancellable)."""
        ...


class LoopPrimitives(NamedTuple):
    """The running loop's ``now`` (seconds, anyio's clock) and event factory."""

    now: Callable[[], float]
    event: Callable[[], OneShot]


def loop_primitives() -> LoopPrimitives:
    """The clock and event type of the event loop running in this thread."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return LoopPrimitives(trio.current_time, trio.Event)
    return LoopPrimitives(loop.time, asyncio.Event)
