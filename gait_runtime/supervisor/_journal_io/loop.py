"""The running event loop's clock and one-shot event, looked up once instead of per call.

Owns: :func:`loop_primitives`. ``anyio.current_time()`` and ``anyio.Event()``
find the backend on every call (``sniffio``, then ``asyncio.get_running_loop()``,
which on Python 3.11 makes a ``getpid`` system call): 1.8 and 2.5 µs per call
on the development VM, several times per append. Session actors, the manager
and the I/O threads call these on every append, so they look the backend up
once, when they start, and keep the backend's own callables: ``loop.time`` or
``trio.current_time`` (what ``anyio.current_time`` returns) and
``asyncio.Event`` or ``trio.Event`` (what ``anyio.Event`` wraps), and how a
foreign thread schedules a callback on the loop (``call_soon_threadsafe`` or
the trio token's ``run_sync_soon``). Call :func:`loop_primitives` from inside
the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

import anyio
import trio

__all__ = ["LoopPrimitives", "OneShot", "Waker", "loop_primitives", "wait_through_cancel"]

Waker = Callable[[Callable[[], object]], object]
"""Schedules a callback on the event loop; safe to call from any thread."""


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
    """The running loop's ``now`` (seconds, anyio's clock), event factory and waker."""

    now: Callable[[], float]
    event: Callable[[], OneShot]
    wake: Waker


def loop_primitives() -> LoopPrimitives:
    """The clock, event type and waker of the event loop running in this thread."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        token = trio.lowlevel.current_trio_token()
        return LoopPrimitives(trio.current_time, trio.Event, token.run_sync_soon)
    return LoopPrimitives(loop.time, asyncio.Event, loop.call_soon_threadsafe)


async def wait_through_cancel(done: OneShot) -> None:
    """Wait for ``done``; when cancelled meanwhile, still wait for it, then re-raise.

    For work that must not be abandoned (a journal write in a thread or in the
    kernel keeps using its buffer and decides what the file holds). The shielded
    scope is entered only on cancellation: around every wait it would cost more
    than the rest of a journal call on trio.
    """
    try:
        await done.wait()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await done.wait()
        raise
