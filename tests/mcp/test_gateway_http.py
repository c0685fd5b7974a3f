"""The official SDK's client ↔ the gateway under ``/mcp`` of a real decision server ↔ real upstreams.

The supervisor (hypercorn on 127.0.0.1, ephemeral port) runs in the test's event
loop with the gateway mounted; the upstreams are real SDK servers in their own
processes (stdio, and one served over streamable HTTP).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gait_runtime.supervisor.runtime import Supervisor
from gait_runtime.supervisor.service.config import ListenAddress, ServiceConfig
from gait_runtime.supervisor.transport.mcp_gateway.config import GatewayConfig, parse_upstreams
from gait_runtime.supervisor.transport.mcp_gateway.gateway import McpGateway

from .harness import POLICY, UPSTREAM, journal_events, received, text_of, upstream_command

pytestmark = [
    pytest.mark.anyio,
    # On trio the SDK client's SSE reader (httpx2) leaves response generators for the
    # garbage collector after a session ends; the warning is about the test's client.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <async_generator object:pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path


@asynccontextmanager
async def serving(
    root: Path, upstreams: list[str], **service: Any
) -> AsyncIterator[tuple[str, McpGateway]]:
    config = ServiceConfig(
        policy_path=root / "policy.yaml",
        listen=ListenAddress("127.0.0.1", 0),
        trace_dir=root / "traces",
        session_dir=root / "sessions",
        journal_io="thread",
        policy_poll_s=0.0,
        **service,
    )
    gateway = McpGateway(GatewayConfig(upstreams=parse_upstreams(upstreams), identity="http-agent"))
    supervisor = Supervisor(config, mcp=gateway.attach)
    async with anyio.create_task_group() as tg:
        bound = await tg.start(supervisor.run)
        yield f"{bound.url()}/mcp", gateway
        supervisor.request_shutdown()


async def test_sessions_blocking_and_100_concurrent_calls(root: Path, anyio_backend: str) -> None:
    """A stateful session journals under its MCP session id: 100 concurrent calls give 100
    decision events and 100 result events (one per executed call, same trace id), 200 in
    all plus the blocked call's decision, gap-free; a stateless 2026 client journals under
    the configured identity; blocked calls never arrive; no result record is left pending."""
    record = root / "calls.jsonl"
    texts: list[str] = []

    async def call(client: Client, i: int) -> None:
        result = await client.call_tool("echo", {"text": f"n{i}"})
        assert not result.is_error, text_of(result)
        texts.append(text_of(result))

    with anyio.fail_after(120):
        async with serving(root, [upstream_command(record)]) as (url, gateway):
            async with Client(url, mode="legacy") as legacy:
                async with anyio.create_task_group() as tg:
                    for i in range(100):
                        tg.start_soon(call, legacy, i)
                blocked = await legacy.call_tool("delete_file", {"path": "/x"})
            async with Client(url) as modern:
                version = modern.protocol_version
                stateless = await modern.call_tool("echo", {"text": "stateless"})
    assert sorted(texts) == sorted(f"n{i}" for i in range(100))
    assert blocked.is_error and "block" in text_of(blocked)
    assert version == "2026-07-28"
    assert text_of(stateless) == "stateless"
    journals = sorted(p.name for p in (root / "sessions").glob("*.journal.jsonl"))
    assert "http-agent.journal.jsonl" in journals and len(journals) == 2
    stateful = next(p for p in journals if p != "http-agent.journal.jsonl")
    events = journal_events(root / "sessions" / stateful)
    assert [e["sequence"] for e in events] == list(range(1, 202))
    results = [e for e in events if "mcp_tool_result" in e.get("reason_codes", [])]
    decisions = [e for e in events if "mcp_tool_result" not in e.get("reason_codes", [])]
    assert len(results) == 100 and len(decisions) == 101
    assert {e["trace_id"] for e in results} <= {e["trace_id"] for e in decisions}
    assert len({e["trace_id"] for e in results}) == 100
    assert gateway.health()["result_records_pending"] == 0
    assert gateway.health()["result_records_failed"] == 0
    assert events[-1]["verdict"] == "block"
    assert {e["session_id"] for e in events} == {stateful.removesuffix(".journal.jsonl")}
    identity = journal_events(root / "sessions" / "http-agent.journal.jsonl")
    assert [(e["tool_name"], e["verdict"]) for e in identity] == [
        ("upstream.echo", "allow"),
        ("upstream.echo", "allow"),
    ]
    tools = [c["tool"] for c in received(record)]
    assert tools.count("echo") == 101 and "delete_file" not in tools


async def test_auth_and_body_limit_guard_mcp(root: Path, anyio_backend: str) -> None:
    """/mcp sits behind the decision API's bearer auth and request-size limit; a POST is
    answered with one JSON body, not an SSE stream (the SDK's ``json_response`` mode)."""
    record = root / "calls.jsonl"
    with anyio.fail_after(90):
        async with serving(
            root, [upstream_command(record)], auth_token="s3cret", max_request_bytes=4096
        ) as (url, _):
            async with httpx.AsyncClient(timeout=10) as http:
                missing = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                wrong = await http.post(
                    url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    headers={"authorization": "Bearer nope"},
                )
                big = await http.post(
                    url,
                    content=b"x" * 5000,
                    headers={"authorization": "Bearer s3cret", "content-type": "application/json"},
                )
                init = await http.post(
                    url,
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": "2025-06-18",
                            "capabilities": {},
                            "clientInfo": {"name": "raw", "version": "1"},
                        },
                    },
                    headers={
                        "authorization": "Bearer s3cret",
                        "accept": "application/json, text/event-stream",
                    },
                )
            import httpx2

            async with (
                httpx2.AsyncClient(headers={"authorization": "Bearer s3cret"}) as authed,
                Client(streamable_http_client(url, http_client=authed)) as client,
            ):
                ok = await client.call_tool("echo", {"text": "authed"})
    assert missing.status_code == 401 and missing.json()["error"] == "missing bearer authorization"
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid bearer authorization"
    assert big.status_code == 413
    assert init.status_code == 200
    assert init.headers["content-type"].startswith("application/json")
    assert init.json()["result"]["protocolVersion"] == "2025-06-18"
    assert text_of(ok) == "authed"
    assert [c["tool"] for c in received(record)] == ["echo"]


