"""Session journal benchmark: group commit throughput, latency, and flatness with journal size.

Real time, real files, real fsync (this is the only place real time belongs). Run:

    .venv/bin/python soak/bench_sessions.py [--dir DIR] [--backends asyncio,trio,uvloop]
        [--per-appender 300] [--big 1000000]

Scenarios, each with ``fsync=always`` on every backend given:

* ``one_session_64``: 64 concurrent appenders on one session.
* ``sixteen_sessions``: 16 sessions x 4 appenders (``_x8``, ``_x16``, ``_x64``: x 8,
  16, 64 appenders).
* ``flat``: the same 64-appender load on a journal that already holds 1,000
  records and on one that holds 1,000,000 (pre-filled by writing lines directly),
  measured in alternating rounds, to show that append latency does not grow with
  the journal.

Every append carries its own trace id, as a decision's does.

``--ab OTHER_TREE`` compares this checkout's library with another checkout's
(a directory holding a ``gait_runtime`` package, e.g. ``git archive main
gait_runtime | tar -x -C /tmp/base``): the scenarios given by ``--only`` run
in child processes, alternately on each tree for ``--ab-rounds`` rounds, and
the medians of CPU per append and their ratio (this / other) are printed. On a
shared machine compare these ratios, not appends/s. One command:

    .venv/bin/python soak/bench_sessions.py --ab /tmp/base --only one_session_64,sixteen_sessions

Prints one JSON object per scenario: appends/s, p50/p90/p99 append latency (ms),
fsyncs per append, batches, CPU time per append (whole process, and the event-loop
thread alone), the load average when the scenario ended, and (for the pre-filled
journals) the actor start time with a matching state file and with full
validation of the journal. CPU per append moves much less with background load
than appends/s does, so compare it across runs on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from gait_runtime.artifacts.timefmt import format_ns
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.journal.records import (
    Envelope,
    HeaderRecord,
    build_event,
    encode_line,
    normalize_fields,
)
from gait_runtime.supervisor.journal.scan import SessionState, state_bytes
from gait_runtime.supervisor.sessions.config import JournalIo

EVENT = EventFields(tool_name="tool.bench", verdict="allow", reason_codes=("bench",))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _load(
    manager: SessionManager, sessions: list[str], appenders: int, per: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def appender(sid: str, k: int) -> None:
        for i in range(per):
            fields = EventFields(
                f"tool.{k}", "allow", reason_codes=("bench",), trace_id=f"trace_{sid}_{k}_{i}"
            )
            t0 = time.perf_counter()
            await manager.append(sid, f"run_{sid}", fields)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for sid in sessions:
            for k in range(appenders):
                tg.start_soon(appender, sid, k)
    return time.perf_counter() - started, latencies


def _report(
    name: str,
    backend: str,
    elapsed: float,
    lat: list[float],
    st: dict[str, Any],
    cpu: tuple[float, float],
) -> dict[str, Any]:
    n = len(lat)
    return {
        "scenario": name,
        "backend": backend,
        "appends": n,
        "appends_per_s": round(n / elapsed),
        "p50_ms": round(statistics.median(lat) * 1e3, 3),
        "p90_ms": round(_pct(lat, 0.90) * 1e3, 3),
        "p99_ms": round(_pct(lat, 0.99) * 1e3, 3),
        "fsyncs_per_append": round(st["fsyncs"] / max(1, st["appends"]), 4),
        "journal_io": st["journal_io"],
        "ring_share": round(st["ring_writes"] / max(1, st["batches"]), 3),
        "mean_batch": round(st["appends"] / max(1, st["batches"]), 1),
        "max_batch": st["max_batch"],
        "cpu_us_per_append": round(cpu[0] / max(1, n) * 1e6, 1),
        "loop_cpu_us_per_append": round(cpu[1] / max(1, n) * 1e6, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def prefill(directory: Path, session_id: str, records: int) -> Path:
    """Write a valid journal of ``records`` events (plus header and exact state) directly."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{session_id}.journal.jsonl"
    run_id = f"run_{session_id}"
    now = time.time_ns()
    header = HeaderRecord(
        schema_id="gait.runpack.session_journal",
        schema_version="1.0.0",
        created_at=format_ns(now),
        producer_version="bench",
        session_id=session_id,
        run_id=run_id,
        started_at=format_ns(now),
    )
    fields = normalize_fields(EVENT)
    template = encode_line(
        Envelope("event", event=build_event(session_id, run_id, 999_999_999, fields, now, "bench"))
    )
    head, tail = template.split(b'"sequence":999999999', 1)
    size = 0
    with open(path, "wb") as fh:
        line = encode_line(Envelope("header", header=header))
        fh.write(line)
        size += len(line)
        chunk: list[bytes] = []
        for seq in range(1, records + 1):
            chunk.append(head + b'"sequence":' + str(seq).encode() + tail)
            if len(chunk) == 10_000:
                data = b"".join(chunk)
                fh.write(data)
                size += len(data)
                chunk.clear()
        data = b"".join(chunk)
        fh.write(data)
        size += len(data)
    state = SessionState(
        updated_at=format_ns(now),
        producer_version="bench",
        session_id=session_id,
        run_id=run_id,
        created_at=header.created_at,
        started_at=header.started_at,
        event_count=records,
        last_sequence=records,
        journal_size_bytes=size,
    )
    Path(str(path) + ".state.json").write_bytes(state_bytes(state))
    return path


