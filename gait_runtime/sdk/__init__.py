"""The Python SDK: ask the gate before a tool runs, and run it only on ``allow``.

- :class:`GaitClient` / :class:`AsyncGaitClient` — clients of a running ``gait serve``
  (httpx; one timeout budget per call; bounded, jittered retries on 503/429 only).
- :class:`LocalGate` — the same interface, evaluating in-process against a policy file.
- :func:`gated` — a decorator for sync and async tool functions; :class:`Recorder`
  keeps intent/result pairs for a run record.
- Typed errors (:mod:`.errors`): every outcome other than ``allow`` raises.

Imports the gate, the artifacts and the plugin Protocols only — never the supervisor.
"""

from __future__ import annotations

from .client import DEFAULT_URL, AsyncGaitClient, GaitClient, RetryPolicy, default_url
from .decision import Decision, approve_command
from .decorator import Recorder, gated, load_tokens
from .errors import (
    ApprovalRequired,
    CallDecodeError,
    DryRunOnly,
    GateBadReply,
    GateRequestRejected,
    GateTimeout,
    GateUnavailable,
    ToolBlocked,
    ToolNotAllowed,
)
from .local import LocalGate

__all__ = [
    "DEFAULT_URL",
    "ApprovalRequired",
    "AsyncGaitClient",
    "CallDecodeError",
    "Decision",
    "DryRunOnly",
    "GaitClient",
    "GateBadReply",
    "GateRequestRejected",
    "GateTimeout",
    "GateUnavailable",
    "LocalGate",
    "Recorder",
    "RetryPolicy",
    "ToolBlocked",
    "ToolNotAllowed",
    "approve_command",
    "default_url",
    "gated",
    "load_tokens",
]
