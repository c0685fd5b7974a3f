"""The ``anthropic`` adapter: a tool-use block ``{"type": "tool_use", "name", "input"}``.

Only the name and the input survive; the context defaults apply and there are no targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from gait_runtime.plugin import AdapterOutput

from ._common import base_intent, object_

__all__ = ["ADAPTER", "ToolUseAdapter"]


class ToolUseAdapter:
    """Tool-use content blocks."""

    kind: Final[Literal["adapter"]] = "adapter"
    name: Final = "anthropic"
    aliases: Final[tuple[str, ...]] = ()

    def decode(self, call: Mapping[str, Any]) -> AdapterOutput:
        """Map a tool-use block onto an IntentRequest."""
        return AdapterOutput(
            base_intent(call.get("name"), object_(call.get("input"), "call.input"))
        )


ADAPTER: Final = ToolUseAdapter()
