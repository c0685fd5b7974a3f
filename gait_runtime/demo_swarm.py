"""The swarm demo: a real decision server, three simulated agents, verified evidence.

Owns: :func:`run_swarm`, which writes an embedded policy into
``<root>/swarm/``, starts the :class:`~gait_runtime.supervisor.runtime.Supervisor`
on loopback with dev keys, drives three agents concurrently over HTTP through a
few dozen tool calls (reads, searches and writes are allowed, one delete is
blocked, one deploy needs approval and is approved with a signed token),
checkpoints every session, drains the server, then verifies every artifact
(signed traces, journals, checkpoint runpacks, session chains) and returns a
:class:`SwarmReport` with the ticket footer. ``gait demo swarm`` renders it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import httpx

from . import __version__
from .artifacts.fsutil import write_atomic
from .artifacts.keys import init_key_pair
from .artifacts.signing import SigningKey
from .errors import InternalError
from .gate.approval import mint_token, required_scope
from .gate.trace import verify_trace
from .runpack.manifest import ticket_footer
from .runpack.verify import verify_runpack
from .supervisor.journal.chain import verify_chain
from .supervisor.journal.scan import chain_path_for, scan_journal
from .supervisor.runtime import Supervisor
from .supervisor.service.config import ListenAddress, ServiceConfig

__all__ = ["DEMO_POLICY", "SwarmReport", "run_swarm"]

DEMO_POLICY: Final = """schema_id: gait.gate.policy
schema_version: 1.0.0
default_verdict: block
rules:
  - name: block-deletes
    priority: 1
    effect: block
    match:
      tool_names: [tool.delete]
    reason_codes: [destructive_tool_blocked]
    violations: [destructive_operation]
  - name: approve-deploys
    priority: 5
    effect: require_approval
    match:
      tool_names: [tool.deploy]
    reason_codes: [deploy_needs_approval]
    min_approvals: 1
  - name: allow-reads
    priority: 10
    effect: allow
    match:
      tool_names: [tool.read, tool.search, tool.list]
    reason_codes: [safe_read_allowed]
  - name: allow-workspace-writes
    priority: 20
    effect: allow
    match:
      tool_names: [tool.write]
    reason_codes: [workspace_write_allowed]
