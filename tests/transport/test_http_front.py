"""The HTTP front's connection bounds, on every shipped server (uvicorn, hypercorn).

Each test speaks raw HTTP/1.1 over a real TCP connection to a real supervisor
on 127.0.0.1:0 and asserts what the server does with a slow, idle, stalled or
oversized client: the header deadline runs from the moment a connection opens
(or its previous response completed) until the request head is complete, each
body read has its own deadline, and a request head is capped. Every wait is
bounded; the trickling client paces its own input, nothing sleeps to time the
server.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.abc
import pytest

from gait_runtime.errors import UsageError
from gait_runtime.supervisor.service.config import ListenAddress, resolve_http_server

from .harness import SERVICE, every_server, running, service_config

pytestmark = pytest.mark.anyio

ALLOW = (SERVICE / "requests" / "allow_mcp.json").read_bytes()
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: gait\r\n\r\n"


async def _read_until_closed(stream: anyio.abc.ByteStream, bound_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    received = b""
    with anyio.fail_after(bound_s):
        try:
            while True:
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass
    return received


async def _read_response(stream: anyio.abc.ByteStream) -> bytes:
    """One complete response with a ``content-length`` body (bounded)."""
    data = b""
    with anyio.fail_after(10):
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += await stream.receive()
    return head + b"\r\n\r\n" + body


@every_server
async def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path, http_server: str) -> None:
    async with running(tmp_path, http_server=http_server, header_timeout_s=0.3) as run:
        stream = await anyio.connect_tcp(run.bound.host, run.bound.port)
        async with stream:
            assert await _read_until_closed(stream) == b""


@every_server
async def test_headers_trickled_a_byte_at_a_time_are_cut_off(
    tmp_path: Path, http_server: str
) -> None:
    """Slowloris: every byte arrives well within any idle timer, the head never completes
    within the header deadline, so the server closes before the head is finished."""
    head = b"POST /v1/evaluate HTTP/1.1\r\nHost: gait\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n\r\n"
    async with running(tmp_path, http_server=http_server, header_timeout_s=0.5) as run:
        stream = await anyio.connect_tcp(run.bound.host, run.bound.port)
        sent = 0
        async with stream:
            with anyio.fail_after(15):
                try:
                    for byte in head:
                        await stream.send(bytes([byte]))
                        sent += 1
                        await anyio.sleep(0.02)  # the client's pace, not a wait on the server
                    received = await _read_until_closed(stream)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    received = b""
        assert sent < len(head), "the server waited for the whole trickled head"
        assert not received.startswith(b"HTTP/1.1 200")
        assert (await run.client.post("/v1/evaluate", content=ALLOW)).status_code == 200


@every_server
async def test_a_stalled_body_is_cut_off(tmp_path: Path, http_server: str) -> None:
    """The head is complete, the body stops half way: the read deadline closes it."""
    async with running(
        tmp_path, http_server=http_server, header_timeout_s=5.0, read_timeout_s=0.3
    ) as run:
        stream = await anyio.connect_tcp(run.bound.host, run.bound.port)
        async with stream:
            await stream.send(
                b"POST /v1/evaluate HTTP/1.1\r\nHost: gait\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n" % len(ALLOW) + ALLOW[:10]
            )
            received = await _read_until_closed(stream)
        assert not received.startswith(b"HTTP/1.1 200")
        health = (await run.client.get("/v1/health")).json()
        assert sum(health["decisions"].values()) == 0


@every_server
async def test_keep_alive_serves_requests_then_closes_when_idle(
    tmp_path: Path, http_server: str
) -> None:
    async with running(tmp_path, http_server=http_server, header_timeout_s=0.3) as run:
        stream = await anyio.connect_tcp(run.bound.host, run.bound.port)
        async with stream:
            for _ in range(3):
                await stream.send(HEALTHZ)
                answer = await _read_response(stream)
                assert answer.startswith(b"HTTP/1.1 200"), answer[:40]
            assert await _read_until_closed(stream) == b""


@every_server
async def test_an_oversized_request_head_is_refused(tmp_path: Path, http_server: str) -> None:
    async with running(tmp_path, http_server=http_server) as run:
        stream = await anyio.connect_tcp(run.bound.host, run.bound.port)
        async with stream:
            try:
                await stream.send(b"GET /healthz HTTP/1.1\r\nHost: gait\r\n")
                for _ in range(64):
                    await stream.send(b"X-Pad: " + b"a" * 1024 + b"\r\n")
            except (anyio.BrokenResourceError, OSError):
                pass
            received = await _read_until_closed(stream)
        # Both servers answer 431 and close; the close may reset the connection before
        # the answer is read (the client was still sending), which leaves nothing.
        status = received.split(b" ", 2)[1] if received else b""
        assert status in (b"", b"431"), received[:80]


@every_server
async def test_unix_socket_and_http_server_are_reported(tmp_path: Path, http_server: str) -> None:
    import httpx

    sock = tmp_path / "front.sock"
    transport = httpx.AsyncHTTPTransport(uds=str(sock))
    async with running(
        tmp_path,
        http_server=http_server,
        listen=ListenAddress(unix_path=str(sock)),
        transport=transport,
    ) as run:
        health = (await run.client.get("/v1/health")).json()
        assert health["http_server"] == http_server
        assert (await run.client.post("/v1/evaluate", content=ALLOW)).json()["verdict"] == "allow"


def test_auto_means_uvicorn_on_asyncio_and_hypercorn_on_trio(tmp_path: Path) -> None:
    assert resolve_http_server("auto", "asyncio") == "uvicorn"
    assert resolve_http_server("auto", "trio") == "hypercorn"
    assert resolve_http_server("hypercorn", "asyncio") == "hypercorn"
    with pytest.raises(UsageError, match="needs --backend asyncio"):
        service_config(tmp_path, backend="trio", http_server="uvicorn")
    with pytest.raises(UsageError, match="unsupported --http-server"):
        service_config(tmp_path, http_server="granian")
