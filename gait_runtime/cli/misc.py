"""``gait version``."""

from __future__ import annotations

import argparse

from .. import __version__
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_version"]


def build_version(parser: Parser) -> Handler:
    """``gait version [--json]``: prints ``gait <version>``."""
    add_common(parser, "prints the gait-runtime version")

    def handle(_: argparse.Namespace) -> Result:
        return Result({"ok": True, "version": __version__}, [f"gait {__version__}"])

    return handle