"""
"""Reads and workspace writes allowed, deletes blocked, deploys need one approval."""

_AGENTS: Final = ("agent-1", "agent-2", "agent-3")
_APPROVER: Final = "release-manager"


@dataclass
class SwarmReport:
    """What the swarm did and what was verified.

    Attributes:
        listen: the server's bound address.
        policy_digest: digest of the embedded policy.
        calls: HTTP decisions made.
        verdicts: count per verdict.
        approved: require_approval decisions later granted with a token.
        events: journal events across sessions.
        traces_verified: signed traces that verified.
        checkpoints_verified: checkpoint runpacks that verified.
        chains_verified: session chains that verified.
        failures: anything that did not verify.
        footer: the ticket footer of the last checkpoint runpack.
        footer_path: a byte copy of that runpack at ``<root>/runpack_<run_id>.zip``, where
            ``gait verify <run_id>`` finds it (with the default ``./gait-out`` root).
        out_dir: where every artifact lives.
    """

    listen: str = ""
    policy_digest: str = ""
    calls: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    approved: int = 0
    events: int = 0
    traces_verified: int = 0
    checkpoints_verified: int = 0
    chains_verified: int = 0
    failures: list[str] = field(default_factory=list)
    footer: str = ""
    footer_path: str = ""
    out_dir: str = ""

    @property
    def ok(self) -> bool:
        """True when every artifact verified."""
        return not self.failures


def _script(agent: str) -> list[tuple[str, dict[str, Any], list[dict[str, str]]]]:
    """The tool calls one simulated agent makes (about a dozen)."""
    steps: list[tuple[str, dict[str, Any], list[dict[str, str]]]] = []
    for i in range(4):
        path = f"/srv/app/{agent}/notes-{i}.md"
        steps.append(
            ("tool.read", {"path": path}, [{"kind": "path", "value": path, "operation": "read"}])
        )
        steps.append(("tool.search", {"query": f"{agent} incident {i}"}, []))
    report = f"/srv/app/{agent}/report.md"
    steps.append(
        (
            "tool.write",
            {"path": report, "content": "summary"},
            [{"kind": "path", "value": report, "operation": "write"}],
        )
    )
    steps.append(
        (
            "tool.list",
            {"path": "/srv/app"},
            [{"kind": "path", "value": "/srv/app", "operation": "read"}],
        )
    )
    if agent == "agent-2":
        cache = "/srv/app/cache.db"
        steps.append(
            (
                "tool.delete",
                {"path": cache},
                [{"kind": "path", "value": cache, "operation": "delete"}],
            )
        )
    if agent == "agent-3":
        steps.append(("tool.deploy", {"service": "billing", "version": "1.4.2"}, []))
    return steps


def _request(
    agent: str, tool: str, args: dict[str, Any], targets: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "run_id": f"swarm-{agent}",
        "call": {
            "name": tool,
            "args": args,
            "targets": targets,
            "context": {
                "identity": agent,
                "workspace": "/srv/app",
                "risk_class": "medium",
                "session_id": f"swarm-{agent}",
            },
        },
    }


async def _agent(
    client: httpx.AsyncClient, agent: str, approver: SigningKey, report: SwarmReport
) -> None:
    for tool, args, targets in _script(agent):
        body = _request(agent, tool, args, targets)
        answer = await _decide(client, body, report)
        if answer["verdict"] == "require_approval":
            token = mint_token(
                intent_digest=answer["intent_digest"],
                policy_digest=answer["policy_digest"],
                approver=_APPROVER,
                reason_code="change_window_open",
                scope=required_scope(tool, "apply", False),
                ttl_ns=600 * 1_000_000_000,
                now_ns=time.time_ns(),
                key=approver,
                producer_version=__version__,
            )
            granted = await _decide(client, {**body, "approval_tokens": [token]}, report)
            if granted["verdict"] == "allow":
                report.approved += 1


async def _decide(
    client: httpx.AsyncClient, body: dict[str, Any], report: SwarmReport
) -> dict[str, Any]:
    response = await client.post("/v1/evaluate", json=body)
    answer: dict[str, Any] = response.json()
    if response.status_code != 200 or answer.get("executed") is not False:
        raise InternalError(f"demo swarm: unexpected answer {response.status_code}: {answer}")
    report.calls += 1
    report.verdicts[answer["verdict"]] += 1
    return answer


async def _serve_and_drive(
    config: ServiceConfig, approver: SigningKey, report: SwarmReport
) -> Supervisor:
    supervisor = Supervisor(config)
    async with anyio.create_task_group() as tg:
        bound = await tg.start(supervisor.run)
        report.listen = bound.display()
        report.policy_digest = supervisor.policy.current.digest if supervisor.policy else ""
        async with (
            httpx.AsyncClient(base_url=bound.url(), timeout=30) as client,
            anyio.create_task_group() as agents,
        ):
            for agent in _AGENTS:
                agents.start_soon(_agent, client, agent, approver, report)
        for agent in _AGENTS:
            await supervisor.checkpoint(f"swarm-{agent}")
        supervisor.request_shutdown()
    return supervisor


def _verify(out: Path, supervisor: Supervisor, report: SwarmReport) -> None:
    assert supervisor.signing is not None
    public = supervisor.signing.key.public
    for trace_file in sorted((out / "traces").glob("trace_*.json")):
        result = verify_trace(json.loads(trace_file.read_bytes()), public)
        if result.ok:
            report.traces_verified += 1
        else:
            report.failures.append(f"trace {trace_file.name}: {result.error}")
    for journal in sorted((out / "sessions").glob("*.journal.jsonl")):
        scan = scan_journal(journal.read_bytes())
        report.events += scan.event_count
        chain = chain_path_for(journal)
        chain_report = verify_chain(chain)
        if chain_report.ok:
            report.chains_verified += 1
        else:
            report.failures.append(
                f"chain {chain.name}: {chain_report.linkage_errors + chain_report.checkpoint_errors}"
            )
    last = None
    for runpack in sorted((out / "runpacks").glob("*.zip")):
        verified = verify_runpack(runpack)
        if verified.ok:
            report.checkpoints_verified += 1
            last = verified
            report.footer_path = str(runpack)
        else:
            report.failures.append(f"runpack {runpack.name} did not verify")
    if last is not None:
        report.footer = ticket_footer(last.run_id, last.manifest_digest)
        # The footer says `gait verify <run_id>`; run ids resolve to
        # <out-dir>/runpack_<run_id>.zip, so put a byte copy there.
        resolvable = out.parent / f"runpack_{last.run_id}.zip"
        write_atomic(resolvable, Path(report.footer_path).read_bytes())
        report.footer_path = str(resolvable)


def run_swarm(root: Path, *, backend: str = "asyncio") -> SwarmReport:
    """Run the whole demo under ``<root>/swarm`` (recreated) and return its report.

    Raises:
        InternalError: the server answered something other than a decision.
    """
    out = root / "swarm"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, mode=0o750)
    (out / "policy.yaml").write_text(DEMO_POLICY)
    approver, _, approver_public = init_key_pair(out / "keys", "approver")
    config = ServiceConfig(
        policy_path=out / "policy.yaml",
        listen=ListenAddress("127.0.0.1", 0),
        trace_dir=out / "traces",
        session_dir=out / "sessions",
        runpack_dir=out / "runpacks",
        key_mode="dev",
        approval_public_key=str(approver_public),
        policy_poll_s=0.0,
    )
    report = SwarmReport(out_dir=str(out))
    supervisor = anyio.run(_serve_and_drive, config, approver, report, backend=backend)
    _verify(out, supervisor, report)
    return report
