"""Quickstart: an OpenAI Agents SDK tool guarded by gait (offline, scripted model).

    .venv/bin/python examples/openai_agents_guardrail.py

The tool carries ``gait_guardrail(gate)`` in ``tool_input_guardrails``. The scripted
model calls it three times: a read (allow: the tool runs), a delete (block: the model
gets the reason instead), a deploy (require_approval: not run; after the approver's
token is added, the next run's deploy runs). Swap ``ScriptedModel`` for a real model
in your code; nothing else changes.
"""

from __future__ import annotations

from typing import Any

import anyio
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from common import POLICY, approve, approver_keys, scratch
from gait_openai_agents import gait_guardrail

from gait_runtime.sdk import ApprovalRequired, LocalGate

work = scratch()
private_key, public_key = approver_keys(work)
gate = LocalGate(POLICY, approval_public_key=str(public_key))
tokens: list[dict[str, Any]] = []
guard = gait_guardrail(gate, approval_tokens=tokens)


def make_tool(name: str) -> Any:
    @function_tool(name_override=name, tool_input_guardrails=[guard])
    def tool(target: str) -> str:
        """Act on a target."""
        return f"{name} ran on {target}"

    return tool


def run(tool_name: str, target: str) -> tuple[str, Any]:
    model = ScriptedModel(
        [[function_call(tool_name, {"target": target}, call_id="c1")], [assistant_message("ok")]]
    )
    agent = Agent(name="quickstart", model=model, tools=[make_tool(tool_name)])

    async def main() -> Any:
        return await Runner.run(agent, "go", run_config=RunConfig(tracing_disabled=True))

    result = anyio.run(main)
    outputs = [i for i in result.new_items if type(i).__name__ == "ToolCallOutputItem"]
    refusal = result.tool_input_guardrail_results[0].output.output_info
    return str(outputs[0].output), refusal


print("allow:", run("tool.read", "/srv/notes.txt")[0])
print("block:", run("tool.delete", "/srv/notes.txt")[0])
output, refusal = run("tool.deploy", "prod")
print("require_approval:", output)
if isinstance(refusal, ApprovalRequired):  # the guardrail keeps the typed error
    tokens.append(approve(refusal.command, private_key, work / "approval.json"))
print("approved then allow:", run("tool.deploy", "prod")[0])
