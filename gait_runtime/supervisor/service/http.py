"""The ASGI application of the decision server (served by uvicorn or hypercorn, ``server.py``).

Owns: routing of ``spec/service.md`` §2 (exact paths, 404 and 405 bodies), the
processing order of the three POST routes (method → auth → content type → body
size → decision), the bounded body read with the 413 answer, the JSON / SSE /
NDJSON framings, our additive ``GET /v1/health``, ``GET /livez``, ``GET /readyz``
and ``GET /metrics`` (optionally without the token for loopback clients, or on a
separate metrics listener), the coding-agent hook route ``POST /v1/hooks/claude-code`` (always 200, a hook
answer), the per-request access log line, HTTP metrics and
``SERVER`` span, the warning line of a failed authentication, and the ASGI
lifespan handshake. The wire pieces (types, route tables, the content-type
check, response writers) are in ``http_wire.py``. HTTP parsing, keep-alive and
timeouts belong to the HTTP server; decisions belong to :class:`~gait_runtime.supervisor.service.decisions.DecisionService`.

Every error body is ``{"error": <message>, "ok": false}`` + newline with
``content-type: application/json`` (also on the SSE and stream routes).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import structlog
import structlog.contextvars

from ...artifacts.gojson import go_json
from ...hooks import failure_answer, hook_request_body, read_reply
from ...telemetry.logging import bind_ids
from ...telemetry.metrics import Metrics
from ...telemetry.otel import http_server_span
from .auth import TokenAuth
from .decisions import DecisionService, error_reply
from .http_wire import (
    EVALUATE_ROUTES,
    GET_ROUTES,
    HEALTHZ_BODY,
    JSON_HEADER,
    LIVEZ_BODY,
    METRICS_PORT_ROUTES,
    NOT_FOUND_BODY,
    Message,
    MetricsAccess,
    Readiness,
    Receive,
    Scope,
    Send,
    content_type_error,
    from_loopback,
    peer,
    redirect,
    request_headers,
    send_reply,
    send_response,
    server_port,
    session_id_of,
)

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

_log = structlog.get_logger("gait_runtime.supervisor.service.http")

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
        self.http_server = ""
        """The HTTP server serving this app (set when serving starts)."""
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
        headers = request_headers(scope)
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
        route = path if path in EVALUATE_ROUTES or path in GET_ROUTES else None
        gone = False
        # A fresh context for this request's ids: nothing bound by an earlier
        # request (or the server task) leaks into its lines.
        structlog.contextvars.clear_contextvars()
        try:
            with (
                bind_ids(request_id=request_id),
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
                client=peer(client),
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
            and not (bool(self.metrics_port) and server_port(scope) == self.metrics_port)
        ):
            await self._mcp_route(scope, receive, send, headers)
            return
        if path == HOOK_ROUTE and not (
            bool(self.metrics_port) and server_port(scope) == self.metrics_port
        ):
            await self._hook(method, headers, receive, send)
            return
        on_metrics_port = bool(self.metrics_port) and server_port(scope) == self.metrics_port
        route = None if on_metrics_port else EVALUATE_ROUTES.get(path)
        if on_metrics_port and path not in METRICS_PORT_ROUTES:
            await send_response(
                send,
                404,
                NOT_FOUND_BODY,
                [(b"content-type", b"text/plain; charset=utf-8")],
            )
            return
        if route is None:
            if path not in GET_ROUTES:
                await send_response(
                    send,
                    404,
                    NOT_FOUND_BODY,
                    [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                )
                return
            if method != "GET":
                await send_reply(send, error_reply(405, "expected GET"))
                return
            await self._get(path, headers, send, open_metrics=on_metrics_port, scope=scope)
            return
        if method != "POST":
            await send_reply(send, error_reply(405, "expected POST"))
            return
        if not self.accepting:
            await send_reply(send, error_reply(503, _DRAINING, *_DRAINING_HEADERS))
            return
        if self._auth is not None:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
                _auth_failed(path, failure, scope)
                await send_reply(send, error_reply(401, failure))
                return
        failure = content_type_error(headers.get("content-type"))
        if failure is not None:
            await send_reply(send, error_reply(415, failure))
            return
        try:
            body = await self._read_body(headers, receive)
        except _BodyTooLarge:
            await send_reply(send, error_reply(413, _TOO_LARGE, (b"connection", b"close")))
            return
        if self._router is not None:
            owner = await self._router(session_id_of(headers, body))
            if owner is not None:
                await redirect(send, owner, path)
                return
        # The caller's traceparent already parents the SERVER span, which is current:
        # the decision span becomes its child.
        reply = await self._service.decide(body)
        if reply.status == 307:
            owner = dict(reply.headers).get(b"location", b"").decode("latin-1")
            await redirect(send, owner, path)
            return
        if reply.body.get("ok") is not True or route == "json":
            await send_reply(send, reply)
        elif route == "sse":
            data = b"event: evaluate\ndata: " + go_json(reply.body) + b"\n\n"
            await send_response(
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
            await send_response(
                send, reply.status, data, [(b"content-type", b"application/x-ndjson")]
            )

    async def _mcp_route(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        """``/mcp``: drain rule, auth and the declared body size, then the SDK's transport."""
        assert self._mcp is not None
        if not self.accepting:
            await send_reply(send, error_reply(503, _DRAINING, *_DRAINING_HEADERS))
            return
        if self._auth is not None:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
                await send_reply(send, error_reply(401, failure))
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max:
            await send_reply(send, error_reply(413, _TOO_LARGE, (b"connection", b"close")))
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
        await send_response(send, 200, go_json(answer) + b"\n", [JSON_HEADER])

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
            await send_response(send, 200, HEALTHZ_BODY, [JSON_HEADER])
            return
        if path == "/livez":
            await send_response(send, 200, LIVEZ_BODY, [JSON_HEADER])
            return
        if path == "/readyz":
            state = self._readiness() if self._readiness is not None else Readiness(True)
            body: dict[str, Any] = {"ok": state.ready, "ready": state.ready}
            if not state.ready:
                body["reason"] = state.reason
                if state.detail:
                    body["error"] = state.detail
            await send_response(
                send, 200 if state.ready else 503, go_json(body) + b"\n", [JSON_HEADER]
            )
            return
        exempt = path == "/metrics" and (
            open_metrics
            or (self._metrics_access == "loopback" and scope is not None and from_loopback(scope))
        )
        if self._auth is not None and not exempt:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
                if scope is not None:
                    _auth_failed(path, failure, scope)
                await send_reply(send, error_reply(401, failure))
                return
        if path == "/v1/health":
            await send_response(send, 200, go_json(self._health()) + b"\n", [JSON_HEADER])
            return
        text, media = self._metrics()
        await send_response(send, 200, text, [(b"content-type", media.encode("latin-1"))])

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


def _auth_failed(path: str, reason: str, scope: Scope) -> None:
    """One warning line per refused caller (no token material is logged)."""
    _log.warning("auth_failed", path=path, reason=reason, client=peer(scope.get("client")))
