"""The ``langchain`` adapter: a tool invocation ``{"tool", "tool_input"}``.

``tool_input`` is an object or a JSON-encoded string. Only the name and the input
survive; the context defaults apply and there are no targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from gait_runtime.plugin import AdapterOutput

from ._common import base_intent, json_object

__all__ = ["ADAPTER", "ToolInvocationAdapter"]


class ToolInvocationAdapter:
    """Agent-action style tool invocations."""

    kind: Final[Literal["adapter"]] = "adapter"
    name: Final = "langchain"
    aliases: Final[tuple[str, ...]] = ()

    def decode(self, call: Mapping[str, Any]) -> AdapterOutput:
        """Map a tool invocation onto an IntentRequest."""
        args = json_object(call.get("tool_input"), "tool_input")
        return AdapterOutput(base_intent(call.get("tool"), args))


ADAPTER: Final = ToolInvocationAdapter()
