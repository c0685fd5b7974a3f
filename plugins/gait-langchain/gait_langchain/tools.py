"""A LangChain tool wrapper that asks the gait gate before the tool runs.

``gated_tool(tool, gate)`` returns a ``StructuredTool`` with the same name, description
and argument schema. Each invocation first sends ``{"tool": name, "tool_input": args}``
through the ``langchain`` adapter (or the native ``mcp`` call with ``context`` when one
is given) to the gate; the wrapped tool runs only on ``allow``. Anything else raises
the SDK's typed error (``ToolBlocked``, ``ApprovalRequired``, ``GateUnavailable``, ...);
with ``return_refusal=True`` the agent gets the refusal text as the tool's output
instead (through LangChain's ``ToolException`` handling) — the tool still does not run.
The gate may be a ``GaitClient`` or ``LocalGate`` (sync and async invocations) or an
``AsyncGaitClient`` (async invocations only; a sync invocation is refused).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from gait_runtime.errors import GaitError
from gait_runtime.sdk import CallDecodeError, Decision
from gait_runtime.sdk.decision import not_allowed

__all__ = ["gated_tool"]


def _call(
    name: str, args: dict[str, Any], context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    if context is None:
        return {"tool": name, "tool_input": args}, "langchain"
    return {"name": name, "args": args, "context": dict(context)}, "mcp"


def gated_tool(
    tool: BaseTool,
    gate: Any,
    *,
    context: Mapping[str, Any] | None = None,
    return_refusal: bool = False,
    approval_tokens: Sequence[Mapping[str, Any]] = (),
) -> StructuredTool:
    """Wrap ``tool`` so that it runs only when the gate says ``allow``.

    Args:
        tool: any LangChain tool.
        gate: a ``GaitClient``, ``AsyncGaitClient`` or ``LocalGate``.
        context: the native call context (identity, workspace, risk_class, session_id).
        return_refusal: give the agent the refusal text instead of raising.
        approval_tokens: tokens sent with every call (``gait approve`` output, decoded);
            the list may grow, so a call approved after a refusal passes.
    """

    def refuse(error: GaitError) -> None:
        if return_refusal:
            raise ToolException(f"gait: {error.message}") from error
        raise error

    def decided(decision: object, call: dict[str, Any], adapter: str) -> None:
        if not isinstance(decision, Decision):
            refuse(CallDecodeError("a sync invocation needs a sync gate client"))
            return
        if not decision.allowed:
            refuse(not_allowed(decision, call, adapter))

    def run(**kwargs: Any) -> Any:
        call, adapter = _call(tool.name, kwargs, context)
        try:
            pending = gate.evaluate(call, adapter=adapter, approval_tokens=list(approval_tokens))
        except GaitError as exc:
            refuse(exc)
        if inspect.isawaitable(pending):
            pending.close()  # type: ignore[attr-defined]
        decided(pending, call, adapter)
        return tool.invoke(kwargs)

    async def arun(**kwargs: Any) -> Any:
        call, adapter = _call(tool.name, kwargs, context)
        try:
            pending = gate.evaluate(call, adapter=adapter, approval_tokens=list(approval_tokens))
            decision = await pending if inspect.isawaitable(pending) else pending
        except GaitError as exc:
            refuse(exc)
        decided(decision, call, adapter)
        return await tool.ainvoke(kwargs)

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        handle_tool_error=return_refusal,
    )