async def scenario(
    name: str,
    backend: str,
    root: Path,
    sessions: int,
    appenders: int,
    per: int,
    prefilled: int,
    journal_io: JournalIo = "auto",
    lock_lease_s: float = 0.05,
) -> dict[str, Any]:
    directory = root / f"{name}_{backend}"
    shutil.rmtree(directory, ignore_errors=True)
    ids = [f"s{i:02d}" for i in range(sessions)]
    if prefilled:
        for sid in ids:
            prefill(directory, sid, prefilled)
    config = SessionConfig(
        session_dir=directory,
        fsync="always",
        idle_timeout_s=0,
        journal_io=journal_io,
        lock_lease_s=lock_lease_s,
    )
    async with SessionManager(config) as manager:
        t0 = time.perf_counter()
        for sid in ids:  # start (and, for pre-filled journals, fully validate) each session
            await manager.append(sid, f"run_{sid}", EVENT)
        start_s = time.perf_counter() - t0
        base = manager.stats()
        cpu0, loop0 = time.process_time(), time.thread_time()
        elapsed, lat = await _load(manager, ids, appenders, per)
        cpu = (time.process_time() - cpu0, time.thread_time() - loop0)
        st = manager.stats()
        counted = ("fsyncs", "appends", "batches", "ring_writes")
        st = {k: st[k] - base[k] if k in counted else st[k] for k in st}
    out = _report(name, backend, elapsed, lat, st, cpu)
    out["lock_lease_s"] = lock_lease_s
    if prefilled:
        out["journal_records_before"] = prefilled
        out["actor_start_s"] = round(start_s, 2)
    shutil.rmtree(directory, ignore_errors=True)
    return out


