"""A tool-input guardrail for the OpenAI Agents SDK that asks the gait gate first.

The framework is imported only when ``gait_guardrail`` is first used (see ``guardrail.py``), so
plugin discovery stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gait_guardrail"]


def __getattr__(name: str) -> Any:
    if name == "gait_guardrail":
        from .guardrail import gait_guardrail

        return gait_guardrail
    raise AttributeError(name)