async def test_http_and_stdio_upstreams_prefixed(root: Path, anyio_backend: str) -> None:
    """An upstream over streamable HTTP and one over stdio: prefixed names, each reached alone,
    nothing else reachable."""
    http_record, stdio_record = root / "http.jsonl", root / "stdio.jsonl"
    async with await anyio.open_process(
        [sys.executable, str(UPSTREAM), "--record", str(http_record), "--http"]
    ) as proc:
        assert proc.stdout is not None
        line = b""
        with anyio.fail_after(60):
            while not line.endswith(b"\n"):
                line += await proc.stdout.receive(1)
        port = int(line.split()[1])
        upstreams = [
            f"up=http://127.0.0.1:{port}/mcp",
            f"upstream={upstream_command(stdio_record)}",
        ]
        try:
            with anyio.fail_after(90):
                async with serving(root, upstreams) as (url, gateway), Client(url) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    a = await client.call_tool("up__echo", {"text": "over http"})
                    b = await client.call_tool("upstream__echo", {"text": "over stdio"})
                    unknown = await client.call_tool("echo", {"text": "?"})
                    health = gateway.health()
        finally:
            proc.terminate()
    assert {"up__echo", "upstream__echo", "up__delete_file"} <= names
    assert text_of(a) == "over http" and text_of(b) == "over stdio"
    assert unknown.is_error and "unknown tool" in text_of(unknown)
    assert [c["args"]["text"] for c in received(http_record)] == ["over http"]
    assert [c["args"]["text"] for c in received(stdio_record)] == ["over stdio"]
    assert health["upstreams"]["up"]["kind"] == "http"
    assert health["upstreams"]["upstream"]["state"] == "connected"
    events = journal_events(root / "sessions" / "http-agent.journal.jsonl")
    assert [e["tool_name"] for e in events] == [
        "up.echo",
        "up.echo",
        "upstream.echo",
        "upstream.echo",
    ]
