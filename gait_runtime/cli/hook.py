"""``gait hook claude-code``: answer a coding agent's PreToolUse hook, fail-closed.

The answer itself (flags, watchdog, remote and in-process decision) lives in
:mod:`gait_runtime.hookcli`, the hot path that ``gait hook claude-code`` and
``gait-hook`` run without this CLI frame. This module is the regular command, used
for ``--help``, ``--json`` (the answer wrapped in the CLI envelope) and ``--explain``.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..hookcli import add_flags, answer, respond
from ..hookcli import main as fast_main

if TYPE_CHECKING:
    from ._frame import Handler, Parser, Result

__all__ = ["answer", "build_claude_code", "fast_main", "respond"]


def build_claude_code(parser: Parser) -> Handler:
    """``gait hook claude-code [--url URL | --policy P] [--timeout S]``."""
    from ._frame import add_common

    add_common(parser, "answers a PreToolUse hook payload on stdin with allow, ask or deny")
    add_flags(parser)

    def handle(ns: argparse.Namespace) -> Result:
        out = respond(ns)
        permission = out["hookSpecificOutput"]["permissionDecision"]
        from ._frame import Result

        return Result({"ok": True, "permission": permission, **out}, [json.dumps(out)])

    return handle
