"""The entry-point object (light: it does not import the framework)."""

from __future__ import annotations

from typing import Final, Literal


class _Integration:
    kind: Final[Literal["integration"]] = "integration"
    name: Final = "langchain_tools"
    framework: Final = "langchain-core"


INTEGRATION: Final = _Integration()
