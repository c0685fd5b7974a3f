"""``@gated(...)``: a tool function that runs only when the gate says ``allow``.

Owns: building the native tool-call object from the function's bound arguments,
asking the gate (any of :class:`GaitClient`, :class:`AsyncGaitClient`,
:class:`LocalGate`), raising the typed error for every other outcome (the function
is not called), passing approval tokens (the ``gait_approval=`` keyword, stripped
before the call), and the :class:`Recorder` that keeps every intent with its result
so the run can be written as a run record (``gait run record`` turns it into a
signed runpack). A call that did not run is recorded with ``executed: false``.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from ..artifacts.timefmt import format_ns
from ..errors import GaitError, UsageError
from ..gate.trace import write_json_artifact
from .decision import Decision, not_allowed
from .errors import CallDecodeError

__all__ = ["Gate", "Recorder", "gated", "load_tokens"]

P = ParamSpec("P")
R = TypeVar("R")
APPROVAL_KEYWORD = "gait_approval"


class Gate(Protocol):
    """What the decorator needs: :class:`GaitClient`, :class:`AsyncGaitClient`, :class:`LocalGate`."""

    def evaluate(
        self,
        call: Mapping[str, Any],
        *,
        adapter: str = ...,
        run_id: str = ...,
        session_id: str = ...,
        approval_tokens: Sequence[Mapping[str, Any]] = ...,
    ) -> Decision | Awaitable[Decision]:
        """Decide on one call."""
        ...


TokenArg = Mapping[str, Any] | str | Path | Sequence[Mapping[str, Any] | str | Path] | None


def load_tokens(tokens: TokenArg) -> list[dict[str, Any]]:
    """Approval tokens from dicts or token files (``gait approve --out``).

    Raises:
        CallDecodeError: a token file does not read as a JSON object.
    """
    if tokens is None:
        return []
    items = [tokens] if isinstance(tokens, Mapping | str | Path) else list(tokens)
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            out.append(dict(item))
            continue
        try:
            doc = json.loads(Path(item).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CallDecodeError(f"read approval token {item}: {exc}") from exc
        if not isinstance(doc, dict):
            raise CallDecodeError(f"approval token {item} is not a JSON object")
        out.append(doc)
    return out


def _json_safe(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise CallDecodeError(f"{what} is not JSON data: {exc}") from exc


class Recorder:
    """Keeps every gated call's intent and result, in call order.

    Args:
        run_id: the run's id (``run_`` prefixed in the run record).
        clock_ns: wall clock in Unix nanoseconds (the record's timestamps).
    """

    def __init__(self, run_id: str = "run_sdk", *, clock_ns: Callable[[], int] = time.time_ns):
        self.run_id = run_id if run_id.startswith("run_") else "run_" + run_id
        self._clock_ns = clock_ns
        self.created_at = format_ns(clock_ns())
        self.intents: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []

    def record(
        self,
        tool: str,
        args: Mapping[str, Any],
        *,
        decision: Decision | None,
        executed: bool,
        result: Mapping[str, Any],
        ok: bool,
    ) -> str:
        """Add one intent and its result; returns the intent id."""
        intent_id = f"intent_{len(self.intents) + 1}"
        stamp = format_ns(self._clock_ns())
        self.intents.append(
            {"intent_id": intent_id, "tool_name": tool, "args": dict(args), "created_at": stamp}
        )
        body = dict(result)
        body["executed"] = executed
        if decision is not None:
            body.setdefault("verdict", decision.verdict)
            body.setdefault("intent_digest", decision.intent_digest)
            body.setdefault("trace_id", decision.trace_id)
        self.results.append(
            {
                "intent_id": intent_id,
                "status": "ok" if ok and executed else "error",
                "result": body,
                "created_at": stamp,
            }
        )
        return intent_id

    def run_record(self) -> dict[str, Any]:
        """The ``gait run record`` input document (``run``, ``intents``, ``results``)."""
        return {
            "run": {
                "run_id": self.run_id,
                "created_at": self.created_at,
                "timeline": [{"event": "run_started", "ts": self.created_at}],
            },
            "intents": [dict(i) for i in self.intents],
            "results": [dict(r) for r in self.results],
            "capture_mode": "reference",
        }

    def write(self, path: str | Path) -> Path:
        """Write :meth:`run_record` as JSON (then: ``gait run record --input <path>``)."""
        return write_json_artifact(path, self.run_record())


def gated(
    gate: Gate,
    *,
    tool: str | None = None,
    targets: Callable[[dict[str, Any]], Sequence[Mapping[str, Any]]]
    | Sequence[Mapping[str, Any]]
    | None = None,
    context: Mapping[str, Any] | None = None,
    recorder: Recorder | None = None,
    run_id: str = "",
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Gate a tool function (sync or async): it runs only on ``allow``.

    Args:
        gate: the client or local gate that decides.
        tool: the tool name (default: the function's ``__name__``).
        targets: the call's targets, or a function of the bound arguments giving them.
        context: the call's context (identity, workspace, risk_class, session_id, ...).
        recorder: keeps the intent/result pairs.
        run_id: run id hint sent with each call.

    The wrapped function accepts ``gait_approval=`` (a token dict, a token file or a
    list of them) for the retry after an approval.

    Raises (from the wrapped call, the function not having run):
        ToolBlocked, DryRunOnly, ApprovalRequired, GateUnavailable, GateTimeout,
        GateBadReply, GateRequestRejected, CallDecodeError.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        name = tool or fn.__name__
        signature = inspect.signature(fn)
        is_async = inspect.iscoroutinefunction(fn)
        if not is_async and inspect.iscoroutinefunction(gate.evaluate):
            raise UsageError(f"@gated({name}): a sync function needs a sync gate client")

        def prepare(
            args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
            tokens = load_tokens(kwargs.pop(APPROVAL_KEYWORD, None))
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise CallDecodeError(f"{name}: {exc}") from exc
            bound.apply_defaults()
            call_args = _json_safe(dict(bound.arguments), f"{name} arguments")
            call: dict[str, Any] = {"name": name, "args": call_args}
            chosen = targets(call_args) if callable(targets) else targets
            if chosen:
                call["targets"] = _json_safe([dict(t) for t in chosen], f"{name} targets")
            if context:
                call["context"] = _json_safe(dict(context), f"{name} context")
            return call, call_args, tokens

        def refused(call_args: dict[str, Any], exc: GaitError, decision: Decision | None) -> None:
            if recorder is not None:
                recorder.record(
                    name,
                    call_args,
                    decision=decision,
                    executed=False,
                    result={"error": exc.error_code, "reason_codes": list(_reasons(decision))},
                    ok=False,
                )

        def ran(call_args: dict[str, Any], decision: Decision, value: object) -> None:
            if recorder is not None:
                recorder.record(
                    name,
                    call_args,
                    decision=decision,
                    executed=True,
                    result=_result(value),
                    ok=True,
                )

        def failed(call_args: dict[str, Any], decision: Decision, exc: Exception) -> None:
            if recorder is not None:
                recorder.record(
                    name,
                    call_args,
                    decision=decision,
                    executed=True,
                    result={"error": f"{type(exc).__name__}: {exc}"},
                    ok=False,
                )

        def verdict(decision: Decision, call: dict[str, Any], call_args: dict[str, Any]) -> None:
            if not decision.allowed:
                error = not_allowed(decision, call, "mcp")
                refused(call_args, error, decision)
                raise error

        if is_async:

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                call, call_args, tokens = prepare(args, dict(kwargs))
                try:
                    pending = gate.evaluate(call, run_id=run_id, approval_tokens=tokens)
                    decision = await pending if inspect.isawaitable(pending) else pending
                except GaitError as exc:
                    refused(call_args, exc, None)
                    raise
                verdict(decision, call, call_args)
                try:
                    value = await cast(Callable[..., Awaitable[Any]], fn)(
                        *args, **_without_token(kwargs)
                    )
                except Exception as exc:
                    failed(call_args, decision, exc)
                    raise
                ran(call_args, decision, value)
                return value

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call, call_args, tokens = prepare(args, dict(kwargs))
            try:
                decision = gate.evaluate(call, run_id=run_id, approval_tokens=tokens)
            except GaitError as exc:
                refused(call_args, exc, None)
                raise
            if not isinstance(decision, Decision):
                raise UsageError(f"@gated({name}): the gate returned {type(decision).__name__}")
            verdict(decision, call, call_args)
            try:
                value = fn(*args, **_without_token(kwargs))
            except Exception as exc:
                failed(call_args, decision, exc)
                raise
            ran(call_args, decision, value)
            return value

        return cast(Callable[P, R], wrapper)

    return decorate


def _without_token(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != APPROVAL_KEYWORD}


def _reasons(decision: Decision | None) -> tuple[str, ...]:
    return decision.reason_codes if decision is not None else ()


def _result(value: object) -> dict[str, Any]:
    try:
        safe = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return {"repr": repr(value)}
    return safe if isinstance(safe, dict) else {"value": safe}
