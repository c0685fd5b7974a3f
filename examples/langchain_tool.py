"""Quickstart: a LangChain tool wrapped by gait (offline).

    .venv/bin/python examples/langchain_tool.py

``gated_tool(tool, gate)`` keeps the tool's name, description and schema; it runs only
on allow. A refused call raises the typed error (or, with ``return_refusal=True``,
gives the agent the reason as the tool output).
"""

from __future__ import annotations

from typing import Any

from common import POLICY, approve, approver_keys, scratch
from gait_langchain import gated_tool
from langchain_core.tools import tool

from gait_runtime.sdk import ApprovalRequired, LocalGate, ToolBlocked


@tool("tool.read")
def read(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@tool("tool.delete")
def delete(path: str) -> str:
    """Delete a file."""
    raise SystemExit("unreachable: a blocked tool never runs")


@tool("tool.deploy")
def deploy(env: str) -> str:
    """Deploy."""
    return f"deployed to {env}"


work = scratch()
private_key, public_key = approver_keys(work)
gate = LocalGate(POLICY, approval_public_key=str(public_key))
tokens: list[dict[str, Any]] = []

print("allow:", gated_tool(read, gate).invoke({"path": "/srv/notes.txt"}))
try:
    gated_tool(delete, gate).invoke({"path": "/srv/notes.txt"})
except ToolBlocked as err:
    print("block: not run:", ",".join(err.decision.reason_codes))
guarded_deploy = gated_tool(deploy, gate, approval_tokens=tokens)
try:
    guarded_deploy.invoke({"env": "prod"})
except ApprovalRequired as err:
    print("require_approval: not run; intent", err.intent_digest[:12])
    tokens.append(approve(err.command, private_key, work / "approval.json"))
    print("approved then allow:", guarded_deploy.invoke({"env": "prod"}))
