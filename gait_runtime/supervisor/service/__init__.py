"""The decision service: what ``gait serve`` runs on top of the sessions.

- ``config``: :class:`ServiceConfig` (every server setting, validated once),
  ``--listen`` parsing, retention rules, the duration-flag adapter.
- ``decisions``: :class:`DecisionService`, the decision path (request →
  adapters → gate → signed trace → session journal → exports → reply), one
  named step per stage; ``request`` decodes and checks the request body,
  ``reply`` holds the typed response body and the HTTP answer.
- ``trace_writer``: the decision path's trace sink (server traces to the trace log,
  client ``trace_path`` files written durably with group commit off the event loop).
- ``trace_log``: the server trace log, one ``write`` + ``fdatasync`` per batch.
- ``trace_export``: trace files written from the log in the background.
- ``http``: the ASGI app (routes, body limit, JSON/SSE/NDJSON framing, the one
  error → HTTP status map).
- ``server``: the HTTP front (uvicorn on asyncio, hypercorn on trio) inside the
  supervisor's task group, reporting the bound address.
- ``auth``: bearer tokens, constant-time compare.
- ``retention``: the retention janitor's sweep and ``gait guard retain``.

The Supervisor that composes these (policy reload, signals, drain) is
:mod:`gait_runtime.supervisor.runtime`.
"""

from __future__ import annotations

from .config import ListenAddress as ListenAddress
from .config import RetentionRule as RetentionRule
from .config import ServiceConfig as ServiceConfig
from .config import parse_listen as parse_listen
from .decisions import DecisionReply as DecisionReply
from .decisions import DecisionService as DecisionService

__all__ = [
    "DecisionReply",
    "DecisionService",
    "ListenAddress",
    "RetentionRule",
    "ServiceConfig",
    "parse_listen",
]
