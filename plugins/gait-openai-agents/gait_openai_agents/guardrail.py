"""A tool-input guardrail for the OpenAI Agents SDK that asks the gait gate first.

``gait_guardrail(gate)`` returns a ``ToolInputGuardrail`` to pass in a function tool's
``tool_input_guardrails``. Before the tool runs, the guardrail sends the call (the
tool's name and its JSON arguments, through the ``openai`` adapter — or the native
``mcp`` call with ``context`` when one is given) to the gate. Only ``allow`` lets the
tool run. Everything else — block, dry_run, require_approval, an unreachable or
garbled gate, any exception — rejects the call: by default the model gets the reason
instead of the tool's output (``reject_content``); with ``on_refusal="raise"`` the run
halts with the SDK's tripwire exception. The gate may be a ``GaitClient``, an
``AsyncGaitClient`` or a ``LocalGate``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agents import ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData

from gait_runtime.sdk import ApprovalRequired, Decision, ToolNotAllowed
from gait_runtime.sdk.decision import not_allowed

__all__ = ["gait_guardrail"]


def _call(
    name: str, arguments: str, context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    if context is None:
        return {"function": {"name": name, "arguments": arguments}}, "openai"
    args = json.loads(arguments) if arguments.strip() else {}
    return {"name": name, "args": args, "context": dict(context)}, "mcp"


def _message(error: Exception) -> str:
    if isinstance(error, ApprovalRequired):
        return f"gait: {error.message}"
    if isinstance(error, ToolNotAllowed):
        return f"gait: {error.message}"
    return f"gait: tool not run, no decision ({type(error).__name__}: {error})"


def gait_guardrail(
    gate: Any,
    *,
    context: Mapping[str, Any] | None = None,
    on_refusal: Literal["reject", "raise"] = "reject",
    name: str = "gait_gate",
    approval_tokens: Sequence[Mapping[str, Any]] = (),
) -> ToolInputGuardrail[Any]:
    """A tool-input guardrail that lets a tool run only when the gate says ``allow``.

    Args:
        gate: a ``GaitClient``, ``AsyncGaitClient`` or ``LocalGate``.
        context: the native call context (identity, workspace, risk_class, session_id);
            without it the ``openai`` adapter's defaults apply.
        on_refusal: ``reject`` (the model gets the reason) or ``raise`` (halt the run).
        name: the guardrail's name in run results.
        approval_tokens: tokens sent with every call (``gait approve`` output, decoded);
            the list may grow between runs, so a call approved after a refusal passes.
    """

    async def check(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        decision: Decision | None = None
        try:
            call, adapter = _call(data.context.tool_name, data.context.tool_arguments, context)
            pending = gate.evaluate(call, adapter=adapter, approval_tokens=list(approval_tokens))
            decision = await pending if inspect.isawaitable(pending) else pending
            assert isinstance(decision, Decision)
            if decision.allowed:
                return ToolGuardrailFunctionOutput.allow(output_info=decision)
            refusal: Exception = not_allowed(decision, call, adapter)
        except Exception as exc:  # fail closed: any failure means the tool does not run
            refusal = exc
        if on_refusal == "raise":
            return ToolGuardrailFunctionOutput.raise_exception(output_info=refusal)
        return ToolGuardrailFunctionOutput.reject_content(_message(refusal), output_info=refusal)

    return ToolInputGuardrail(guardrail_function=check, name=name)
