"""A small real MCP server (the official SDK's ``MCPServer``) that the gateway tests sit behind.

Every tool call it receives is appended, as one JSON line, to the file named by
``--record`` *before* the tool runs, so a test can prove that a blocked call
never arrived. Tools: ``echo`` (read-only), ``delete_file`` (destructive),
``deploy`` (needs approval under the test policy), ``slow`` (answers after
a given delay, a hang past a short call timeout), ``crash`` (the process
exits mid-call), ``garbage`` (writes a non-JSON-RPC line instead of answering).

``--http`` serves streamable HTTP on an ephemeral loopback port and prints
``PORT <n>`` on stdout; the default is stdio.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

import anyio
from mcp.server import MCPServer
from mcp.server import stdio as sdk_stdio
from mcp.types import ToolAnnotations


def build(record: Path) -> MCPServer:
    server = MCPServer("gait-test-upstream")

    def note(tool: str, args: dict[str, object]) -> None:
        line = json.dumps({"tool": tool, "args": args, "pid": os.getpid()}) + "\n"
        with record.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Return the text."""
        note("echo", {"text": text})
        return text

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    def delete_file(path: str) -> str:
        """Delete a file (the test server only pretends)."""
        note("delete_file", {"path": path})
        return f"deleted {path}"

    @server.tool()
    def deploy(target: str) -> str:
        """Deploy somewhere."""
        note("deploy", {"target": target})
        return f"deployed {target}"

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answer after ``seconds`` (a hang, as far as a short call timeout is concerned)."""
        note("slow", {"seconds": seconds})
        await anyio.sleep(seconds)
        return "slept"

    @server.tool()
    def crash(code: int = 1) -> str:
        """Exit the server process mid-call."""
        note("crash", {"code": code})
        os._exit(code)

    @server.tool()
    async def garbage() -> str:
        """Write a line that is not JSON-RPC onto the wire, then never answer."""
        note("garbage", {})
        # While serving, the SDK points fd 1 at stderr and writes the wire through a
        # private duplicate; a misbehaving server writes there (test-only reach-in).
        claim = sdk_stdio._claims.get(1)
        wire = claim.private_fd if claim is not None and claim.private_fd is not None else 1
        os.write(wire, b"this is not json-rpc\n")
        await anyio.sleep(60)
        return "unreachable"

    return server


async def _serve_http(server: MCPServer) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--http", action="store_true")
    args = parser.parse_args()
    server = build(Path(args.record))
    if args.http:
        anyio.run(_serve_http, server)
    else:
        server.run()


if __name__ == "__main__":
    main()
