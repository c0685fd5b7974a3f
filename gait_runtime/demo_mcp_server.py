"""The demo MCP server behind ``gait demo mcp`` (the official SDK's ``MCPServer``, on stdio).

Two tools over a notes folder: ``read_note`` (read-only) and ``delete_note``
(destructive). Every call it receives is appended to the ``--record`` file
before the tool runs, so the demo can show that a blocked call never arrived.
Run: ``python -m gait_runtime.demo_mcp_server --record calls.jsonl --notes DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

__all__ = ["build_server", "main"]


def build_server(record: Path, notes: Path) -> MCPServer:
    """The demo server; ``record`` receives one JSON line per call received."""
    server = MCPServer("gait-demo-notes")

    def received(tool: str, name: str) -> None:
        with record.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"tool": tool, "name": name}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def read_note(name: str) -> str:
        """Read one note from the notes folder."""
        received("read_note", name)
        return (notes / Path(name).name).read_text(encoding="utf-8")

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    def delete_note(name: str) -> str:
        """Delete one note from the notes folder."""
        received("delete_note", name)
        (notes / Path(name).name).unlink()
        return f"deleted {name}"

    return server


def main() -> None:
    """Serve the demo tools on stdio."""
    parser = argparse.ArgumentParser(prog="python -m gait_runtime.demo_mcp_server")
    parser.add_argument("--record", required=True, help="append every received call here")
    parser.add_argument("--notes", required=True, help="the notes folder")
    args = parser.parse_args()
    build_server(Path(args.record), Path(args.notes)).run()


if __name__ == "__main__":
    main()
