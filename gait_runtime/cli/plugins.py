"""``gait plugins list``: what is installed in the ``gait_runtime.plugins`` group, and from where."""

from __future__ import annotations

import argparse

from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_list"]


def build_list(parser: Parser) -> Handler:
    """``gait plugins list [--json]``: one line per plugin (name, kind, distribution, file)."""
    add_common(parser, "lists installed plugins and the distribution and file each comes from")

    def handle(_: argparse.Namespace) -> Result:
        from ..plugin import ENTRY_POINT_GROUP, discover

        infos = discover()
        lines = []
        for info in infos:
            aliases = f" (aliases: {', '.join(info.aliases)})" if info.aliases else ""
            status = f"  UNUSABLE: {info.error}" if info.error else ""
            lines.append(
                f"{info.name:<16} {info.kind or '?':<12} {info.distribution} {info.version}"
                f"  {info.value}  {info.location}{aliases}{status}"
            )
        if not infos:
            lines.append(f"no plugins installed in the {ENTRY_POINT_GROUP} entry-point group")
        payload = {
            "ok": True,
            "group": ENTRY_POINT_GROUP,
            "plugins": [info.as_json() for info in infos],
        }
        return Result(payload, lines)

    return handle
