"""Rate-limit values and their pure rules (spec/gate.md §3.7), shared by policy and evaluate.

Owns: the :class:`RateLimit` value a rule carries, the most-restrictive choice
among a tier's limits, the counter key, and the two numbers of the state-file
lock protocol that another layer reads (:data:`STATE_FILE_NAME`,
:data:`LOCK_STALE_S`: ``gait doctor`` reports a stale lock with them). No I/O:
the state file and its lock live in :mod:`gait_runtime.commands.ratelimit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from ..artifacts.timefmt import format_ns

__all__ = [
    "LOCK_STALE_S",
    "SCOPES",
    "STATE_FILE_NAME",
    "WINDOWS",
    "RateLimit",
    "counter_key",
    "most_restrictive_limit",
]

WINDOWS: Final = {"minute": 60, "hour": 3600}
SCOPES: Final = ("tool", "identity", "tool_identity")

STATE_FILE_NAME: Final = "gate_rate_limits.json"
"""Name of the rate-limit state file; its lock is ``<state>.lock`` beside it."""
LOCK_STALE_S: Final = 15.0
"""A state lock older than this (by mtime) was left by a dead writer (spec/gate.md §3.7).

The one staleness of the protocol: every writer, ours and Go's, removes such a lock
and retries, and ``gait doctor`` warns about one. A live writer holds the lock for
one read-modify-write (milliseconds) and a waiter gives up after 3 s.
"""


class RateLimit(NamedTuple):
    """A normalised ``rate_limit`` or ``destructive_budget`` block."""

    requests: int
    window: str = "minute"
    scope: str = "tool_identity"

    def payload(self) -> dict[str, Any]:
        """The §3.10 digest form."""
        return {"Requests": self.requests, "Window": self.window, "Scope": self.scope}


def most_restrictive_limit(limits: Sequence[RateLimit | None]) -> RateLimit | None:
    """Fewest requests, then ``minute`` before ``hour``, then scope name ascending."""
    present = [limit for limit in limits if limit is not None]
    if not present:
        return None
    return min(present, key=lambda r: (r.requests, WINDOWS[r.window], r.scope))


def counter_key(
    limit: RateLimit, *, tool_name: str, identity: str, now_ns: int, budget: bool
) -> str:
    """``window|scope|<bucket start>|<scope key>`` (§3.7)."""
    seconds = WINDOWS[limit.window]
    bucket = now_ns // 1_000_000_000 // seconds * seconds
    tool = f"destructive_budget|{tool_name}" if budget else tool_name
    scope_key = {
        "tool": tool,
        "identity": identity,
        "tool_identity": f"{tool}|{identity}",
    }[limit.scope]
    return f"{limit.window}|{limit.scope}|{format_ns(bucket * 1_000_000_000)}|{scope_key}"
