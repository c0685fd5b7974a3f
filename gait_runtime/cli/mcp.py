"""``gait mcp proxy`` (the MCP gateway) and ``gait demo mcp``.

Owns: the gateway flags (``--upstream`` repeatable, ``--call-timeout``,
``--connect-timeout``, ``--restart-max``, ``--restart-window``,
``--identity``, ``--workspace``, ``--risk-class``, ``--session-id``,
``--upstream-env``) turned into a
:class:`~gait_runtime.supervisor.transport.mcp_gateway.config.GatewayConfig`,
the transport choice (stdio by default; ``--transport http`` serves the same
gateway under ``/mcp`` of the decision server, exactly as ``gait serve
--mcp-upstream`` does), and the check that the optional ``mcp`` extra is
installed (exit 7 otherwise). Running the server is ``cli/serve.py``'s.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import DependencyMissingError, McpConfigError
from ._frame import Handler, Parser, Result, add_common

__all__ = ["add_gateway_flags", "build_demo_mcp", "build_proxy", "gateway_from_args", "require_sdk"]

_MISSING_SDK = (
    "the MCP gateway needs the official MCP SDK: install the 'mcp' extra "
    "(pip install 'gait-runtime[mcp]')"
)


def require_sdk() -> None:
    """Raise exit 7 when the ``mcp`` package (the official SDK) is not installed."""
    try:
        import mcp  # noqa: F401  # probing the optional dependency
    except ImportError:
        raise DependencyMissingError(_MISSING_SDK, code="mcp_sdk_missing") from None


def add_gateway_flags(parser: Parser, *, upstream_flag: str) -> None:
    """The gateway's flags (``upstream_flag`` is ``--upstream`` or ``--mcp-upstream``)."""
    add = parser.add_argument
    add(
        upstream_flag,
        dest="upstream",
        action="append",
        default=[],
        help='upstream MCP server: "CMD ARGS" (stdio, split as a shell would) or an '
        "http(s):// URL (streamable HTTP); repeat as NAME=… for several",
    )
    add("--call-timeout", default="30s", help="an upstream call unanswered after this is an error")
    add("--connect-timeout", default="30s", help="spawn + handshake deadline of an upstream")
    add("--restart-max", type=int, default=3, help="restarts of a lost upstream allowed …")
    add("--restart-window", default="10s", help="… within this window, then it is marked failed")
    add("--identity", default="mcp-proxy", help="context.identity of every intent")
    add("--workspace", default=".", help="context.workspace of every intent")
    add("--risk-class", default="high", help="context.risk_class of every intent")
    add(
        "--session-id",
        default="",
        help="session of callers without an MCP session id (stdio, stateless HTTP); "
        "default: the identity",
    )
    add(
        "--upstream-env",
        action="append",
        default=[],
        help="KEY=VALUE added to the environment of spawned stdio upstreams (repeatable)",
    )


def gateway_from_args(ns: argparse.Namespace) -> Any:
    """The gateway configuration from parsed flags.

    Raises:
        McpConfigError: bad upstream or environment entry.
        UsageError: a duration that does not parse.
    """
    from ..supervisor.service.config import parse_duration_flag as parse_go_duration
    from ..supervisor.transport.mcp_gateway.config import GatewayConfig, parse_upstreams

    env: dict[str, str] = {}
    for item in ns.upstream_env:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise McpConfigError(f"invalid --upstream-env {item!r} (expected KEY=VALUE)")
        env[key.strip()] = value
    return GatewayConfig(
        upstreams=parse_upstreams(ns.upstream),
        call_timeout_s=parse_go_duration(ns.call_timeout, flag="--call-timeout"),
        connect_timeout_s=parse_go_duration(ns.connect_timeout, flag="--connect-timeout"),
        restart_max=ns.restart_max,
        restart_window_s=parse_go_duration(ns.restart_window, flag="--restart-window"),
        identity=ns.identity.strip(),
        workspace=ns.workspace.strip() or ".",
        risk_class=ns.risk_class.strip().lower() or "high",
        session_id=ns.session_id.strip(),
        upstream_env=env,
    )


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
