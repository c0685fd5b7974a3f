"""The MCP gateway's flags, shared by ``gait mcp proxy`` and ``gait serve --mcp-upstream``.

Owns: the gateway flags turned into a
:class:`~gait_runtime.supervisor.transport.mcp_gateway.config.GatewayConfig`, and the
check that the optional ``mcp`` extra (the official SDK) is installed (exit 7 otherwise).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import DependencyMissingError, McpConfigError
from ._frame import Parser

__all__ = ["add_gateway_flags", "gateway_from_args", "require_sdk"]

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
