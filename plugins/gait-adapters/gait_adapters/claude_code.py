"""The ``claude_code`` adapter: a coding-assistant hook payload.

Shape: ``{"tool_name"|"name", "tool_input"|"input", "session_id", "hook_event_name"}``.
Tool names (compared lower-cased with spaces, ``_`` and ``-`` removed) map onto the
gate's vocabulary — ``read``, ``grep``, ``glob``, ``webfetch``, ``websearch`` ⇒
``tool.read``; ``write``, ``edit``, ``notebookedit`` ⇒ ``tool.write``; ``bash`` ⇒
``tool.exec``; ``task`` ⇒ ``tool.delegate``; a dotted name is lower-cased as is; any
other becomes ``tool.<name>`` — and targets are inferred from the tool input.
``session_id`` goes into the context, ``hook_event_name`` into ``auth_context``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from gait_runtime.errors import IntentError
from gait_runtime.plugin import AdapterOutput, lower

from ._common import base_intent, json_object, text

__all__ = ["ADAPTER", "HookAdapter", "hook_tool_name"]

_HOOK_TOOL_NAMES: Final[dict[str, str]] = {
    "read": "tool.read",
    "grep": "tool.read",
    "glob": "tool.read",
    "webfetch": "tool.read",
    "websearch": "tool.read",
    "write": "tool.write",
    "edit": "tool.write",
    "notebookedit": "tool.write",
    "bash": "tool.exec",
    "task": "tool.delegate",
}


def hook_tool_name(name: str) -> str:
    """Map a hook payload's tool name onto the gate's ``tool.*`` vocabulary."""
    squashed = lower(name).replace(" ", "").replace("_", "").replace("-", "")
    if squashed in _HOOK_TOOL_NAMES:
        return _HOOK_TOOL_NAMES[squashed]
    if "." in name:
        return lower(name)
    return "tool." + lower(name).replace(" ", "_").replace("-", "_")


def _first(args: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        if text(args.get(key)):
            return text(args[key])
    return ""


def _hook_targets(tool: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    path = _first(args, ("path", "file_path", "filepath", "file"))
    if tool == "tool.read":
        if path:
            targets.append({"kind": "path", "value": path, "operation": "read"})
        url = _first(args, ("url", "uri"))
        if url:
            targets.append({"kind": "url", "value": url, "operation": "read"})
    elif tool == "tool.write" and path:
        targets.append({"kind": "path", "value": path, "operation": "write"})
    elif tool == "tool.exec":
        command = _first(args, ("command", "cmd", "script"))
        if command:
            targets.append({"kind": "other", "value": command, "operation": "execute"})
    elif tool == "tool.delegate":
        task = _first(args, ("task", "prompt", "description"))
        if task:
            targets.append({"kind": "other", "value": task, "operation": "delegate"})
    return targets


class HookAdapter:
    """Coding-assistant hook payloads (PreToolUse and friends)."""

    kind: Final[Literal["adapter"]] = "adapter"
    name: Final = "claude_code"
    aliases: Final[tuple[str, ...]] = ("claude-code", "claudecode")

    def decode(self, call: Mapping[str, Any]) -> AdapterOutput:
        """Map a hook payload onto an IntentRequest with inferred targets."""
        raw_name = text(call.get("tool_name")) or text(call.get("name"))
        raw_input = call.get("tool_input") if "tool_input" in call else call.get("input")
        args = json_object(raw_input, "tool_input")
        if not raw_name:
            raise IntentError("tool call name is required", code="call_invalid")
        tool = hook_tool_name(raw_name)
        intent = base_intent(tool, args)
        intent["targets"] = _hook_targets(tool, args)
        context: dict[str, Any] = {}
        if text(call.get("session_id")):
            context["session_id"] = text(call["session_id"])
        if text(call.get("hook_event_name")):
            context["auth_context"] = {
                "hook_event_name": text(call["hook_event_name"]),
                "adapter": "claude_code",
            }
        intent["context"] = context
        return AdapterOutput(intent)


ADAPTER: Final = HookAdapter()