async def flat(
    backend: str,
    root: Path,
    appenders: int,
    per: int,
    big: int,
    rounds: int,
    journal_io: JournalIo = "auto",
) -> dict[str, Any]:
    """Latency at 1,000 vs ``big`` records, measured in alternating rounds in one process
    so that background load on a shared machine hits both sides alike."""
    directory = root / f"flat_{backend}"
    shutil.rmtree(directory, ignore_errors=True)
    prefill(directory, "small", 1_000)
    prefill(directory, "big", big)
    config = SessionConfig(
        session_dir=directory, fsync="always", idle_timeout_s=0, journal_io=journal_io
    )
    lat: dict[str, list[float]] = {"small": [], "big": []}
    starts: dict[str, float] = {}
    async with SessionManager(config) as manager:
        for sid in ("small", "big"):
            t0 = time.perf_counter()
            await manager.append(sid, f"run_{sid}", EVENT)
            starts[sid] = round(time.perf_counter() - t0, 2)
        for r in range(rounds):  # the order alternates too: neither side always goes first
            for sid in ("small", "big") if r % 2 == 0 else ("big", "small"):
                _, got = await _load(manager, [sid], appenders, per)
                lat[sid] += got
    # the price of validating the whole big journal on start (trust_state_on_start=False)
    config = SessionConfig(
        session_dir=directory, fsync="always", idle_timeout_s=0, trust_state_on_start=False
    )
    async with SessionManager(config) as manager:
        t0 = time.perf_counter()
        await manager.append("big", "run_big", EVENT)
        validate_s = round(time.perf_counter() - t0, 2)
    shutil.rmtree(directory, ignore_errors=True)
    out: dict[str, Any] = {"scenario": "flat", "backend": backend, "big_records": big}
    for sid, values in lat.items():
        out[f"{sid}_p50_ms"] = round(statistics.median(values) * 1e3, 3)
        out[f"{sid}_p99_ms"] = round(_pct(values, 0.99) * 1e3, 3)
        out[f"{sid}_actor_start_s"] = starts[sid]
    out["p50_ratio_big_over_small"] = round(out["big_p50_ms"] / out["small_p50_ms"], 3)
    out["big_full_validation_start_s"] = validate_s
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def ab(ns: argparse.Namespace) -> None:
    """Alternate child runs on this tree and on ``ns.ab``; print medians and ratios."""
    here = str(Path(__file__).resolve().parent.parent)
    trees = {"this": here, "other": str(Path(ns.ab).resolve())}
    argv = [sys.executable, str(Path(__file__).resolve()), "--backends", ns.backends]
    argv += ["--per-appender", str(ns.per_appender), "--only", ns.only or "one_session_64"]
    argv += ["--lock-lease", str(ns.lock_lease), "--journal-io", ns.journal_io]
    got: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in range(ns.ab_rounds):
        for side in ("this", "other") if r % 2 == 0 else ("other", "this"):
            env = {**os.environ, "PYTHONPATH": trees[side]}
            out = subprocess.run(
                argv, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True,
                check=True, timeout=600,
            )  # fmt: skip
            for line in out.stdout.splitlines():
                if not line.startswith("{"):
                    continue  # log lines
                row = json.loads(line)
                got.setdefault((row["scenario"], row["backend"], side), []).append(row)
    for scen, backend in sorted({(k[0], k[1]) for k in got}):
        summary: dict[str, Any] = {"ab": scen, "backend": backend, "rounds": ns.ab_rounds}
        for key in ("cpu_us_per_append", "loop_cpu_us_per_append", "p99_ms", "appends_per_s"):
            this = statistics.median(r[key] for r in got[(scen, backend, "this")])
            other = statistics.median(r[key] for r in got[(scen, backend, "other")])
            summary[key] = {"this": this, "other": other, "ratio": round(this / other, 3)}
        print(json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="", help="work directory (default: a temp dir)")
    parser.add_argument(
        "--backends",
        default="asyncio,trio",
        help="comma-separated: asyncio, trio, uvloop (asyncio on uvloop, as gait serve runs)",
    )
    parser.add_argument("--per-appender", type=int, default=300)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds for flat")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names to run (default: all)"
    )
    parser.add_argument(
        "--lock-lease",
        type=float,
        default=0.05,
        help="seconds a busy session keeps its Go lock (SessionConfig.lock_lease_s)",
    )
    parser.add_argument(
        "--journal-io",
        default="auto",
        choices=("auto", "uring", "thread"),
        help="how appends under a lock lease reach the journal (SessionConfig.journal_io)",
    )
    parser.add_argument("--ab", default="", help="compare with the library in this tree")
    parser.add_argument("--ab-rounds", type=int, default=6, help="alternating rounds for --ab")
    ns = parser.parse_args()
    if ns.ab:
        ab(ns)
        return
    only = set(filter(None, ns.only.split(",")))
    root = Path(ns.dir) if ns.dir else Path(tempfile.mkdtemp(prefix="gait-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    plans = [
        ("one_session_64", 1, 64, ns.per_appender),
        ("sixteen_sessions", 16, 4, ns.per_appender),
        ("sixteen_sessions_x8", 16, 8, max(1, ns.per_appender // 2)),
        ("sixteen_sessions_x16", 16, 16, max(1, ns.per_appender // 4)),
        ("sixteen_sessions_x64", 16, 64, max(1, ns.per_appender // 16)),
    ]
    for backend in ns.backends.split(","):
        real = "asyncio" if backend == "uvloop" else backend
        options: dict[str, Any] = {"use_uvloop": True} if backend == "uvloop" else {}
        for name, sessions, appenders, per in plans:
            if only and name not in only:
                continue
            result = anyio.run(
                scenario,
                name,
                backend,
                root,
                sessions,
                appenders,
                per,
                0,
                ns.journal_io,
                ns.lock_lease,
                backend=real,
                backend_options=options,
            )
            print(json.dumps(result), flush=True)
        if only and "flat" not in only:
            continue
        result = anyio.run(
            flat,
            backend,
            root,
            64,
            max(1, ns.per_appender // 3),
            ns.big,
            ns.rounds,
            ns.journal_io,
            backend=real,
            backend_options=options,
        )
        print(json.dumps(result), flush=True)
    if not ns.dir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
