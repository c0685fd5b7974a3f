"""The official SDK's client ↔ ``gait mcp proxy`` (stdio) ↔ a real SDK MCP server.

Every test spawns the real proxy process (its own ``--backend`` matches the
test's anyio backend) and the proxy spawns the real upstream of
``upstream_server.py``, which records each call it receives before running it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import RequestParamsMeta

from gait_runtime.artifacts.keys import init_key_pair
from gait_runtime.cli import main

from .harness import POLICY, journal_events, proxy_argv, received, text_of, upstream_command

pytestmark = pytest.mark.anyio


def _client(root: Path, *extra: str, upstreams: list[str] | None = None, backend: str) -> Client:
    record = root / "calls.jsonl"
    argv = proxy_argv(
        root,
        upstreams or [upstream_command(record)],
        "--session-id",
        "s1",
        *extra,
        backend=backend,
    )
    return Client(StdioServerParameters(command=argv[0], args=argv[1:], cwd=str(root)))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path


async def test_allow_block_and_approval_over_stdio(root: Path, anyio_backend: str) -> None:
    """tools/list is annotated; allow reaches the upstream; block never does; an approval
    token minted with ``gait approve`` lets the retried call run, a forged one does not."""
    _, private, public = init_key_pair(root / "keys", "approver")
    with anyio.fail_after(90):
        async with _client(
            root, "--approval-public-key", str(public), backend=anyio_backend
        ) as client:
            listed = await client.list_tools()
            allowed = await client.call_tool("echo", {"text": "hello"})
            blocked = await client.call_tool("delete_file", {"path": "/srv/app/db"})
            first = await client.call_tool("deploy", {"target": "prod"})
            decision = (first.meta or {})["gait.dev/decision"]
            token = _approve(root, decision, private)
            second = await client.call_tool(
                "deploy",
                {"target": "prod"},
                meta=cast("RequestParamsMeta", {"gait.dev/approval_token": token}),
            )
            forged = dict(token, approver_identity="mallory")
            third = await client.call_tool(
                "deploy",
                {"target": "prod"},
                meta=cast("RequestParamsMeta", {"gait.dev/approval_token": forged}),
            )
    verdicts = {t.name: (t.meta or {})["gait.dev/policy"]["verdict"] for t in listed.tools}
    assert verdicts["echo"] == "allow"
    assert verdicts["delete_file"] == "block"
    assert verdicts["deploy"] == "require_approval"
    assert not allowed.is_error and text_of(allowed) == "hello"
    assert allowed.meta is not None and allowed.meta["gait.dev/decision"]["verdict"] == "allow"
    assert blocked.is_error
    assert "block" in text_of(blocked) and "destructive_tool_blocked" in text_of(blocked)
    assert first.is_error and decision["verdict"] == "require_approval"
    assert decision["intent_digest"] in text_of(first) and "gait approve" in text_of(first)
    assert not second.is_error and text_of(second) == "deployed prod"
    assert (second.meta or {})["gait.dev/decision"]["approval_ref"]
    assert third.is_error and "require_approval" in text_of(third)
    assert [c["tool"] for c in received(root / "calls.jsonl")] == ["echo", "deploy"]
    events = journal_events(root / "sessions" / "s1.journal.jsonl")
    assert [(e["sequence"], e["tool_name"], e["verdict"]) for e in events] == [
        (1, "upstream.echo", "allow"),
        (2, "upstream.echo", "allow"),
        (3, "upstream.delete_file", "block"),
        (4, "upstream.deploy", "require_approval"),
        (5, "upstream.deploy", "allow"),
        (6, "upstream.deploy", "allow"),
        (7, "upstream.deploy", "require_approval"),
    ]
    result_codes = events[1]["reason_codes"]
    assert "mcp_tool_result" in result_codes
    assert any(c.startswith("result_sha256=") and len(c) == 14 + 64 for c in result_codes)
    assert any(c.startswith("result_bytes=") and int(c.split("=")[1]) > 0 for c in result_codes)
    assert events[1]["trace_id"] == events[0]["trace_id"]
    trace = json.loads(await anyio.Path(root / events[0]["trace_path"]).read_text())
    assert trace["verdict"] == "allow" and trace["signature"]


def _approve(root: Path, decision: dict[str, object], private: Path) -> dict[str, object]:
    token_path = root / "token.json"
    with (root / "approve.out").open("w") as out:
        code = main(
            [
                "approve",
                "--intent-digest",
                str(decision["intent_digest"]),
                "--policy-digest",
                str(decision["policy_digest"]),
                "--ttl",
                "1h",
                "--scope",
                ",".join(decision["approval_scope"]),  # type: ignore[arg-type]
                "--approver",
                "alice@example.com",
                "--reason-code",
                "chg_42",
                "--key-mode",
                "prod",
                "--private-key",
                str(private),
                "--out",
                str(token_path),
            ],
            out=out,
        )
    assert code == 0
    token: dict[str, object] = json.loads(token_path.read_text())
    return token


async def test_upstream_failures_are_error_results_over_stdio(
    root: Path, anyio_backend: str
) -> None:
    """Killed mid-call, hung past --call-timeout, garbage instead of an answer: each call gets
    an error result, a concurrent call is served, and the restarted upstream serves the next."""
    results: dict[str, object] = {}

    async def call(client: Client, key: str, tool: str, args: dict[str, object]) -> None:
        results[key] = await client.call_tool(tool, args)

    with anyio.fail_after(90):
        async with _client(root, "--call-timeout", "2s", backend=anyio_backend) as client:
            crashed = await client.call_tool("crash", {"code": 9})
            after_crash = await client.call_tool("echo", {"text": "still here"})
            async with anyio.create_task_group() as tg:
                slow_args: dict[str, object] = {"seconds": 30}
                meanwhile: dict[str, object] = {"text": "meanwhile"}
                tg.start_soon(call, client, "slow", "slow", slow_args)
                tg.start_soon(call, client, "echo", "echo", meanwhile)
            garbage = await client.call_tool("garbage", {})
            after = await client.call_tool("echo", {"text": "after"})
    assert crashed.is_error and "closed the connection" in text_of(crashed)
    assert not after_crash.is_error and text_of(after_crash) == "still here"
    calls = received(root / "calls.jsonl")
    assert [c["tool"] for c in calls[:2]] == ["crash", "echo"]
    assert calls[0]["pid"] != calls[1]["pid"]
    slow = results["slow"]
    assert getattr(slow, "is_error", False) and "within 2s" in text_of(slow)
    assert text_of(results["echo"]) == "meanwhile"
    assert garbage.is_error and "within 2s" in text_of(garbage)
    assert not after.is_error and text_of(after) == "after"
    events = journal_events(root / "sessions" / "s1.journal.jsonl")
    failed = [e for e in events if "result_is_error" in e.get("reason_codes", [])]
    assert [e["tool_name"] for e in failed] == [
        "upstream.crash",
        "upstream.slow",
        "upstream.garbage",
    ]
