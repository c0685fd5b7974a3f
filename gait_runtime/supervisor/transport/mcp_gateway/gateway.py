"""The MCP gateway: an MCP server (the SDK's low-level ``Server``) in front of upstream servers.

Owns: the downstream server's two handlers —

* ``tools/list``: the union of the upstreams' listings (names prefixed
  ``<upstream>__<tool>`` when several upstreams are configured), each tool
  annotated in ``_meta["gait.dev/policy"]`` with what the current policy decides
  for it. That decision is static: the intent the gateway builds for a call
  depends only on the tool, its annotations and the gateway's configuration,
  never on the arguments (the gate's match keys do not read arguments).
* ``tools/call``: the call as a native ``mcp`` tool-call object (intent tool
  ``<upstream>.<tool>``, the upstream's annotations as target hints, the
  configured identity/workspace/risk class, the caller's session), decided by
  the supervisor's :class:`~gait_runtime.supervisor.service.decisions.DecisionService`
  (signed trace, journal event in the caller's session, exports, metrics);
  only ``allow`` reaches the upstream; block / dry_run / require_approval / a
  failed decision answer a tool error result naming the verdict and reasons
  (require_approval also how to approve, and a retried call carrying the token
  in ``_meta["gait.dev/approval_token"]`` proceeds). An executed call's result
  is journaled as a second event in the same session (see ``results.py``:
  queued as the caller is answered, written before the gateway stops).

— the caller's session (the ``mcp-session-id`` of a stateful streamable HTTP
session, else the configured session), and the two downstream transports: stdio
(:meth:`McpGateway.serve_stdio`) and streamable HTTP (the SDK's session manager,
mounted by the supervisor under ``/mcp``). No JSON-RPC, framing or MCP session
handling lives here: all of it is the SDK's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import anyio
import mcp_types as types
import msgspec
import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from .... import __version__
from ....errors import GaitError
from ....gate.approval import required_scope
from ....gate.evaluate import evaluate
from ....gate.intent import normalize_intent
from ....plugin import decode_call
from .config import GatewayConfig
from .host import ASGIApp, MountHost
from .results import ResultRecorder
from .upstream import Upstream, UpstreamError

__all__ = [
    "APPROVAL_META_KEY",
    "DECISION_META_KEY",
    "POLICY_META_KEY",
    "McpGateway",
    "decode_mcp_call",
]

_log = structlog.get_logger("gait_runtime.supervisor.transport.mcp_gateway")

APPROVAL_META_KEY: Final = "gait.dev/approval_token"
"""Request ``_meta`` key of an approval token (one token object, or a list of them)."""
DECISION_META_KEY: Final = "gait.dev/decision"
"""Result ``_meta`` key carrying the decision (verdict, reasons, digests, trace)."""
POLICY_META_KEY: Final = "gait.dev/policy"
"""Tool ``_meta`` key carrying the policy's static decision for that tool."""
SESSION_HEADER: Final = "mcp-session-id"
PREFIX_SEPARATOR: Final = "__"
_HINTS: Final = (
    ("read_only_hint", "readOnlyHint"),
    ("destructive_hint", "destructiveHint"),
    ("idempotent_hint", "idempotentHint"),
    ("open_world_hint", "openWorldHint"),
)
_ENCODER: Final = msgspec.json.Encoder()


def decode_mcp_call(call: Mapping[str, Any], *, profile: str) -> dict[str, Any]:
    """The ``mcp`` call mapping (tool-call object → IntentRequest), the gateway's one use of it."""
    return decode_call("mcp", call, profile=profile).intent


@dataclass(frozen=True, slots=True)
class _Route:
    upstream: str
    tool: str
    annotations: tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class _Static:
    verdict: str
    reason_codes: tuple[str, ...]
    destructive: bool
    phase: str


def _error_result(text: str, decision: dict[str, Any] | None = None) -> types.CallToolResult:
    meta = {DECISION_META_KEY: decision} if decision is not None else None
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True, _meta=meta)


