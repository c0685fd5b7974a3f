"""A LangChain tool wrapper that asks the gait gate before the tool runs.

The framework is imported only when ``gated_tool`` is first used (see ``tools.py``), so
plugin discovery stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gated_tool"]


def __getattr__(name: str) -> Any:
    if name == "gated_tool":
        from .tools import gated_tool

        return gated_tool
    raise AttributeError(name)
