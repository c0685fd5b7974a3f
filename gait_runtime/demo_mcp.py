"""``gait demo mcp``: an MCP client → ``gait mcp proxy`` → a demo MCP server, offline.

Owns: the demo's policy (reads allowed, destructive tools blocked), spawning the
proxy as a real subprocess on stdio with the demo server as its upstream, the
client side (the official SDK's ``Client``: list tools, one allowed call, one
blocked call), and the checks the demo reports: the allowed call returned the
note, the blocked call answered a tool error naming the verdict, the server's own
record shows it received exactly the allowed call, the session journal holds the
two decisions plus the allowed call's result, and the note the blocked call
targeted still exists.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio

from .errors import VerificationError

__all__ = ["McpDemoReport", "run_demo"]

DEMO_POLICY: Final = """\
default_verdict: block
rules:
  - name: destructive-tools-blocked
    priority: 5
    effect: block
    match: {tool_annotations: {destructiveHint: true}}
    reason_codes: [destructive_tool_blocked]
  - name: notes-readable
    priority: 10
    effect: allow
    match: {tool_names: [notes.read_note]}
    reason_codes: [note_read_allowed]
"""
_SESSION: Final = "mcp-demo"


@dataclass(slots=True)
class McpDemoReport:
    """What the demo did and saw."""

    out_dir: str = ""
    protocol_version: str = ""
    tools: dict[str, str] = field(default_factory=dict)
    allowed_text: str = ""
    blocked_text: str = ""
    server_received: list[str] = field(default_factory=list)
    journal_events: list[dict[str, Any]] = field(default_factory=list)
    note_survived: bool = False

    def payload(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "ok": True,
            "out_dir": self.out_dir,
            "protocol_version": self.protocol_version,
            "tools": self.tools,
            "allowed_result": self.allowed_text,
            "blocked_result": self.blocked_text,
            "server_received": self.server_received,
            "journal": [
                {
                    "sequence": e.get("sequence"),
                    "tool_name": e.get("tool_name"),
                    "verdict": e.get("verdict"),
                    "reason_codes": e.get("reason_codes", []),
                }
                for e in self.journal_events
            ],
        }

    def lines(self) -> list[str]:
        """The text output."""
        tools = ", ".join(f"{k} ({v})" for k, v in sorted(self.tools.items()))
        out = [
            f"demo mcp: an MCP client talked to gait mcp proxy (protocol {self.protocol_version})",
            f"tools listed with their policy verdicts: {tools}",
            f"allowed call read_note -> {self.allowed_text!r}",
            f"blocked call delete_note -> {self.blocked_text.splitlines()[0]}",
            f"the demo server received: {', '.join(self.server_received)} (never delete_note)",
            f"journal {_SESSION}: "
            + "; ".join(
                f"#{e.get('sequence')} {e.get('tool_name')} "
                + ("result" if "mcp_tool_result" in e.get("reason_codes", []) else e["verdict"])
                for e in self.journal_events
            ),
            f"artifacts: {self.out_dir}",
        ]
        return out


async def _drive(proxy: list[str], cwd: Path, report: McpDemoReport) -> None:
    from mcp import Client, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=proxy[0], args=proxy[1:], cwd=str(cwd))
    with (
        (cwd / "proxy.log").open("w", encoding="utf-8") as log,
        anyio.fail_after(120),
    ):
        async with Client(stdio_client(params, errlog=log)) as client:
            report.protocol_version = client.protocol_version
            listed = await client.list_tools()
            for tool in listed.tools:
                policy = (tool.meta or {}).get("gait.dev/policy", {})
                report.tools[tool.name] = str(policy.get("verdict", "?"))
            allowed = await client.call_tool("read_note", {"name": "todo.txt"})
            report.allowed_text = _text(allowed)
            if allowed.is_error:
                raise VerificationError(f"demo mcp: the allowed call failed: {report.allowed_text}")
            blocked = await client.call_tool("delete_note", {"name": "todo.txt"})
            report.blocked_text = _text(blocked)
            if not blocked.is_error or "block" not in report.blocked_text:
                raise VerificationError("demo mcp: the destructive call was not blocked")


def _text(result: Any) -> str:
    return "\n".join(str(getattr(c, "text", "")) for c in result.content)


def run_demo(out: Path, *, backend: str = "asyncio", environ: dict[str, str]) -> McpDemoReport:
    """Run the demo under ``out/mcp-demo`` (recreated) and check what it shows.

    Raises:
        VerificationError: any check failed (the message says which).
    """
    root = out / "mcp-demo"
    if root.exists():
        shutil.rmtree(root)
    notes = root / "notes"
    notes.mkdir(parents=True)
    (notes / "todo.txt").write_text("ship the MCP gateway\n", encoding="utf-8")
    (root / "policy.yaml").write_text(DEMO_POLICY, encoding="utf-8")
    record = root / "server_calls.jsonl"
    record.touch()
    upstream = shlex.join(
        [
            sys.executable,
            "-m",
            "gait_runtime.demo_mcp_server",
            "--record",
            str(record.resolve()),
            "--notes",
            str(notes.resolve()),
        ]
    )
    proxy = [
        sys.executable,
        "-m",
        "gait_runtime",
        "mcp",
        "proxy",
        "--policy",
        "policy.yaml",
        "--upstream",
        f"notes={upstream}",
        "--upstream-env",
        f"PYTHONPATH={_package_root()}",
        "--session-id",
        _SESSION,
        "--trace-dir",
        "traces",
        "--session-dir",
        "sessions",
        "--log-level",
        "warning",
    ]
    report = McpDemoReport(out_dir=str(root))
    anyio.run(_drive, proxy, root, report, backend=backend)
    report.server_received = [
        json.loads(line)["tool"] for line in record.read_text(encoding="utf-8").splitlines() if line
    ]
    if report.server_received != ["read_note"]:
        raise VerificationError(
            f"demo mcp: the server received {report.server_received}, expected only read_note"
        )
    journal = root / "sessions" / f"{_SESSION}.journal.jsonl"
    for line in journal.read_text(encoding="utf-8").splitlines():
        record_line = json.loads(line)
        if record_line.get("record_type") == "event":
            report.journal_events.append(record_line["event"])
    verdicts = [(e["tool_name"], e["verdict"]) for e in report.journal_events]
    expected = [
        ("notes.read_note", "allow"),
        ("notes.read_note", "allow"),
        ("notes.delete_note", "block"),
    ]
    if verdicts != expected:
        raise VerificationError(f"demo mcp: unexpected journal {verdicts}")
    report.note_survived = (notes / "todo.txt").exists()
    if not report.note_survived:
        raise VerificationError("demo mcp: the note was deleted")
    return report


def _package_root() -> str:
    return str(Path(__file__).resolve().parent.parent)