def _tokens(meta: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not meta:
        return []
    raw = meta.get(APPROVAL_META_KEY)
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return [t for t in raw if isinstance(t, dict)]
    return []


class McpGateway:
    """The gateway; one per process.

    Args:
        config: upstreams, timeouts, identity.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.upstreams: dict[str, Upstream] = {
            spec.name: Upstream(spec, config) for spec in config.upstreams
        }
        self._routes: dict[str, _Route] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._static: dict[tuple[str, str, tuple[tuple[str, bool], ...]], _Static] = {}
        self._host: MountHost | None = None
        self.results = ResultRecorder()
        self.calls = 0
        self.forwarded = 0
        self.server: Server[Any] = Server(
            "gait-mcp-proxy",
            version=__version__,
            instructions=(
                "Every tools/call is decided by the gait policy gate, journaled and signed "
                "before it may reach the upstream server."
            ),
            on_list_tools=self._on_list_tools,
            on_call_tool=self._on_call_tool,
            get_tool_input_schema=self._input_schema,
        )

    # ---------------------------------------------------------------- lifecycle

    @asynccontextmanager
    async def attach(self, host: MountHost) -> AsyncIterator[ASGIApp | None]:
        """Start the upstreams (and the streamable HTTP manager when HTTP is served).

        Yields the ASGI app of ``/mcp`` (``None`` without HTTP); on exit the
        upstream connections close (stdio servers are stopped).
        """
        self._host = host
        async with anyio.create_task_group() as tg:
            for upstream in self.upstreams.values():
                await tg.start(upstream.run)
            if host.serve_http:
                manager = StreamableHTTPSessionManager(
                    app=self.server,
                    # One JSON body per POST: no SSE stream, and on the 2026 path no
                    # task group per request. The gateway sends nothing mid-call.
                    json_response=True,
                    max_request_body_size=host.config.max_request_bytes,
                    security_settings=_security(host),
                )
                async with manager.run(), self.results.running():
                    yield manager.handle_request
            else:
                async with self.results.running():
                    yield None
            tg.cancel_scope.cancel()
        self._host = None

    async def serve_stdio(self) -> None:
        """Serve one MCP client on this process's stdin/stdout until it closes stdin."""
        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    def health(self) -> dict[str, Any]:
        """Upstream states and call counters."""
        return {
            "calls": self.calls,
            "forwarded": self.forwarded,
            "result_records_pending": self.results.pending,
            "result_records_failed": self.results.failed,
            "upstreams": {
                name: {
                    "state": u.state,
                    "kind": u.spec.kind,
                    "connects": u.connects,
                    "restarts": u.restarts,
                    "garbage_lines": u.garbage,
                    "last_error": u.last_error,
                }
                for name, u in self.upstreams.items()
            },
        }

    # ---------------------------------------------------------------- naming

    def _downstream_name(self, upstream: str, tool: str) -> str:
        return f"{upstream}{PREFIX_SEPARATOR}{tool}" if self.config.prefixed else tool

    def _session_of(self, ctx: ServerRequestContext[Any, Any]) -> str:
        request = ctx.request
        headers = getattr(request, "headers", None)
        if headers is not None:
            session = str(headers.get(SESSION_HEADER) or "").strip()
            if session:
                return session
        return self.config.stateless_session

    def _mcp_call(self, route: _Route, arguments: dict[str, Any], session: str) -> dict[str, Any]:
        call: dict[str, Any] = {
            "name": f"{route.upstream}.{route.tool}",
            "args": arguments,
            "context": {
                "identity": self.config.identity,
                "workspace": self.config.workspace,
                "risk_class": self.config.risk_class,
                "session_id": session,
            },
        }
        if route.annotations:
            call["targets"] = [
                {
                    "kind": "other",
                    "value": f"mcp://{route.upstream}/{route.tool}",
                    "discovery_method": "static_mcp",
                    "annotations": dict(route.annotations),
                }
            ]
        return call

    # ---------------------------------------------------------------- tools/list

    async def _list_all(self) -> list[tuple[str, types.Tool]]:
        out: list[tuple[str, types.Tool]] = []
        routes: dict[str, _Route] = {}
        schemas: dict[str, dict[str, Any]] = {}
        for name, upstream in self.upstreams.items():
            try:
                tools = await upstream.list_tools()
            except UpstreamError as exc:
                _log.warning("mcp_upstream_list_failed", upstream=name, error=exc.message)
                continue
            for tool in tools:
                notes = tool.annotations
                annotations: tuple[tuple[str, bool], ...] = ()
                if notes is not None:
                    annotations = tuple(
                        (camel, value)
                        for snake, camel in _HINTS
                        if isinstance(value := getattr(notes, snake), bool)
                    )
                route = _Route(name, tool.name, annotations)
                routes[self._downstream_name(name, tool.name)] = route
                schemas[self._downstream_name(name, tool.name)] = tool.input_schema
                out.append((name, tool))
        self._routes = routes
        self._schemas = schemas
        return out

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        """The SDK's per-call schema lookup (``Mcp-Param-*`` checks): the last listing's."""
        return self._schemas.get(name)

    def _static_decision(self, route: _Route) -> _Static | None:
        host = self._host
        if host is None:
            return None
        policy = host.policy()
        key = (policy.digest, f"{route.upstream}.{route.tool}", route.annotations)
        cached = self._static.get(key)
        if cached is not None:
            return cached
        try:
            call = self._mcp_call(route, {}, self.config.stateless_session)
            intent = normalize_intent(
                decode_mcp_call(call, profile="standard"), strip_context_claims=True
            )
        except GaitError:
            return None
        result = evaluate(policy, intent)
        static = _Static(
            result.verdict,
            tuple(result.reason_codes),
            any(t.destructive for t in intent.targets),
            str(intent.context.get("phase") or "apply"),
        )
        if len(self._static) > 4096:
            self._static.clear()
        self._static[key] = static
        return static

    async def _on_list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        listed = await self._list_all()
        host = self._host
        digest = host.policy().digest if host is not None else ""
        tools: list[types.Tool] = []
        for upstream, tool in listed:
            name = self._downstream_name(upstream, tool.name)
            static = self._static_decision(self._routes[name])
            meta = dict(tool.meta or {})
            description = tool.description
            if static is not None:
                meta[POLICY_META_KEY] = {
                    "verdict": static.verdict,
                    "reason_codes": list(static.reason_codes),
                    "policy_digest": digest,
                    "intent_tool": f"{upstream}.{tool.name}".lower(),
                    "upstream": upstream,
                }
                if static.verdict != "allow":
                    description = f"{description or ''} [gait policy: {static.verdict}]".strip()
            tools.append(
                tool.model_copy(update={"name": name, "meta": meta, "description": description})
            )
        return types.ListToolsResult(tools=tools)

    # ---------------------------------------------------------------- tools/call

    async def _route(self, name: str) -> _Route | None:
        route = self._routes.get(name)
        if route is None:
            await self._list_all()
            route = self._routes.get(name)
        return route

    async def _on_call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        self.calls += 1
        host = self._host
        if host is None:
            return _error_result("gait: the gateway is not running; nothing was executed")
        route = await self._route(params.name)
        if route is None:
            return _error_result(
                f"gait: unknown tool {params.name!r}: no configured upstream offers it; "
                "nothing was executed"
            )
        session = self._session_of(ctx)
        arguments = dict(params.arguments or {})
        body: dict[str, Any] = {
            "adapter": "mcp",
            "run_id": f"mcp_{session}",
            "session_id": session,
            "call": self._mcp_call(route, arguments, session),
        }
        tokens = _tokens(params.meta)
        if tokens:
            body["approval_tokens"] = tokens
        reply = await host.service.decide(_ENCODER.encode(body))
        answer = reply.body
        if answer.get("ok") is not True or not answer.get("verdict"):
            return _error_result(
                f"gait: no decision ({answer.get('error', 'decision failed')}); "
                "blocked, nothing was executed",
                {"verdict": "block", "error": answer.get("error", ""), "ok": False},
            )
        decision: dict[str, Any] = {
            key: answer[key]
            for key in (
                "verdict",
                "reason_codes",
                "violations",
                "intent_digest",
                "policy_digest",
                "trace_id",
                "trace_path",
                "session_id",
                "run_id",
                "tool_name",
                "policy_id",
                "policy_version",
                "approval_ref",
            )
            if key in answer
        }
        verdict = str(answer["verdict"])
        if verdict != "allow":
            return self._refusal(route, verdict, decision)
        upstream = self.upstreams[route.upstream]
        try:
            result = await upstream.call_tool(route.tool, arguments)
            self.forwarded += 1
        except UpstreamError as exc:
            self.forwarded += 1
            result = _error_result(f"gait: the call was allowed but failed upstream: {exc.message}")
        await self.results.record(host.sessions, decision, result)
        meta = dict(result.meta or {})
        meta[DECISION_META_KEY] = decision
        return result.model_copy(update={"meta": meta})

    def _refusal(
        self, route: _Route, verdict: str, decision: dict[str, Any]
    ) -> types.CallToolResult:
        reasons = ", ".join(decision.get("reason_codes", [])) or "none"
        lines = [
            f"gait: {verdict} by policy (reason codes: {reasons}); the tool was not executed.",
        ]
        if decision.get("violations"):
            lines.append("violations: " + ", ".join(decision["violations"]))
        if verdict == "require_approval":
            static = self._static_decision(route)
            tool = str(decision.get("tool_name") or f"{route.upstream}.{route.tool}")
            scope = required_scope(
                tool, static.phase if static else "apply", bool(static and static.destructive)
            )
            command = (
                f"gait approve --intent-digest {decision.get('intent_digest', '')} "
                f"--policy-digest {decision.get('policy_digest', '')} --ttl 1h "
                f"--scope {','.join(scope)} --approver <you> --reason-code <ticket> "
                "--key-mode prod --private-key <approver private key>"
            )
            decision = {**decision, "approve_command": command, "approval_scope": scope}
            lines += [
                f"intent_digest: {decision.get('intent_digest', '')}",
                f"to approve: {command}",
                f'then retry the same call with the token file\'s JSON in _meta["{APPROVAL_META_KEY}"].',
            ]
        return _error_result("\n".join(lines), decision)


def _security(host: MountHost) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for loopback listens (browsers must not reach ``/mcp``)."""
    listen = host.config.listen
    if listen.is_unix or not listen.is_loopback:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
