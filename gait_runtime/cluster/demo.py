"""The failover demo: a 3-node NATS cluster, two supervisors, one killed mid-run.

Owns: :func:`run_failover`, which ``make demo-cluster`` (``python -m
gait_runtime.cluster.demo``) and the failover fault test drive. It starts
``nats-server`` nodes on loopback (:class:`~.local.LocalNats`), two ``gait
serve --journal nats://…`` processes (A and B), and a swarm of agents making
the swarm demo's tool calls, every session first served by A. Part way
through, A is SIGKILLed. Agents then go to B, which answers 307 to the dead
owner until A's leases expire, then takes each session over (recovering its
state from the stream) and answers. At the end every session is exported from
the stream and checked: sequences 1..N with no gap or duplicate, every
decision an agent saw acknowledged is in the stream, every chain verifies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import httpx

from ..demo_swarm import DEMO_POLICY, _script
from ..errors import InternalError
from ..supervisor.journal.chain import verify_chain
from ._settings import NatsSettings
from .export import export_session
from .link import NatsLink
from .local import LocalNats

__all__ = ["FailoverReport", "main", "run_failover"]


@dataclass
class FailoverReport:
    """What the failover run did and what was checked.

    Attributes:
        nats_url: the cluster.
        supervisors: ``{"A": url, "B": url}``.
        calls: decisions answered 200.
        verdicts: count per verdict.
        redirects: 307 answers received (B pointing at the dead A).
        acked: per session, the sequences the agents saw acknowledged.
        stored: per session, the sequences in the stream.
        takeover_s: per session, seconds from A's death to B's first answer.
        chains_verified: exported chains that verified.
        failures: anything that did not hold.
    """

    nats_url: str = ""
    supervisors: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    redirects: int = 0
    acked: dict[str, list[int]] = field(default_factory=dict)
    stored: dict[str, list[int]] = field(default_factory=dict)
    takeover_s: dict[str, float] = field(default_factory=dict)
    chains_verified: int = 0
    failures: list[str] = field(default_factory=list)
    killed_at: float = 0.0
    killed_after: int = 0

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        """A JSON summary."""
        return {
            "ok": self.ok,
            "nats": self.nats_url,
            "supervisors": self.supervisors,
            "calls": self.calls,
            "verdicts": dict(self.verdicts),
            "redirects": self.redirects,
            "sessions": {
                sid: {
                    "acked": len(self.acked.get(sid, [])),
                    "stored": len(seqs),
                    "last_sequence": seqs[-1] if seqs else 0,
                    "takeover_s": round(self.takeover_s.get(sid, 0.0), 3),
                }
                for sid, seqs in self.stored.items()
            },
            "chains_verified": self.chains_verified,
            "failures": self.failures,
        }


def _serve(root: Path, name: str, url: str, replicas: int, lease: str) -> tuple[Any, str]:
    home = root / name
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "serve.log", "wb")  # noqa: SIM115 - the child owns it
    cmd = [
        sys.executable,
        "-m",
        "gait_runtime",
        "serve",
        "--policy",
        str(root / "policy.yaml"),
        "--listen",
        "127.0.0.1:0",
        "--journal",
        url,
        "--journal-replicas",
        str(replicas),
        "--lease",
        lease,
        "--session-dir",
        str(home / "sessions"),
        "--trace-dir",
        str(home / "traces"),
        "--runpack-dir",
        str(home / "runpacks"),
        "--checkpoint-every",
        "6",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    assert proc.stdout is not None
    line = _read_line(proc.stdout, 30.0)
    if not line:
        proc.kill()
        raise InternalError(f"supervisor {name} did not start: see {home / 'serve.log'}")
    listen = json.loads(line)["listen"]
    return proc, f"http://{listen}"


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return b""
        return stream.readline()
    finally:
        sel.close()


async def _drive(
    report: FailoverReport,
    urls: dict[str, str],
    sessions: list[str],
    rounds: int,
    kill_after: int,
    kill: Any,
    deadline_s: float,
) -> None:
    steps = [s for s in _script("agent") if s[0] != "tool.deploy"] * rounds
    total = len(steps) * len(sessions)
    alive = {"A": True}

    async def decide(client: httpx.AsyncClient, sid: str, step: Any) -> None:
        tool, args, targets = step
        body = {
            "run_id": f"run_{sid}",
            "session_id": sid,
            "call": {
                "name": tool,
                "args": args,
                "targets": targets,
                "context": {"identity": sid, "workspace": "/srv", "risk_class": "low"},
            },
        }
        target = "A"
        limit = time.monotonic() + deadline_s
        while time.monotonic() < limit:
            url = urls[target] if alive["A"] or target == "B" else urls["B"]
            try:
                resp = await client.post(url + "/v1/evaluate", json=body)
            except httpx.TransportError:
                target = "B"  # the home supervisor is gone: ask the other one
                continue
            if resp.status_code == 307:
                report.redirects += 1
                location = resp.headers["location"]
                if alive["A"] or not location.startswith(urls["A"]):
                    target = "A" if location.startswith(urls["A"]) else "B"
                else:
                    await anyio.sleep(0.05)  # the dead owner's lease has not run out yet
                continue
            if resp.status_code >= 500:
                await anyio.sleep(0.05)
                continue
            doc = resp.json()
            report.calls += 1
            report.verdicts[str(doc.get("verdict", ""))] += 1
            for warning in doc.get("warnings", []):
                if warning.startswith("session_journal="):
                    seq = int(warning.rsplit("sequence=", 1)[1])
                    report.acked.setdefault(sid, []).append(seq)
            if not alive["A"] and sid not in report.takeover_s:
                report.takeover_s[sid] = time.monotonic() - report.killed_at
            if report.calls == kill_after and alive["A"]:
                kill()
                alive["A"] = False
                report.killed_at = time.monotonic()
                report.killed_after = report.calls
            return
        report.failures.append(f"{sid}: no answer within {deadline_s}s for {tool}")

    async def agent(sid: str) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for step in steps:
                await decide(client, sid, step)

    assert total > kill_after
    async with anyio.create_task_group() as tg:
        for sid in sessions:
            tg.start_soon(agent, sid)


def run_failover(
    root: Path,
    *,
    nodes: int = 3,
    sessions: int = 3,
    rounds: int = 2,
    lease: float = 2.0,
    kill_fraction: float = 0.4,
) -> FailoverReport:
    """Run the failover end to end under ``root`` and check the outcome."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "policy.yaml").write_text(DEMO_POLICY, encoding="utf-8")
    report = FailoverReport()
    replicas = 3 if nodes == 3 else 1
    with LocalNats(root / "nats", nodes=nodes) as cluster:
        report.nats_url = cluster.url
        lease_text = f"{int(lease * 1000)}ms"
        proc_a, url_a = _serve(root, "A", cluster.url, replicas, lease_text)
        procs = [proc_a]
        try:
            proc_b, url_b = _serve(root, "B", cluster.url, replicas, lease_text)
            procs.append(proc_b)
            report.supervisors = {"A": url_a, "B": url_b}
            sids = [f"agent-{i + 1}" for i in range(sessions)]
            per = len([s for s in _script("a") if s[0] != "tool.deploy"]) * rounds
            kill_after = max(1, int(per * sessions * kill_fraction))

            def kill() -> None:
                proc_a.send_signal(signal.SIGKILL)

            anyio.run(
                _drive,
                report,
                {"A": url_a, "B": url_b},
                sids,
                rounds,
                kill_after,
                kill,
                lease + 20.0,
            )
            proc_b.send_signal(signal.SIGTERM)  # drain: final checkpoints on B
            proc_b.wait(timeout=30)
            _check(report, cluster.url, replicas, sids, root / "export")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=10)
                if proc.stdout is not None:
                    proc.stdout.close()
    for sid, took in report.takeover_s.items():
        if took > lease + 1.0 + 2.0:
            report.failures.append(f"{sid}: takeover took {took:.2f}s (lease {lease}s)")
    return report


