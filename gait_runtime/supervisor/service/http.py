"""The ASGI application of the decision server (served by hypercorn).

Owns: routing of ``spec/service.md`` §2 (exact paths, 404 and 405 bodies), the
processing order of the three POST routes (method → auth → content type → body
size → decision), the bounded body read with the 413 answer, the JSON / SSE /
NDJSON framings, our additive ``GET /v1/health``, ``GET /livez``, ``GET /readyz``
and ``GET /metrics`` (optionally without the token for loopback clients, or on a
separate metrics listener), the coding-agent hook route ``POST /v1/hooks/claude-code`` (always 200, a hook
answer), the per-request access log line, HTTP metrics and
``SERVER`` span, the warning line of a failed authentication, and the ASGI
lifespan handshake. HTTP parsing, keep-alive and timeouts belong to
hypercorn; decisions belong to :class:`~gait_runtime.supervisor.service.decisions.DecisionService`.

Every error body is ``{"error": <message>, "ok": false}`` + newline with
``content-type: application/json`` (also on the SSE and stream routes).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import anyio
import msgspec
import structlog
import structlog.contextvars

from ...artifacts.gojson import go_json
from ...hooks import failure_answer, hook_request_body, read_reply
from ...telemetry.metrics import Metrics
from ...telemetry.otel import http_server_span
from .auth import TokenAuth
from .decisions import DecisionReply, DecisionService, error_reply

__all__ = [
    "MCP_PATH",
    "REQUEST_ID_HEADER",
    "GaitApp",
    "MetricsAccess",
    "Readiness",
    "Receive",
    "Scope",
    "Send",
    "new_request_id",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = structlog.get_logger("gait_runtime.supervisor.service.http")

_JSON: Final = (b"content-type", b"application/json")
_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_TYPE: Final = re.compile(rf"^{_TOKEN}/{_TOKEN}$")
_HEALTHZ_BODY: Final = b'{"ok":true,"service":"gait.mcp.serve"}\n'
_NOT_FOUND: Final = b"404 page not found\n"
_EVALUATE_ROUTES: Final = {
    "/v1/evaluate": "json",
    "/v1/evaluate/sse": "sse",
    "/v1/evaluate/stream": "stream",
}
_GET_ROUTES: Final = ("/healthz", "/livez", "/readyz", "/v1/health", "/metrics")
_OPEN_ROUTES: Final = ("/healthz", "/livez", "/readyz")
"""Probes answered without a token (they carry no data beyond up/ready)."""
_METRICS_PORT_ROUTES: Final = ("/metrics", "/livez", "/readyz", "/healthz")
"""What a separate metrics listener serves (without a token); anything else is 404."""
_LIVEZ_BODY: Final = b'{"ok":true,"status":"live"}\n'
MetricsAccess = Literal["token", "loopback"]
"""``token``: /metrics needs the API token when auth is on; ``loopback``: not from loopback."""


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the server should get traffic now, and why not.

    Attributes:
        ready: True once started, not draining and the policy file loads.
        reason: ``starting``, ``draining`` or ``policy_unloadable`` (empty when ready).
        detail: the policy error when the reason is ``policy_unloadable``.
    """

    ready: bool
    reason: str = ""
    detail: str = ""


HOOK_ROUTE: Final = "/v1/hooks/claude-code"
"""Our additive route for coding-agent HTTP hooks: always 200 with a hook answer."""
_TOO_LARGE: Final = "request body exceeds max-request-bytes"
_DRAINING: Final = "server is draining"
_DRAINING_HEADERS: Final = ((b"retry-after", b"1"), (b"connection", b"close"))
MCP_PATH: Final = "/mcp"
"""Where the MCP gateway's streamable HTTP endpoint is served (when configured)."""
REQUEST_ID_HEADER: Final = b"x-request-id"
"""Response header carrying the id bound as ``request_id`` to the request's log lines."""


def new_request_id() -> str:
    """A fresh request id: 16 random hex characters."""
    return os.urandom(8).hex()


