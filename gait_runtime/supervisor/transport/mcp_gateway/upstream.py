"""One upstream MCP server behind the gateway, supervised like a session actor.

Owns: the SDK client connection to one configured upstream (a spawned stdio
server or a streamable HTTP endpoint), negotiated by the SDK (``auto``: the
2026 ``server/discover`` probe, else the ``initialize`` handshake, so every
protocol version the SDK speaks); the supervision loop that reconnects a lost
connection (a stdio server that exited, an HTTP session that went away) within
a restart intensity — at most ``restart_max`` restarts in ``restart_window_s``,
then the upstream is marked failed and every call to it answers an error while
the other upstreams keep serving (the supervisor's one_for_one idea); bounded
connects and calls (``call_timeout_s``); and the tool listing walk.

Framing, JSON-RPC and the MCP session are the SDK's. The only thing added to
the SDK's transport is an observer on its read stream: when the stream ends
(the upstream died or hung up) the loop restarts the connection at once rather
than on the next call, and lines that are not JSON-RPC are counted. A single
failed call never restarts a connection other calls may be using.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final

import anyio
import anyio.abc
import mcp_types as types
import structlog
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import CONNECTION_CLOSED
from pydantic import ValidationError

from ....errors import InternalError
from .config import GatewayConfig, UpstreamSpec

__all__ = ["Upstream", "UpstreamError"]

_log = structlog.get_logger("gait_runtime.supervisor.transport.mcp_gateway.upstream")

_PAGE_CAP: Final = 100
_BACKOFF_MAX_S: Final = 1.0


class UpstreamError(InternalError):
    """A call could not be completed by its upstream (gone, failed, slow, or malformed)."""

    code = "mcp_upstream_error"


class _WatchedStream:
    """The SDK transport's read stream, observed: its end and its unparsable lines."""

    def __init__(self, inner: Any, upstream: Upstream) -> None:
        self._inner = inner
        self._upstream = upstream

    async def receive(self) -> SessionMessage | Exception:
        try:
            item: SessionMessage | Exception = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._upstream._connection_lost("the upstream closed the connection")
            raise
        if isinstance(item, Exception):
            self._upstream.garbage += 1
            _log.warning(
                "mcp_upstream_garbage",
                upstream=self._upstream.spec.name,
                error=f"{type(item).__name__}: {item}"[:300],
            )
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _WatchedStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _WatchedStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None


