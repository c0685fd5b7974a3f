"""Rate-limit values and their pure rules (spec/gate.md §3.7), shared by policy and evaluate.

Owns: the :class:`RateLimit` value a rule carries, the most-restrictive choice
among a tier's limits, and the counter key. No I/O: the state file and its lock
live in :mod:`gait_runtime.commands.ratelimit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from ..artifacts.timefmt import format_ns

__all__ = ["SCOPES", "WINDOWS", "RateLimit", "counter_key", "most_restrictive_limit"]

WINDOWS: Final = {"minute": 60, "hour": 3600}
SCOPES: Final = ("tool", "identity", "tool_identity")


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
