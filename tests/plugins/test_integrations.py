"""The thin framework integrations against the real framework packages, offline.

OpenAI Agents SDK: a real ``Runner`` with the SDK's own scripted model emitting a
function call; the gait guardrail sits in the tool's ``tool_input_guardrails``.
LangChain: a real ``@tool`` wrapped by ``gated_tool`` and invoked sync and async.
Each test asserts whether the tool body ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.exceptions import ToolInputGuardrailTripwireTriggered
from agents.testing import ScriptedModel, assistant_message, function_call
from gait_langchain import gated_tool
from gait_openai_agents import gait_guardrail
from langchain_core.tools import tool

from gait_runtime import plugin
from gait_runtime.sdk import GaitClient, GateUnavailable, LocalGate, ToolBlocked

from ..sdk.servers import POLICY, closed_port

POLICY_PATH = Path(POLICY)


def _agent_run(gate: Any, tool_name: str, ran: list[str], **guard: Any) -> Any:
    @function_tool(name_override=tool_name, tool_input_guardrails=[gait_guardrail(gate, **guard)])
    def the_tool(path: str) -> str:
        """Touch a path."""
        ran.append(path)
        return f"touched {path}"

    model = ScriptedModel(
        [
            [function_call(tool_name, {"path": "/srv/a"}, call_id="c1")],
            [assistant_message("done")],
        ]
    )
    agent = Agent(name="a", model=model, tools=[the_tool])

    async def main() -> Any:
        return await Runner.run(agent, "go", run_config=RunConfig(tracing_disabled=True))

    return anyio.run(main)


def _tool_output(result: Any) -> str:
    outputs = [i for i in result.new_items if type(i).__name__ == "ToolCallOutputItem"]
    return str(outputs[0].output)


def test_agents_guardrail_lets_an_allowed_tool_run() -> None:
    """allow: the tool body runs and its output reaches the model."""
    ran: list[str] = []
    result = _agent_run(LocalGate(POLICY_PATH), "tool.read", ran)
    assert ran == ["/srv/a"] and _tool_output(result) == "touched /srv/a"


def test_agents_guardrail_rejects_a_blocked_tool() -> None:
    """block: the body does not run; the model gets the gait reason instead."""
    ran: list[str] = []
    result = _agent_run(LocalGate(POLICY_PATH), "tool.delete", ran)
    assert ran == []
    assert "destructive_tool_blocked" in _tool_output(result)


def test_agents_guardrail_rejects_when_the_gate_is_down() -> None:
    """Connection refused: no decision, the body does not run (fail closed)."""
    ran: list[str] = []
    with GaitClient(f"http://127.0.0.1:{closed_port()}") as client:
        result = _agent_run(client, "tool.read", ran)
    assert ran == [] and "GateUnavailable" in _tool_output(result)


def test_agents_guardrail_can_halt_the_run() -> None:
    """``on_refusal="raise"``: the SDK's tripwire exception ends the run, body not run."""
    ran: list[str] = []
    with pytest.raises(ToolInputGuardrailTripwireTriggered):
        _agent_run(LocalGate(POLICY_PATH), "tool.deploy", ran, on_refusal="raise")
    assert ran == []


def _lc_tools(ran: list[str]) -> tuple[Any, Any]:
    @tool("tool.read")
    def read(path: str) -> str:
        """Read a path."""
        ran.append("read " + path)
        return "content of " + path

    @tool("tool.delete")
    def delete(path: str) -> str:
        """Delete a path."""
        ran.append("delete " + path)
        return "deleted " + path

    return read, delete


def test_langchain_wrapper_runs_only_on_allow() -> None:
    """The wrapped read runs; the wrapped delete raises ToolBlocked and does not run."""
    ran: list[str] = []
    read, delete = _lc_tools(ran)
    gate = LocalGate(POLICY_PATH)
    assert gated_tool(read, gate).invoke({"path": "/a"}) == "content of /a"
    with pytest.raises(ToolBlocked):
        gated_tool(delete, gate).invoke({"path": "/a"})
    assert ran == ["read /a"]
    assert gated_tool(read, gate).args == read.args


def test_langchain_wrapper_async_and_refusal_as_output() -> None:
    """ainvoke gates too; ``return_refusal`` hands the reason to the agent, tool not run."""
    ran: list[str] = []
    read, delete = _lc_tools(ran)
    gate = LocalGate(POLICY_PATH)

    async def main() -> tuple[Any, Any]:
        ok = await gated_tool(read, gate).ainvoke({"path": "/b"})
        refused = await gated_tool(delete, gate, return_refusal=True).ainvoke({"path": "/b"})
        return ok, refused

    ok, refused = anyio.run(main)
    assert ok == "content of /b" and "destructive_tool_blocked" in refused
    assert ran == ["read /b"]


def test_langchain_wrapper_fails_closed_when_the_gate_is_down() -> None:
    """Connection refused: GateUnavailable, the tool not run."""
    ran: list[str] = []
    read, _ = _lc_tools(ran)
    with GaitClient(f"http://127.0.0.1:{closed_port()}") as client, pytest.raises(GateUnavailable):
        gated_tool(read, client).invoke({"path": "/a"})
    assert ran == []


def test_integrations_are_listed_as_plugins() -> None:
    """Both integrations are discovered with the framework they plug into."""
    found = {i.name: i for i in plugin.discover() if i.kind == "integration"}
    assert found["openai_agents"].distribution == "gait-openai-agents"
    assert found["langchain_tools"].distribution == "gait-langchain"
    assert getattr(found["langchain_tools"].plugin, "framework", "") == "langchain-core"