class Upstream:
    """A supervised SDK client connection to one upstream server.

    Start it with ``await tg.start(upstream.run)``: readiness is reported after the
    first connection attempt (successful or not, so one broken upstream never keeps
    the gateway from serving the others).

    Args:
        spec: which server.
        config: timeouts and restart intensity.
    """

    def __init__(self, spec: UpstreamSpec, config: GatewayConfig) -> None:
        self.spec = spec
        self._config = config
        self._client: Client | None = None
        self._ready = anyio.Event()
        self._lost = anyio.Event()
        self._restart_times: deque[float] = deque()
        self.failed = ""
        self.last_error = ""
        self.restarts = 0
        self.connects = 0
        self.garbage = 0
        self.generation = 0

    # ---------------------------------------------------------------- supervision

    def _connection_lost(self, why: str) -> None:
        if not self._lost.is_set():
            self.last_error = why
            self._lost.set()

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        spec = self.spec
        if spec.url:
            async with streamable_http_client(spec.url) as (read, write):
                yield _WatchedStream(read, self), write
            return
        params = StdioServerParameters(
            command=spec.command[0],
            args=list(spec.command[1:]),
            env=self._config.upstream_env or None,
        )
        async with stdio_client(params) as (read, write):
            yield _WatchedStream(read, self), write

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, serve until the connection is lost, reconnect within the intensity."""
        reported = False
        attempt = 0
        while True:
            self._lost = anyio.Event()
            connected = False
            with anyio.CancelScope(
                deadline=anyio.current_time() + self._config.connect_timeout_s
            ) as scope:
                try:
                    async with Client(self._transport(), mode="auto", cache=None) as client:
                        scope.deadline = math.inf
                        connected = True
                        attempt = 0
                        self.connects += 1
                        self.generation += 1
                        self._client = client
                        self._ready.set()
                        _log.info(
                            "mcp_upstream_connected",
                            upstream=self.spec.name,
                            protocol_version=client.protocol_version,
                            generation=self.generation,
                        )
                        if not reported:
                            reported = True
                            task_status.started()
                        await self._lost.wait()
                except Exception as exc:  # the supervision boundary: any failure means reconnect
                    self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            self._client = None
            self._ready = anyio.Event()
            if scope.cancelled_caught and not connected:
                self.last_error = f"no connection within {self._config.connect_timeout_s:g}s"
            _log.warning("mcp_upstream_lost", upstream=self.spec.name, error=self.last_error)
            if not self._may_restart():
                self.failed = (
                    f"upstream {self.spec.name} failed: more than {self._config.restart_max} "
                    f"restarts in {self._config.restart_window_s:g}s (last error: {self.last_error})"
                )
                _log.error("mcp_upstream_failed", upstream=self.spec.name, error=self.failed)
                self._ready.set()
                if not reported:
                    task_status.started()
                return
            if not reported:
                reported = True
                task_status.started()
            self.restarts += 1
            if not connected:
                attempt += 1
                await anyio.sleep(min(0.05 * 2**attempt, _BACKOFF_MAX_S))

    def _may_restart(self) -> bool:
        now = anyio.current_time()
        window = self._config.restart_window_s
        while self._restart_times and now - self._restart_times[0] > window:
            self._restart_times.popleft()
        if len(self._restart_times) >= self._config.restart_max:
            return False
        self._restart_times.append(now)
        return True

    async def _connected(self) -> Client:
        """The live client, waiting (bounded by the connect timeout) for a reconnect."""
        if self.failed:
            raise UpstreamError(self.failed)
        client = self._client
        if client is None or self._lost.is_set():
            with anyio.move_on_after(self._config.connect_timeout_s):
                while not self.failed:
                    await self._ready.wait()
                    if self._client is not None and not self._lost.is_set():
                        break
                    await anyio.sleep(0.01)
            client = self._client
            if self.failed:
                raise UpstreamError(self.failed)
            if client is None:
                raise UpstreamError(
                    f"upstream {self.spec.name} is not connected ({self.last_error or 'starting'})"
                )
        return client

    @property
    def state(self) -> str:
        """``connected``, ``reconnecting`` or ``failed``."""
        if self.failed:
            return "failed"
        return "connected" if self._client is not None else "reconnecting"

    # ---------------------------------------------------------------- requests

    async def list_tools(self) -> list[types.Tool]:
        """Every tool the upstream lists (pages walked, at most 100)."""
        client = await self._connected()
        tools: list[types.Tool] = []
        cursor: str | None = None
        try:
            with anyio.fail_after(self._config.call_timeout_s):
                for _ in range(_PAGE_CAP):
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except TimeoutError:
            raise UpstreamError(
                f"upstream {self.spec.name} did not list its tools within "
                f"{self._config.call_timeout_s:g}s"
            ) from None
        except MCPError as exc:
            raise UpstreamError(f"upstream {self.spec.name}: tools/list failed: {exc}") from None
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call one tool; every failure becomes :class:`UpstreamError` naming why.

        Raises:
            UpstreamError: failed or unreachable upstream, no answer within the call
                timeout, a connection lost mid-call, an error answer, or a result that
                is not a valid ``CallToolResult``.
        """
        client = await self._connected()
        timeout = self._config.call_timeout_s
        try:
            with anyio.fail_after(timeout):
                return await client.call_tool(name, arguments)
        except TimeoutError:
            raise UpstreamError(
                f"upstream {self.spec.name} did not answer tools/call {name} within {timeout:g}s"
            ) from None
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                raise UpstreamError(
                    f"upstream {self.spec.name} closed the connection during tools/call {name}"
                ) from None
            raise UpstreamError(
                f"upstream {self.spec.name} answered tools/call {name} with an error: {exc}"
            ) from None
        except ValidationError as exc:
            raise UpstreamError(
                f"upstream {self.spec.name} returned an invalid tools/call result: "
                f"{exc.error_count()} validation error(s)"
            ) from None
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise UpstreamError(
                f"upstream {self.spec.name} is unreachable: {type(exc).__name__}: {exc}"
            ) from None
