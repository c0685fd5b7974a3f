"""Private: the I/O fast paths under the session actors (not a public API).

Everything here exists to make journal appends cheap on the event loop, and
nothing outside :mod:`gait_runtime.supervisor.sessions` should need it:

- ``loop``: the running loop's clock and a one-shot event, looked up once per
  actor instead of per call (asyncio and trio).
- ``iothread``: :class:`IoThread`, one long-lived worker thread per actor for
  blocking journal calls (cheaper than ``anyio.to_thread`` per batch).
- ``uring``: :class:`JournalRing`, appends under a lock lease through one
  io_uring per manager (Linux; falls back to the I/O thread when unavailable
  or lost).
"""

from __future__ import annotations

from .iothread import IoThread as IoThread
from .loop import LoopPrimitives as LoopPrimitives
from .loop import OneShot as OneShot
from .loop import Waker as Waker
from .loop import loop_primitives as loop_primitives
from .loop import wait_through_cancel as wait_through_cancel
from .uring import JournalRing as JournalRing
from .uring import RingBusy as RingBusy
from .uring import RingLost as RingLost
from .uring import RingUnavailable as RingUnavailable

__all__ = [
    "IoThread",
    "JournalRing",
    "LoopPrimitives",
    "OneShot",
    "RingBusy",
    "RingLost",
    "RingUnavailable",
    "Waker",
    "loop_primitives",
    "wait_through_cancel",
]
