"""``gait completion bash|zsh|tcsh``: a shell completion script for every command.

Owns: building one argparse tree of the whole command table (each command's
own ``build`` adds its flags, so completion never drifts from the parsers)
and handing it to ``shtab``, which writes the script. Commands are imported
only here, when a script is asked for.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Final

from ..errors import UsageError
from ._frame import Handler, Parser, Result, add_common

__all__ = ["SHELLS", "build_completion", "command_tree"]

SHELLS: Final = ("bash", "zsh", "tcsh")


def command_tree() -> argparse.ArgumentParser:
    """One parser whose nested sub-commands are the whole ``gait`` command table."""
    from . import COMMANDS

    root = Parser(prog="gait", description="the gait-runtime command line")
    nodes: dict[tuple[str, ...], argparse.ArgumentParser] = {(): root}
    actions: dict[tuple[str, ...], Any] = {}
    summaries = {words: summary for words, (_, summary) in COMMANDS.items()}
    for words in sorted(COMMANDS, key=lambda w: (len(w), w)):
        for depth in range(1, len(words) + 1):
            prefix = words[:depth]
            if prefix in nodes:
                continue
            parent = prefix[:-1]
            if parent not in actions:
                actions[parent] = nodes[parent].add_subparsers(dest=f"command_{depth}")
            node = actions[parent].add_parser(
                prefix[-1], help=summaries.get(prefix, f"{' '.join(prefix)} commands")
            )
            nodes[prefix] = node
        target = COMMANDS[words][0]
        module_name, func_name = target.split(":")
        builder = getattr(importlib.import_module(module_name), func_name)
        builder(nodes[words])
    return root


def build_completion(parser: Parser) -> Handler:
    """``gait completion <shell>``: print the completion script (source it from your rc)."""
    add_common(parser, "prints a shell completion script for every gait command and flag")
    parser.add_argument("shell", nargs="?", default="", help="bash, zsh or tcsh")

    def handle(ns: argparse.Namespace) -> Result:
        import shtab

        shell = ns.shell.strip().lower()
        if shell not in SHELLS:
            raise UsageError(
                f"unsupported shell {ns.shell!r} (use bash, zsh or tcsh)", code="shell_unsupported"
            )
        script = shtab.complete(command_tree(), shell=shell)
        payload = {"ok": True, "shell": shell, "script": script}
        return Result(payload, [script.rstrip("\n")])

    return handle
