"""The ASGI application of the decision server (served by hypercorn).

Owns: routing of ``spec/service.md`` §2 (exact paths, 404 and 405 bodies), the
processing order of the three POST routes (method → auth → content type → body
size → decision), the bounded body read with the 413 answer, the JSON / SSE /
NDJSON framings, our additive ``GET /v1/health`` and ``GET /metrics``, and the
ASGI lifespan handshake. HTTP parsing, keep-alive and timeouts belong to
hypercorn; decisions belong to :class:`~gait_runtime.supervisor.service.decisions.DecisionService`.

Every error body is ``{"error": <message>, "ok": false}`` + newline with
``content-type: application/json`` (also on the SSE and stream routes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import anyio
import msgspec
import structlog
import structlog.contextvars

from ...artifacts.gojson import go_json
from .auth import TokenAuth
from .decisions import DecisionReply, DecisionService, error_reply

__all__ = ["MCP_PATH", "REQUEST_ID_HEADER", "GaitApp", "Receive", "Scope", "Send", "new_request_id"]

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
_GET_ROUTES: Final = ("/healthz", "/v1/health", "/metrics")
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
        router: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._service = service
        self._mcp = mcp
        self._max = max_request_bytes
        self._auth = auth
        self._health = health
        self._metrics = metrics
        self._router = router
        self.in_flight = 0
        self.requests = 0
        self.accepting = True
        self.started = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            self.in_flight += 1
            self.requests += 1
            request_id = new_request_id()
            header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], header]
                await send(message)

            try:
                with structlog.contextvars.bound_contextvars(request_id=request_id):
                    await self._http(scope, receive, send_with_id)
            except _ClientGone:
                return
            finally:
                self.in_flight -= 1
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                self.started.set()
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers = _headers(scope)
        if path == MCP_PATH and self._mcp is not None:
            await self._mcp_route(scope, receive, send, headers)
            return
        route = _EVALUATE_ROUTES.get(path)
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
            await self._get(path, headers, send)
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
        reply = await self._service.decide(
            body, traceparent=headers.get("traceparent"), tracestate=headers.get("tracestate")
        )
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

    async def _get(self, path: str, headers: dict[str, str], send: Send) -> None:
        if path == "/healthz":
            await _send(send, 200, _HEALTHZ_BODY, [_JSON])
            return
        if self._auth is not None:
            failure = self._auth.check(headers.get("authorization"))
            if failure is not None:
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
