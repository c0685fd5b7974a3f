"""Helpers of the gateway tests: the upstream server command, the proxy command, journals."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

UPSTREAM = Path(__file__).with_name("upstream_server.py")

POLICY = """\
default_verdict: block
rules:
  - name: destructive-blocked
    priority: 5
    effect: block
    match: {tool_annotations: {destructiveHint: true}}
    reason_codes: [destructive_tool_blocked]
  - name: reads
    priority: 10
    effect: allow
    match: {tool_names: [upstream.echo, upstream.slow, upstream.crash, upstream.garbage, up.echo]}
    reason_codes: [read_ok]
  - name: deploys
    priority: 10
    effect: require_approval
    match: {tool_names: [upstream.deploy]}
    reason_codes: [deploy_needs_approval]
"""


def upstream_command(record: Path, *, http: bool = False) -> str:
    """The stdio upstream as one ``--upstream`` value (split as a shell would)."""
    argv = [sys.executable, str(UPSTREAM), "--record", str(record)]
    if http:
        argv.append("--http")
    return shlex.join(argv)


def proxy_argv(
    root: Path, upstreams: list[str], *extra: str, backend: str = "asyncio"
) -> list[str]:
    """``gait mcp proxy`` on stdio with the test policy, artifacts under ``root``."""
    argv = [
        sys.executable,
        "-m",
        "gait_runtime",
        "mcp",
        "proxy",
        "--policy",
        str(root / "policy.yaml"),
        "--trace-dir",
        str(root / "traces"),
        "--session-dir",
        str(root / "sessions"),
        "--backend",
        backend,
        "--log-level",
        "warning",
    ]
    for upstream in upstreams:
        argv += ["--upstream", upstream]
    return [*argv, *extra]


def received(record: Path) -> list[dict[str, Any]]:
    """The calls the upstream recorded (one JSON object per call it received)."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def journal_events(path: Path) -> list[dict[str, Any]]:
    """The event records of a session journal, in file order."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            if record["record_type"] == "event":
                out.append(record["event"])
    return out


def text_of(result: Any) -> str:
    """The text content of a tool result."""
    return "\n".join(str(getattr(c, "text", "")) for c in result.content)
