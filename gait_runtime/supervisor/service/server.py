"""Runs the ASGI app inside the supervisor's task group, under the chosen HTTP server.

Owns: binding the listening socket ourselves (TCP ``host:port`` with port 0
allowed, or a Unix socket) and the optional metrics socket, choosing the HTTP
server (``auto``: uvicorn with httptools on asyncio, hypercorn on trio, where it
is the only option; :data:`HTTP_SERVERS`), handing the sockets to it (TLS by the
server's own SSL support when a certificate is configured, the metrics socket
always plain), keeping hypercorn's start-up banner out of the log stream
(``supervisor_ready`` names the address), mapping our timeouts onto the server's
(header/idle, body read, graceful drain), and reporting readiness with
``task_status.started(address)`` once the socket listens and the app finished
its lifespan start-up. Does not own: routing (``http.py``), uvicorn's protocol
bounds (``uvicorn_server.py``) or when to stop (the supervisor sets the
shutdown event).

Why two servers: the same fixed-body ASGI app costs ~35-40 µs of server CPU per
request under uvicorn with httptools and ~210-250 µs under hypercorn (h11) on
asyncio, ~540-650 µs under hypercorn on trio (``soak/bench_http_front.py``,
``docs/performance.md`` "The HTTP front"); uvicorn runs only on asyncio.

Timeouts (both servers): from the moment a connection opens (or its previous
response completed) until complete request headers arrive at most
``header_timeout_s``, so a slow-header (slowloris) client is cut off as well as
an idle keep-alive connection (hypercorn's keep-alive timer does this; uvicorn's
does not, see ``uvicorn_server.py``); ``read_timeout_s`` bounds each body read;
``drain_timeout_s`` is the graceful window for in-flight requests after the
shutdown event.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import stat
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import anyio
import anyio.abc
from hypercorn.config import Config, Sockets

from .config import HTTP_SERVERS, ListenAddress, resolve_http_server
from .http import GaitApp

__all__ = ["HTTP_SERVERS", "BoundAddress", "HTTPServerSettings", "serve_http"]

_BACKLOG: Final = 1024


class _NoBanner(logging.Filter):
    """Drops hypercorn's plain ``Running on …`` banner; other records pass (as JSON)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Running on ")


_HYPERCORN_ERRORLOG = logging.getLogger("gait_runtime.supervisor.http")
"""Hypercorn takes a stdlib logger; ``configure_logging`` renders its records through structlog."""
_HYPERCORN_ERRORLOG.addFilter(_NoBanner())


@dataclass(frozen=True, slots=True)
class BoundAddress:
    """The address the server actually listens on.

    Attributes:
        host: bound host (empty for a Unix socket).
        port: bound TCP port (0 for a Unix socket).
        unix_path: Unix socket path, or empty.
    """

    host: str = ""
    port: int = 0
    unix_path: str = ""
    scheme: str = "http"

    def display(self) -> str:
        """``host:port`` (IPv6 in brackets) or ``unix:/path``."""
        if self.unix_path:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self) -> str:
        """Base URL for TCP addresses (``http://host:port`` or ``https://…``)."""
        return f"{self.scheme}://{self.display()}"


@dataclass(frozen=True, slots=True)
class HTTPServerSettings:
    """The server choice, timeouts and TLS files handed to the HTTP server.

    Attributes:
        server: ``auto``, ``uvicorn`` or ``hypercorn`` (:func:`resolve_http_server`).
        header_timeout_s: complete headers (and idle keep-alive) deadline.
        read_timeout_s: per-read deadline while a body is being received.
        drain_timeout_s: graceful window for in-flight requests on shutdown.
        certfile: PEM certificate chain; set with ``keyfile`` to serve HTTPS.
        keyfile: PEM private key of ``certfile``.
    """

    header_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    drain_timeout_s: float = 10.0
    server: str = "auto"
    certfile: str = ""
    keyfile: str = ""


class _PreboundConfig(Config):
    """A hypercorn config that serves sockets we bound ourselves.

    The main socket is a secure one when TLS is on; the metrics socket (if
    any) stays plain HTTP.
    """

    def __init__(
        self, sock: socket.socket, *, secure: bool, extra: list[socket.socket] | None = None
    ) -> None:
        super().__init__()
        self._sock = sock
        self._secure = secure
        self._extra = list(extra or [])

    def create_sockets(self) -> Sockets:
        if self._secure:
            return Sockets([self._sock], list(self._extra), [])
        return Sockets([], [self._sock, *self._extra], [])


