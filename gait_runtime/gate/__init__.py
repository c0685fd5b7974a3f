"""The gate: decide whether an agent tool call may run, and leave signed evidence.

Public API (the supervisor calls these on every request):

- :func:`compile_policy` / :func:`load_policy` -> immutable :class:`CompiledPolicy`
- :func:`parse_intent_json` / :func:`normalize_intent` -> :class:`NormalizedIntent`
- :func:`evaluate` (pure) -> :class:`GateResult`
- :func:`decide` (approvals, simulate, signed trace) -> :class:`FinalDecision`
- :func:`build_trace` / :func:`verify_trace` for ``gait.gate.trace`` records
- :func:`mint_token` / :func:`validate_token` for approval tokens

This package never imports anyio and does no network I/O; files are touched only
by :func:`load_policy` and the explicit writers in :mod:`.trace`.

Names are imported on first use (PEP 562 ``__getattr__``), so a caller that needs only
:func:`evaluate` and :func:`normalize_intent` (the coding-agent hook) does not pay for
YAML, approvals, traces or signing (``cryptography``). :mod:`.evaluate` is imported at
once: its module name equals the function's, and importing the submodule later would
otherwise rebind ``gait_runtime.gate.evaluate`` to the module.
"""

from __future__ import annotations

from ..artifacts._lazy import lazy_names as _lazy_names
from .evaluate import GateResult as GateResult
from .evaluate import evaluate as evaluate

TYPE_CHECKING = False  # type checkers treat this name as True
if TYPE_CHECKING:
    from .approval import mint_token as mint_token
    from .approval import validate_token as validate_token
    from .intent import NormalizedIntent as NormalizedIntent
    from .intent import Target as Target
    from .intent import normalize_intent as normalize_intent
    from .intent import parse_intent_json as parse_intent_json
    from .pipeline import FinalDecision as FinalDecision
    from .pipeline import decide as decide
    from .policy import CompiledPolicy as CompiledPolicy
    from .policy import compile_policy as compile_policy
    from .policy import load_policy as load_policy
    from .trace import TraceVerifyResult as TraceVerifyResult
    from .trace import build_trace as build_trace
    from .trace import verify_trace as verify_trace

__all__ = [
    "CompiledPolicy",
    "FinalDecision",
    "GateResult",
    "NormalizedIntent",
    "Target",
    "TraceVerifyResult",
    "build_trace",
    "compile_policy",
    "decide",
    "evaluate",
    "load_policy",
    "mint_token",
    "normalize_intent",
    "parse_intent_json",
    "validate_token",
    "verify_trace",
]

_LAZY = {
    "CompiledPolicy": "policy",
    "FinalDecision": "pipeline",
    "NormalizedIntent": "intent",
    "Target": "intent",
    "TraceVerifyResult": "trace",
    "build_trace": "trace",
    "compile_policy": "policy",
    "decide": "pipeline",
    "load_policy": "policy",
    "mint_token": "approval",
    "normalize_intent": "intent",
    "parse_intent_json": "intent",
    "validate_token": "approval",
    "verify_trace": "trace",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals(), __all__)
