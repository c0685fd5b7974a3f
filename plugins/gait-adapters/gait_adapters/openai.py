"""The ``openai`` adapter: a function-call object ``{"function": {"name", "arguments"}}``.

``arguments`` is a JSON-encoded string (``""`` ⇒ ``{}``) or an object (``null`` ⇒
``{}``); outer keys such as ``type`` and ``id`` are ignored. Only the name and the
arguments survive; the context defaults apply and there are no targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from gait_runtime.plugin import AdapterOutput

from ._common import base_intent, json_object, object_

__all__ = ["ADAPTER", "FunctionCallAdapter"]


class FunctionCallAdapter:
    """Function-call objects (chat-completions and responses tool calls)."""

    kind: Final[Literal["adapter"]] = "adapter"
    name: Final = "openai"
    aliases: Final[tuple[str, ...]] = ()

    def decode(self, call: Mapping[str, Any]) -> AdapterOutput:
        """Map a function call onto an IntentRequest."""
        function = object_(call.get("function"), "call.function")
        args = json_object(function.get("arguments"), "function.arguments")
        return AdapterOutput(base_intent(function.get("name"), args))


ADAPTER: Final = FunctionCallAdapter()