def bind_socket(listen: ListenAddress) -> tuple[socket.socket, BoundAddress]:
    """Create, bind and listen; return the socket and the address really bound.

    Raises:
        OSError: the address cannot be bound.
    """
    if listen.is_unix:
        path = listen.unix_path
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.remove(path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o600)
        bound = BoundAddress(unix_path=path)
    else:
        host = listen.bind_host()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, listen.port))
        except OSError:
            sock.close()
            raise
        name = sock.getsockname()
        bound = BoundAddress(host=str(name[0]), port=int(name[1]))
    sock.listen(_BACKLOG)
    sock.setblocking(False)
    return sock, bound


def _config(
    sock: socket.socket, settings: HTTPServerSettings, extra: list[socket.socket]
) -> Config:
    secure = bool(settings.certfile)
    config = _PreboundConfig(sock, secure=secure, extra=extra)
    if secure:
        config.certfile = settings.certfile
        config.keyfile = settings.keyfile
    config.keep_alive_timeout = settings.header_timeout_s
    config.read_timeout = max(1, math.ceil(settings.read_timeout_s))
    config.graceful_timeout = settings.drain_timeout_s
    config.backlog = _BACKLOG
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = _HYPERCORN_ERRORLOG
    config.h11_max_incomplete_size = 16 * 1024
    return config


async def serve_http(
    app: GaitApp,
    listen: ListenAddress,
    *,
    settings: HTTPServerSettings,
    shutdown: anyio.Event,
    metrics_listen: ListenAddress | None = None,
    task_status: anyio.abc.TaskStatus[BoundAddress] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown`` is set and in-flight requests finished (or timed out).

    The server actually used is written to ``app.http_server``.

    Args:
        app: the ASGI application.
        listen: where to listen.
        settings: timeouts and TLS files.
        shutdown: set it to stop accepting and drain.
        metrics_listen: a second listener for ``/metrics`` and probes (its bound port
            is written to ``app.metrics_port``), or None.
        task_status: receives the bound address once the server accepts requests.

    Raises:
        OSError: an address cannot be bound.
        UsageError: the server choice does not run on this backend.
    """
    name = resolve_http_server(settings.server, _backend_name())
    sock, bound = bind_socket(listen)
    extra: list[socket.socket] = []
    if metrics_listen is not None:
        try:
            metrics_sock, metrics_bound = bind_socket(metrics_listen)
        except OSError:
            sock.close()
            raise
        extra.append(metrics_sock)
        app.metrics_port = metrics_bound.port
        app.metrics_address = metrics_bound
    if settings.certfile:
        bound = BoundAddress(bound.host, bound.port, bound.unix_path, scheme="https")
    app.http_server = name
    try:
        async with anyio.create_task_group() as tg:
            if name == "uvicorn":
                from .uvicorn_server import serve_uvicorn

                tg.start_soon(
                    partial(
                        serve_uvicorn,
                        app,
                        sock,
                        header_timeout_s=settings.header_timeout_s,
                        read_timeout_s=settings.read_timeout_s,
                        drain_timeout_s=settings.drain_timeout_s,
                        certfile=settings.certfile,
                        keyfile=settings.keyfile,
                        backlog=_BACKLOG,
                        shutdown=shutdown,
                        extra=extra,
                    )
                )
            else:
                tg.start_soon(_run_hypercorn, app, _config(sock, settings, extra), shutdown)
            try:
                with anyio.fail_after(30):
                    await app.started.wait()
                task_status.started(bound)
                await shutdown.wait()
            finally:
                # Cancelled from outside: ask the server for its bounded graceful stop
                # instead of cancelling it (both run shielded: _run_hypercorn, serve_uvicorn).
                shutdown.set()
    finally:
        sock.close()
        for other in extra:
            other.close()
        if bound.unix_path:
            try:
                os.remove(bound.unix_path)
            except OSError:
                pass


async def _run_hypercorn(app: GaitApp, config: Config, shutdown: anyio.Event) -> None:
    """Run hypercorn shielded: it stops through ``shutdown`` (bounded by its graceful
    timeout), never by cancellation, which its asyncio worker does not survive cleanly."""
    with anyio.CancelScope(shield=True):
        await _serve_backend(app, config, shutdown)


async def _serve_backend(app: GaitApp, config: Config, shutdown: anyio.Event) -> None:
    trigger: Any = shutdown.wait
    asgi: Any = app  # a plain ASGI callable; hypercorn's framework type is a closed union
    if _backend_name() == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(asgi, config, shutdown_trigger=trigger, mode="asgi")
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(asgi, config, shutdown_trigger=trigger, mode="asgi")


def _backend_name() -> str:
    import sniffio

    return sniffio.current_async_library()