def content_type_error(value: str | None) -> str | None:
    """Check a ``Content-Type`` header (absent is accepted); return the 415 message or None."""
    if value is None:
        return None
    parts = value.split(";")
    media = parts[0].strip().lower()
    if not _MEDIA_TYPE.match(media):
        return "invalid content-type header"
    for param in parts[1:]:
        key, sep, _ = param.strip().partition("=")
        if not sep or not key.strip():
            return "invalid content-type header"
    if media != "application/json":
        return "content-type must be application/json"
    return None


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class GaitApp:
    """The ASGI callable.

    Once :attr:`accepting` is false (the supervisor is draining) a decision route
    answers 503 ``server is draining`` without deciding; requests already past
    that check finish normally.

    Args:
        service: the decision path.
        max_request_bytes: body limit (413 above it).
        auth: bearer-token checker, or ``None`` when auth is off.
        health: builds the ``/v1/health`` document.
        metrics: renders the Prometheus text exposition for ``/metrics``.
        mcp: the MCP gateway's streamable HTTP app, served under ``/mcp`` behind the
            same auth, drain rule and body limit as the decision routes; ``None``: 404.
        readiness: the ``/readyz`` answer (always ready when None).
        recorder: counts requests and their durations (``None``: not counted).
        metrics_access: who may read ``/metrics`` without the token.
        metrics_port: a separate listener's port that serves only ``/metrics``
            and the probes, without a token (0: none).
        router: for a session id, the address of the supervisor that owns it when
            that is another one (the answer is a 307 redirect there), else ``None``.
    """

    def __init__(
        self,
        service: DecisionService,
        *,
        max_request_bytes: int,
        auth: TokenAuth | None,
        health: Callable[[], dict[str, Any]],
        metrics: Callable[[], tuple[bytes, str]],
        mcp: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
        readiness: Callable[[], Readiness] | None = None,
        recorder: Metrics | None = None,
        metrics_access: MetricsAccess = "token",
        metrics_port: int = 0,
        router: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._service = service
        self._mcp = mcp
        self._max = max_request_bytes
        self._auth = auth
        self._health = health
        self._metrics = metrics
        self._readiness = readiness
        self._recorder = recorder
        self._metrics_access = metrics_access
        self.metrics_port = metrics_port
        self.metrics_address: object | None = None
        self._router = router
        self.in_flight = 0
        self.requests = 0
        self.accepting = True
        self.started = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._request(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request: id, SERVER span, access log line and metrics around routing."""
        self.in_flight += 1
        self.requests += 1
        started = time.perf_counter()
        request_id = new_request_id()
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        method: str = scope["method"]
        path: str = scope["path"]
        headers = _headers(scope)
        answer = {"status": 0, "bytes": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], header]
                answer["status"] = int(message["status"])
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
            await send(message)

        client = scope.get("client")
        server = scope.get("server")
        route = path if path in _EVALUATE_ROUTES or path in _GET_ROUTES else None
        gone = False
        # A fresh context for this request's ids: nothing bound by an earlier
        # request (or the server task) leaks into its lines.
        structlog.contextvars.clear_contextvars()
        try:
            with (
                structlog.contextvars.bound_contextvars(request_id=request_id),
                http_server_span(
                    method,
                    route,
                    path=path,
                    headers=headers,
                    scheme=str(scope.get("scheme", "http")),
                    client=(str(client[0]), int(client[1])) if client else None,
                    server=(str(server[0]), int(server[1] or 0)) if server else None,
                    protocol_version=str(scope.get("http_version", "")),
                ) as span,
            ):
                try:
                    await self._http(scope, headers, receive, send_with_id)
                except _ClientGone:
                    gone = True
                finally:
                    span.set_status_code(answer["status"])
        finally:
            self.in_flight -= 1
            duration = time.perf_counter() - started
            status = answer["status"] or 499  # 499: the client left before an answer
            if self._recorder is not None:
                self._recorder.observe_http(method, path, status, duration)
            _log.info(
                "http_request",
                request_id=request_id,
                method=method,
                path=path,
                status=status,
                bytes=answer["bytes"],
                duration_ms=round(duration * 1000, 3),
                client=_peer(client),
                client_gone=gone or None,
                user_agent=headers.get("user-agent"),
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                self.started.set()
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(
        self, scope: Scope, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if (
            path == MCP_PATH
            and self._mcp is not None
            and not (bool(self.metrics_port) and _server_port(scope) == self.metrics_port)
        ):
            await self._mcp_route(scope, receive, send, headers)
            return
        if path == HOOK_ROUTE and not (
            bool(self.metrics_port) and _server_port(scope) == self.metrics_port
        ):
            await self._hook(method, headers, receive, send)
            return
        on_metrics_port = bool(self.metrics_port) and _server_port(scope) == self.metrics_port
        route = None if on_metrics_port else _EVALUATE_ROUTES.get(path)
        if on_metrics_port and path not in _METRICS_PORT_ROUTES:
            await _send(
                send,
                404,
                _NOT_FOUND,
                [(b"content-type", b"text/plain; charset=utf-8")],
            )
            return
        if route is None:
            if path not in _GET_ROUTES:
                await _send(
                    send,
                    404,
                    _NOT_FOUND,
                    [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                )
                return
            if method != "GET":
                await _send_reply(send, error_reply(405, "expected GET"))
                return
            await self._get(path, headers, send, open_metrics=on_metrics_port, scope=scope)
            return
        if method != "POST":
            await _send_reply(send, error_reply(405, "expected POST"))
            return
        if not self.accepting:
            await _send_reply(send, error_reply(503, _DRAINING, *_DRAINING_HEADERS))
            return
        if self._auth is not None:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
                _auth_failed(path, failure, scope)
                await _send_reply(send, error_reply(401, failure))
                return
        failure = content_type_error(headers.get("content-type"))
        if failure is not None:
            await _send_reply(send, error_reply(415, failure))
            return
        try:
            body = await self._read_body(headers, receive)
        except _BodyTooLarge:
            await _send_reply(send, error_reply(413, _TOO_LARGE, (b"connection", b"close")))
            return
        if self._router is not None:
            owner = await self._router(_session_id(headers, body))
            if owner is not None:
                await _redirect(send, owner, path)
                return
        # The caller's traceparent already parents the SERVER span, which is current:
        # the decision span becomes its child.
        reply = await self._service.decide(body)
        if reply.status == 307:
            owner = dict(reply.headers).get(b"location", b"").decode("latin-1")
            await _redirect(send, owner, path)
            return
        if reply.body.get("ok") is not True or route == "json":
            await _send_reply(send, reply)
        elif route == "sse":
            data = b"event: evaluate\ndata: " + go_json(reply.body) + b"\n\n"
            await _send(
                send,
                reply.status,
                data,
                [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"connection", b"keep-alive"),
                ],
            )
        else:
            data = go_json(reply.body) + b"\n"
            await _send(send, reply.status, data, [(b"content-type", b"application/x-ndjson")])

    async def _mcp_route(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        """``/mcp``: drain rule, auth and the declared body size, then the SDK's transport."""
        assert self._mcp is not None
        if not self.accepting:
            await _send_reply(send, error_reply(503, _DRAINING, *_DRAINING_HEADERS))
            return
        if self._auth is not None:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
                await _send_reply(send, error_reply(401, failure))
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max:
            await _send_reply(send, error_reply(413, _TOO_LARGE, (b"connection", b"close")))
            return
        await self._mcp(scope, receive, send)

    async def _hook(
        self, method: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """A PreToolUse payload in, the hook's decision JSON out; every failure is a deny.

        Always HTTP 200: an agent treats other statuses as a non-blocking error and
        would run the tool.
        """
        answer: dict[str, Any]
        if method != "POST":
            answer = failure_answer("expected POST")
        elif not self.accepting:
            answer = failure_answer(_DRAINING)
        elif self._auth is not None and (failure := self._auth.check(headers.get("authorization"))):
            answer = failure_answer(failure)
        else:
            try:
                raw = await self._read_body(headers, receive)
                payload = json.loads(raw)
                if not isinstance(payload, dict) or not payload:
                    raise ValueError("hook payload is not a JSON object")
            except _BodyTooLarge:
                answer = failure_answer(_TOO_LARGE)
            except ValueError as exc:
                answer = failure_answer(f"bad hook payload: {exc}")
            else:
                body = json.dumps(hook_request_body(payload)).encode()
                reply = await self._service.decide(
                    body,
                    traceparent=headers.get("traceparent"),
                    tracestate=headers.get("tracestate"),
                )
                answer = read_reply(reply.status, go_json(reply.body))
        await _send(send, 200, go_json(answer) + b"\n", [_JSON])

    async def _get(
        self,
        path: str,
        headers: dict[str, str],
        send: Send,
        *,
        open_metrics: bool = False,
        scope: Scope | None = None,
    ) -> None:
        if path == "/healthz":
            await _send(send, 200, _HEALTHZ_BODY, [_JSON])
            return
        if path == "/livez":
            await _send(send, 200, _LIVEZ_BODY, [_JSON])
            return
        if path == "/readyz":
            state = self._readiness() if self._readiness is not None else Readiness(True)
            body: dict[str, Any] = {"ok": state.ready, "ready": state.ready}
            if not state.ready:
                body["reason"] = state.reason
                if state.detail:
                    body["error"] = state.detail
            await _send(send, 200 if state.ready else 503, go_json(body) + b"\n", [_JSON])
            return
        exempt = path == "/metrics" and (
            open_metrics
            or (self._metrics_access == "loopback" and scope is not None and _from_loopback(scope))
        )
        if self._auth is not None and not exempt:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
                if scope is not None:
                    _auth_failed(path, failure, scope)
                await _send_reply(send, error_reply(401, failure))
                return
        if path == "/v1/health":
            await _send(send, 200, go_json(self._health()) + b"\n", [_JSON])
            return
        text, media = self._metrics()
        await _send(send, 200, text, [(b"content-type", media.encode("latin-1"))])

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _peer(client: Any) -> str | None:
    """``host:port`` of the client (``[v6]:port``), None for a Unix socket."""
    if not client:
        return None
    host = str(client[0])
    return f"[{host}]:{client[1]}" if ":" in host else f"{host}:{client[1]}"


def _server_port(scope: Scope) -> int:
    server = scope.get("server")
    return int(server[1] or 0) if server else 0


def _from_loopback(scope: Scope) -> bool:
    """True for a loopback TCP peer or a Unix-socket peer (no client address)."""
    client = scope.get("client")
    if not client:
        return True
    try:
        return ipaddress.ip_address(str(client[0])).is_loopback
    except ValueError:
        return False


def _auth_failed(path: str, reason: str, scope: Scope) -> None:
    """One warning line per refused caller (no token material is logged)."""
    _log.warning("auth_failed", path=path, reason=reason, client=_peer(scope.get("client")))


class _SessionProbe(msgspec.Struct):
    session_id: Any = ""
    call: Any = None


_SESSION_PROBE: Final = msgspec.json.Decoder(_SessionProbe)


def _session_id(headers: dict[str, str], body: bytes) -> str:
    """The request's session: the ``x-gait-session-id`` header, else the body's
    ``session_id`` / ``call.context.session_id`` (empty when none or unreadable)."""
    given = headers.get("x-gait-session-id", "").strip()
    if given:
        return given
    try:
        probe = _SESSION_PROBE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    sid = probe.session_id
    if isinstance(sid, str) and sid.strip():
        return sid.strip()
    call = probe.call
    context = call.get("context") if isinstance(call, dict) else None
    found = context.get("session_id") if isinstance(context, dict) else None
    return found.strip() if isinstance(found, str) else ""


async def _redirect(send: Send, owner: str, path: str) -> None:
    """307 to the owning supervisor (the client repeats the POST with its body there)."""
    location = owner.rstrip("/") + path
    body = go_json({"error": f"session is owned by {owner}", "ok": False, "location": location})
    await _send(send, 307, body + b"\n", [_JSON, (b"location", location.encode("latin-1"))])


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-cased names; the first value of a repeated header wins."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name not in out:
            out[name] = raw_value.decode("latin-1")
    return out


async def _send_reply(send: Send, reply: DecisionReply) -> None:
    await _send(send, reply.status, go_json(reply.body) + b"\n", [_JSON, *reply.headers])


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
