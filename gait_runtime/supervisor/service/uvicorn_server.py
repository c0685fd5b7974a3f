"""The fast HTTP front: uvicorn's httptools protocol in the supervisor's own asyncio loop.

Owns: serving the ASGI app with uvicorn on sockets we bound ourselves (the main
socket with TLS when configured, the metrics socket always plain HTTP), with no
process-level side effects (no signal handlers, no logging configuration, no
proxy-header rewriting, no ``server``/``date`` default headers), and the two
bounds uvicorn does not have: a deadline for complete request headers and a
per-read deadline for request bodies (:class:`BoundedHttpToolsProtocol`), plus a
cap on the bytes of one request head. Graceful stop: stop accepting, close idle
connections, let in-flight requests answer (``connection: close``) within the
drain window, then cancel what is left. Does not own: binding (``server.py``),
routing (``http.py``), when to stop (the ``shutdown`` event).

Why uvicorn: measured here (``soak/bench_http_front.py``, same fixed-body ASGI
app, wrk with 32 keep-alive connections, alternating rounds) the server CPU per
request is ~35-40 µs under uvicorn with httptools against ~210-250 µs under
hypercorn (h11); granian's embedded server is about as fast (~30-37 µs) but binds
its own listening socket and runs its own runtime threads, so it could not serve
our prebound socket (port 0, Unix socket, metrics socket) in our loop. See
``docs/performance.md`` ("The HTTP front").

Timeouts: uvicorn's own keep-alive timer starts only after a response and stops
at the first byte of the next request, so alone it bounds neither a client that
connects and sends nothing nor one that sends its headers a byte at a time. The
protocol subclass keeps one timer per connection: from the moment the connection
opens (or the previous response completed) until the request head is complete
(``header_timeout_s``), then per body read (``read_timeout_s``) until the body is
complete. When it fires the connection is closed (a request in progress sees
``http.disconnect``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from typing import Any, Final, Literal

import anyio
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol", "serve_uvicorn"]

MAX_HEAD_BYTES: Final = 16 * 1024
"""Largest request head (request line + headers) accepted, about one read more at most."""
_TOO_LARGE_HEAD: Final = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 32\r\n"
    b"connection: close\r\n\r\nrequest header fields too large\n"
)


class _WarningsOnly(logging.Filter):
    """uvicorn's life-cycle lines (start-up, shutdown) repeat ours; its warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("uvicorn.error").addFilter(_WarningsOnly())


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a body-read deadline and a head cap.

    The deadlines come from ``config.gait_header_timeout_s`` / ``gait_read_timeout_s``
    (attributes :func:`serve_uvicorn` sets on the uvicorn config).

    One lazy timer per connection: moving a deadline later only stores the new time;
    the timer, when it fires early, re-arms itself for the time left. So a steady
    keep-alive connection costs an attribute write per request and one timer event
    per header-timeout period, not a timer per request. Phases: ``head`` (waiting for
    a complete request head; from connection open or the end of the previous
    response), ``body`` (head complete, body not yet; each read re-arms the read
    deadline), ``busy`` (the request is with the app: no deadline).
    """

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._header_timeout: float = getattr(config, "gait_header_timeout_s", 5.0)
        self._read_timeout: float = getattr(config, "gait_read_timeout_s", 30.0)
        self._phase = "head"
        self._deadline_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._head_bytes = 0

    def _set_deadline(self, at: float) -> None:
        self._deadline_at = at
        if self._timer is not None and self._timer_at <= at:
            return  # it fires first and re-arms for the time left
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing() or self._phase == "busy":
            return
        if self.loop.time() >= self._deadline_at:
            self.transport.close()
        else:
            self._set_deadline(self._deadline_at)

    def _enter_head(self) -> None:
        self._phase = "head"
        self._set_deadline(self.loop.time() + self._header_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase != "body":
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._phase == "body":
            self._set_deadline(self.loop.time() + self._read_timeout)
        elif self._head_bytes > MAX_HEAD_BYTES:
            self.transport.write(_TOO_LARGE_HEAD)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = "busy"
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and self._phase == "busy" and not self.transport.is_closing():
            self._enter_head()


def _config(
    app: Any,
    *,
    lifespan: Literal["on", "off"],
    header_timeout_s: float,
    read_timeout_s: float,
    drain_timeout_s: float,
    certfile: str,
    keyfile: str,
    backlog: int,
) -> Config:
    config = Config(
        app,
        http=BoundedHttpToolsProtocol,
        ws="none",
        lifespan=lifespan,
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=max(1, math.ceil(header_timeout_s)),  # ours is the tighter bound
        timeout_graceful_shutdown=math.ceil(drain_timeout_s),
        ssl_certfile=certfile or None,
        ssl_keyfile=keyfile or None,
        backlog=backlog,
    )
    config.gait_header_timeout_s = header_timeout_s  # type: ignore[attr-defined]
    config.gait_read_timeout_s = read_timeout_s  # type: ignore[attr-defined]
    config.load()
    return config


async def serve_uvicorn(
    app: Any,
    sock: socket.socket,
    *,
    header_timeout_s: float,
    read_timeout_s: float,
    drain_timeout_s: float,
    certfile: str,
    keyfile: str,
    backlog: int,
    shutdown: anyio.Event,
    extra: list[socket.socket] | None = None,
) -> None:
    """Serve ``app`` on ``sock`` (and plain HTTP on ``extra``) until ``shutdown``, then drain.

    Runs shielded: it stops through ``shutdown`` (bounded by the drain window),
    never by cancellation. The app's lifespan start-up runs before the first
    socket accepts, its shutdown after the drain.
    """

    def config(lifespan: Literal["on", "off"], tls: bool) -> Config:
        return _config(
            app,
            lifespan=lifespan,
            header_timeout_s=header_timeout_s,
            read_timeout_s=read_timeout_s,
            drain_timeout_s=drain_timeout_s,
            certfile=certfile if tls else "",
            keyfile=keyfile if tls else "",
            backlog=backlog,
        )

    servers = [Server(config("on", tls=True))]
    servers += [Server(config("off", tls=False)) for _ in extra or []]
    with anyio.CancelScope(shield=True):
        started: list[Server] = []
        try:
            for server, listener in zip(servers, [sock, *(extra or [])], strict=True):
                server.lifespan = server.config.lifespan_class(server.config)
                await server.startup(sockets=[listener])
                started.append(server)
            await shutdown.wait()
        finally:
            for server in started:
                server.should_exit = True
            # One drain window for all listeners: their graceful stops run together.
            await asyncio.gather(*(server.shutdown() for server in reversed(started)))
