"""What the supervisor hands the MCP gateway once its decision path is ready.

Owns: :class:`MountHost` (the decision service, the session layer, the current
policy and the server configuration) and the :data:`Mount` type of the
supervisor's hook. Imports nothing of the MCP SDK, so the supervisor can name
the hook without the optional dependency installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from ....gate.policy import CompiledPolicy
from ...service.config import ServiceConfig
from ...service.decisions import DecisionService
from ...sessions.manager import SessionManager

__all__ = ["ASGIApp", "Mount", "MountHost"]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


@dataclass(frozen=True, slots=True)
class MountHost:
    """The running decision server, as the gateway sees it.

    Attributes:
        service: the decision path (decode, evaluate, sign, journal, export).
        sessions: the session layer (the gateway journals tool results through it).
        policy: returns the current compiled policy (swapped on reload).
        config: the server configuration (limits, listen address, auth).
        serve_http: true when the supervisor serves HTTP (the gateway then offers ``/mcp``).
    """

    service: DecisionService
    sessions: SessionManager
    policy: Callable[[], CompiledPolicy]
    config: ServiceConfig
    serve_http: bool


Mount = Callable[[MountHost], AbstractAsyncContextManager[ASGIApp | None]]
"""The supervisor's hook: enter it once the decision path runs, exit it after HTTP drained."""
