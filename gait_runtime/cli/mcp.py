"""``gait mcp proxy`` (the MCP gateway) and ``gait demo mcp``.

Owns: the proxy's command line (the server flags, the gateway flags of
``_mcp_flags.py`` with ``--upstream``, the proxy's own defaults), the transport choice (stdio by default; ``--transport http`` serves the same
gateway under ``/mcp`` of the decision server, exactly as ``gait serve
--mcp-upstream`` does), and the demo. Running the server is ``cli/serve.py``'s.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ._frame import Handler, Parser, Result, add_common
from ._mcp_flags import add_gateway_flags, gateway_from_args, require_sdk

__all__ = ["build_demo_mcp", "build_proxy"]


def build_proxy(parser: Parser) -> Handler:
    """``gait mcp proxy``: the MCP gateway (stdio by default, or ``/mcp`` over HTTP)."""
    from .serve import add_server_flags, apply_posture, serve_command

    add_common(
        parser,
        "serves MCP (stdio, or streamable HTTP under /mcp) in front of the configured upstream "
        "MCP servers; every tools/call is decided by the policy, journaled and signed, and only "
        "allow reaches the upstream",
    )
    add_server_flags(parser)
    add_gateway_flags(parser, upstream_flag="--upstream")
    parser.add_argument(
        "--transport",
        default="stdio",
        choices=("stdio", "http"),
        help="downstream: stdio (for a coding agent's MCP config) or http (/mcp on --listen)",
    )
    parser.add_argument(
        "--posture",
        default="",
        help="runtime posture profile: dev | oss-prod | path to a posture YAML (flags win)",
    )
    # The journal's io_uring path buys nothing at an agent's call rate; the thread is the default.
    parser.set_defaults(
        trace_dir="./gait-out/mcp-proxy/traces",
        session_dir="./gait-out/mcp-proxy/sessions",
        journal_io="thread",
    )

    def handle(ns: argparse.Namespace) -> Result:
        ns = apply_posture(parser, ns, "mcp proxy")
        require_sdk()
        return serve_command(
            ns, "mcp proxy", gateway=gateway_from_args(ns), stdio=ns.transport == "stdio"
        )

    return handle


def build_demo_mcp(parser: Parser) -> Handler:
    """``gait demo mcp``: an SDK client → the gateway → a demo MCP server (allowed + blocked)."""
    add_common(
        parser,
        "starts a demo MCP server behind gait mcp proxy (stdio), lists its tools, makes one "
        "allowed call and one blocked call, and shows the blocked one never reached the server",
    )
    parser.add_argument(
        "--out", default="./gait-out", help="output root (the demo uses <out>/mcp-demo)"
    )
    parser.add_argument(
        "--backend", default="asyncio", choices=("asyncio", "trio"), help="event loop"
    )

    def handle(ns: argparse.Namespace) -> Result:
        require_sdk()
        from ..demo_mcp import run_demo

        report = run_demo(Path(ns.out), backend=ns.backend, environ=dict(os.environ))
        payload: dict[str, Any] = report.payload()
        return Result(payload, report.lines())

    return handle
