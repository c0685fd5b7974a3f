"""Wall-clock time, injected.

Owns: the :class:`Clock` protocol (wall-clock nanoseconds for timestamps that
end up in records), :class:`SystemClock` (the real one) and :class:`FakeClock`
(a settable clock for deterministic tests). It does not own monotonic time:
timers, deadlines and idle timeouts use ``anyio.current_time()``, which trio's
``MockClock`` drives in tests.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Source of wall-clock time for record timestamps."""

    def now_ns(self) -> int:
        """Return the current time as Unix nanoseconds (UTC)."""
        ...


class SystemClock:
    """The real wall clock (``time.time_ns``)."""

    def now_ns(self) -> int:
        """Return ``time.time_ns()``."""
        return time.time_ns()

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A wall clock that moves only when told to, for deterministic tests.

    Args:
        start_ns: the first reading, Unix nanoseconds.
        step_ns: added after every reading, so successive records get distinct,
            increasing timestamps without the test having to advance the clock.
    """

    def __init__(self, start_ns: int = 1_790_000_000_000_000_000, step_ns: int = 0) -> None:
        self._now = start_ns
        self._step = step_ns

    def now_ns(self) -> int:
        """Return the current fake time, then advance it by ``step_ns``."""
        value = self._now
        self._now += self._step
        return value

    def advance(self, ns: int) -> None:
        """Move the fake time forward by ``ns`` nanoseconds."""
        self._now += ns

    def set(self, ns: int) -> None:
        """Set the fake time to ``ns``."""
        self._now = ns
