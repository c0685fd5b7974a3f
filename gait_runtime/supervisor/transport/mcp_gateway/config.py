"""What the MCP gateway is configured with: its upstream servers and its call rules.

Owns: :class:`UpstreamSpec` and the ``--upstream`` text rules (``[NAME=]CMD ARGS``
split as a POSIX shell would, or ``[NAME=]http(s)://…`` for streamable HTTP),
the naming rule (one unnamed upstream is called ``upstream``; with several,
each must be named), :class:`GatewayConfig` (call timeout, restart intensity,
the identity and workspace written into every intent, the session of
stateless callers). Pure: imports nothing of the MCP SDK, runs nothing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ....errors import McpConfigError

__all__ = [
    "DEFAULT_UPSTREAM_NAME",
    "GatewayConfig",
    "UpstreamSpec",
    "parse_upstream",
    "parse_upstreams",
]

DEFAULT_UPSTREAM_NAME: Final = "upstream"
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*(?:_[A-Za-z0-9-]+)*$")
_NAMED: Final = re.compile(r"^([A-Za-z0-9_-]+)=(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """One upstream MCP server.

    Attributes:
        name: the name policies see (intent tool ``<name>.<tool>``) and the prefix of
            its tools downstream when several upstreams are configured.
        command: the stdio server's argv (empty for an HTTP upstream).
        url: the streamable HTTP endpoint (empty for a stdio upstream).
    """

    name: str
    command: tuple[str, ...] = ()
    url: str = ""

    @property
    def kind(self) -> str:
        """``stdio`` or ``http``."""
        return "http" if self.url else "stdio"

    def describe(self) -> str:
        """The upstream as one line (its URL, or its argv joined as a shell would)."""
        return self.url or shlex.join(self.command)


def parse_upstream(text: str) -> UpstreamSpec:
    """Parse one ``--upstream`` value (the name may still be empty).

    Raises:
        McpConfigError: empty value, an invalid name, or a command a shell could not split.
    """
    raw = text.strip()
    name = ""
    named = _NAMED.match(raw)
    if named and not raw.lower().startswith(("http://", "https://")):
        name, raw = named.group(1), named.group(2).strip()
        if not _NAME.match(name):
            raise McpConfigError(
                f"invalid --upstream name {name!r}: use letters, digits, '-' and single '_'",
                code="mcp_upstream_invalid",
            )
    if not raw:
        raise McpConfigError(
            "--upstream needs a command or an http(s):// URL", code="mcp_upstream_invalid"
        )
    if raw.lower().startswith(("http://", "https://")):
        if any(c.isspace() for c in raw):
            raise McpConfigError(
                f"invalid --upstream URL {raw!r}: no spaces allowed", code="mcp_upstream_invalid"
            )
        return UpstreamSpec(name=name, url=raw)
    try:
        argv = tuple(shlex.split(raw))
    except ValueError as exc:
        raise McpConfigError(
            f"invalid --upstream command {raw!r}: {exc}", code="mcp_upstream_invalid"
        ) from None
    if not argv:
        raise McpConfigError(
            "--upstream needs a command or an http(s):// URL", code="mcp_upstream_invalid"
        )
    return UpstreamSpec(name=name, command=argv)


def parse_upstreams(values: Sequence[str]) -> tuple[UpstreamSpec, ...]:
    """Parse every ``--upstream`` and apply the naming rule.

    Raises:
        McpConfigError: none given, an unnamed upstream among several, or a name used twice.
    """
    specs = [parse_upstream(v) for v in values]
    if not specs:
        raise McpConfigError("expected at least one --upstream", code="mcp_upstream_missing")
    if len(specs) == 1 and not specs[0].name:
        return (UpstreamSpec(DEFAULT_UPSTREAM_NAME, specs[0].command, specs[0].url),)
    seen: set[str] = set()
    for spec in specs:
        if not spec.name:
            raise McpConfigError(
                f"name every upstream when several are configured (NAME=…): {spec.describe()}",
                code="mcp_upstream_invalid",
            )
        if spec.name.lower() in seen:
            raise McpConfigError(
                f"upstream name {spec.name!r} is used twice", code="mcp_upstream_invalid"
            )
        seen.add(spec.name.lower())
    return tuple(specs)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything the gateway needs besides the decision server.

    Attributes:
        upstreams: the configured upstream servers (nothing else is reachable).
        call_timeout_s: an upstream call still unanswered after this is an error result.
        restart_max: a crashed upstream is restarted at most this many times …
        restart_window_s: … within this many seconds; beyond that it is marked failed.
        connect_timeout_s: connecting (spawn + handshake) must finish within this time.
        identity: ``context.identity`` of every intent.
        workspace: ``context.workspace`` of every intent.
        risk_class: ``context.risk_class`` of every intent.
        session_id: the session of callers without an MCP session (stdio, stateless
            HTTP); empty means the identity.
        upstream_env: extra environment variables for spawned stdio upstreams.
    """

    upstreams: tuple[UpstreamSpec, ...]
    call_timeout_s: float = 30.0
    restart_max: int = 3
    restart_window_s: float = 10.0
    connect_timeout_s: float = 30.0
    identity: str = "mcp-proxy"
    workspace: str = "."
    risk_class: str = "high"
    session_id: str = ""
    upstream_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise McpConfigError("expected at least one --upstream", code="mcp_upstream_missing")
        if self.call_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise McpConfigError("--call-timeout must be > 0", code="mcp_timeout_invalid")
        if self.restart_max < 0 or self.restart_window_s <= 0:
            raise McpConfigError(
                "--restart-max must be >= 0 and --restart-window > 0", code="mcp_restart_invalid"
            )
        if not self.identity.strip():
            raise McpConfigError("--identity must not be empty", code="mcp_identity_invalid")

    @property
    def prefixed(self) -> bool:
        """True when tool names carry their upstream's name downstream (several upstreams)."""
        return len(self.upstreams) > 1

    @property
    def stateless_session(self) -> str:
        """The session of a caller without an MCP session."""
        return self.session_id.strip() or self.identity.strip()
