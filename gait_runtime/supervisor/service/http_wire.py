"""The wire pieces of the decision server's ASGI app: types, constants, framing helpers.

Owns: the ASGI type aliases, the route tables and fixed bodies of
``spec/service.md`` §2, the ``Content-Type`` check (415), reading request
headers and the peer from a scope, the session-id probe used for redirects,
and writing one complete response (``send_response``, ``send_reply``, ``redirect``).
Routing and the request life cycle are in ``http.py``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from ...artifacts.gojson import go_json
from .decisions import DecisionReply

__all__ = [
    "EVALUATE_ROUTES",
    "GET_ROUTES",
    "HEALTHZ_BODY",
    "JSON_HEADER",
    "LIVEZ_BODY",
    "METRICS_PORT_ROUTES",
    "Message",
    "MetricsAccess",
    "NOT_FOUND_BODY",
    "OPEN_ROUTES",
    "Readiness",
    "Receive",
    "Scope",
    "Send",
    "content_type_error",
    "from_loopback",
    "peer",
    "redirect",
    "request_headers",
    "send_reply",
    "send_response",
    "server_port",
    "session_id_of",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


JSON_HEADER: Final = (b"content-type", b"application/json")
_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_TYPE: Final = re.compile(rf"^{_TOKEN}/{_TOKEN}$")
HEALTHZ_BODY: Final = b'{"ok":true,"service":"gait.mcp.serve"}\n'
NOT_FOUND_BODY: Final = b"404 page not found\n"
EVALUATE_ROUTES: Final = {
    "/v1/evaluate": "json",
    "/v1/evaluate/sse": "sse",
    "/v1/evaluate/stream": "stream",
}
GET_ROUTES: Final = ("/healthz", "/livez", "/readyz", "/v1/health", "/metrics")
OPEN_ROUTES: Final = ("/healthz", "/livez", "/readyz")
"""Probes answered without a token (they carry no data beyond up/ready)."""
METRICS_PORT_ROUTES: Final = ("/metrics", "/livez", "/readyz", "/healthz")
"""What a separate metrics listener serves (without a token); anything else is 404."""
LIVEZ_BODY: Final = b'{"ok":true,"status":"live"}\n'
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


def peer(client: Any) -> str | None:
    """``host:port`` of the client (``[v6]:port``), None for a Unix socket."""
    if not client:
        return None
    host = str(client[0])
    return f"[{host}]:{client[1]}" if ":" in host else f"{host}:{client[1]}"


def server_port(scope: Scope) -> int:
    server = scope.get("server")
    return int(server[1] or 0) if server else 0


def from_loopback(scope: Scope) -> bool:
    """True for a loopback TCP peer or a Unix-socket peer (no client address)."""
    client = scope.get("client")
    if not client:
        return True
    try:
        return ipaddress.ip_address(str(client[0])).is_loopback
    except ValueError:
        return False


class _SessionProbe(msgspec.Struct):
    session_id: Any = ""
    call: Any = None


_SESSION_PROBE: Final = msgspec.json.Decoder(_SessionProbe)


def session_id_of(headers: dict[str, str], body: bytes) -> str:
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


async def redirect(send: Send, owner: str, path: str) -> None:
    """307 to the owning supervisor (the client repeats the POST with its body there)."""
    location = owner.rstrip("/") + path
    body = go_json({"error": f"session is owned by {owner}", "ok": False, "location": location})
    await send_response(
        send, 307, body + b"\n", [JSON_HEADER, (b"location", location.encode("latin-1"))]
    )


def request_headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-cased names; the first value of a repeated header wins."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name not in out:
            out[name] = raw_value.decode("latin-1")
    return out


async def send_reply(send: Send, reply: DecisionReply) -> None:
    await send_response(
        send, reply.status, go_json(reply.body) + b"\n", [JSON_HEADER, *reply.headers]
    )


async def send_response(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