def _check(report: FailoverReport, url: str, replicas: int, sids: list[str], out: Path) -> None:
    link = NatsLink(NatsSettings.from_url(url, replicas=replicas))
    link.start()
    cwd = Path.cwd()
    try:
        for sid in sids:
            target = out / sid
            result = export_session(link, sid, target)
            data = result.journal_path.read_bytes()
            stored = [
                json.loads(x)["event"]["sequence"]
                for x in data.splitlines()
                if x.startswith(b'{"record_type":"event"')
            ]
            report.stored[sid] = stored
            if stored != list(range(1, len(stored) + 1)):
                report.failures.append(f"{sid}: stream sequences have a gap or duplicate")
            acked = report.acked.get(sid, [])
            if len(set(acked)) != len(acked):
                report.failures.append(f"{sid}: a sequence was acknowledged twice")
            if not set(acked) <= set(stored):
                report.failures.append(
                    f"{sid}: acknowledged but not stored: {set(acked) - set(stored)}"
                )
            if result.chain_path is None:
                report.failures.append(f"{sid}: no checkpoint chain")
                continue
            os.chdir(target)
            try:
                chain = verify_chain(Path(result.chain_path.name))
            finally:
                os.chdir(cwd)
            if chain.ok:
                report.chains_verified += 1
            else:
                report.failures.append(f"{sid}: chain does not verify")
    finally:
        link.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m gait_runtime.cluster.demo`` (``make demo-cluster``)."""
    parser = argparse.ArgumentParser(description="NATS JetStream failover demo")
    parser.add_argument("--out", default="gait-out/demo-cluster", help="work directory")
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease", type=float, default=2.0, help="lease seconds")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    ns = parser.parse_args(argv)
    root = Path(ns.out)
    if root.exists():
        shutil.rmtree(root)
    report = run_failover(root, sessions=ns.sessions, rounds=ns.rounds, lease=ns.lease)
    if ns.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print(f"nats cluster: {report.nats_url} (3 nodes, R3)")
        print(f"supervisors: A={report.supervisors.get('A')} B={report.supervisors.get('B')}")
        print(
            f"A was SIGKILLed after {report.killed_after} decisions; {report.calls} answered in "
            f"all, {report.redirects} redirects to the dead A while its leases ran out"
        )
        for sid, seqs in sorted(report.stored.items()):
            took = report.takeover_s.get(sid, 0.0)
            print(
                f"  {sid}: sequences 1..{seqs[-1] if seqs else 0} gap-free, "
                f"{len(report.acked.get(sid, []))} acked all stored, taken over by B in {took:.2f}s"
            )
        print(f"chains verified: {report.chains_verified}/{len(report.stored)}")
        print(
            "demo-cluster: ok"
            if report.ok
            else "demo-cluster: FAILED: " + "; ".join(report.failures)
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
