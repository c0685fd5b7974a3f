"""CPU per decision of the trace step: one durable file per decision vs the group-committed log.

In-process, real files, real fsync. Each round makes ``--decisions`` traces durable from
``--clients`` concurrent tasks (the group-commit batch is about that size), first through
the trace-file writer (temp file, write, fsync, link, directory fsync per batch) and then
through the server trace log (one write + one fdatasync per batch), alternating, in fresh
directories; the driver alone (the same tasks, no write) is measured too, to be
subtracted. The trace-file exporter's later cost (writing the same files from the log,
off the reply path) is measured too, in the same round. CPU is the whole process's
user+system time (worker threads included) divided by the decisions.

    .venv/bin/python soak/bench_tracelog.py [--rounds 4] [--decisions 2000] [--clients 32]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.lowlevel

from gait_runtime.artifacts.tracelog import LOG_DIR_NAME, export_step
from gait_runtime.supervisor.service.trace_log import TraceLog
from gait_runtime.supervisor.service.trace_writer import TraceWriter

SAMPLE = next(
    (Path(__file__).resolve().parent.parent / "tests" / "vectors" / "service" / "traces").rglob(
        "*.json"
    )
).read_bytes()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(
    write: Callable[[Path, bytes], Awaitable[None]], trace_dir: Path, n: int, clients: int
) -> None:
    async def client(index: int) -> None:
        for i in range(index, n, clients):
            await write(trace_dir / f"trace_run_bench_{i:08d}.json", SAMPLE)

    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(client, index)


async def _files(root: Path, n: int, clients: int) -> float:
    writer = TraceWriter(batch_limit=256)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        start = _cpu()
        await _drive(writer.write, root / "traces", n, clients)
        cpu = _cpu() - start
        writer.close()
    return cpu / n


async def _null(root: Path, n: int, clients: int) -> float:
    """The driver alone (tasks, one checkpoint per decision): subtract it from both."""

    async def nothing(path: Path, data: bytes) -> None:
        await anyio.lowlevel.checkpoint()

    start = _cpu()
    await _drive(nothing, root / "traces", n, clients)
    return (_cpu() - start) / n


async def _log(root: Path, n: int, clients: int) -> tuple[float, float]:
    trace_dir = root / "traces"
    log = TraceLog(trace_dir / LOG_DIR_NAME, batch_limit=256)
    writer = TraceWriter(batch_limit=256, log=log, log_trace_dir=trace_dir)
    async with anyio.create_task_group() as tg:
        await tg.start(log.run)
        await tg.start(writer.run)
        start = _cpu()
        await _drive(writer.write, trace_dir, n, clients)
        cpu = _cpu() - start
        writer.close()
        log.close()
    start = _cpu()
    while export_step(trace_dir / LOG_DIR_NAME, trace_dir).more:
        pass
    export_cpu = _cpu() - start
    assert len(list(trace_dir.glob("trace_*.json"))) == n
    return cpu / n, export_cpu / n


async def main(rounds: int, n: int, clients: int, base: Path | None) -> dict[str, object]:
    files_us: list[float] = []
    log_us: list[float] = []
    export_us: list[float] = []
    null_us: list[float] = []
    for r in range(rounds):
        null_us.append(await _null(Path(tempfile.gettempdir()), n, clients) * 1e6)
        for kind in ("files", "log") if r % 2 == 0 else ("log", "files"):
            root = Path(tempfile.mkdtemp(prefix=f"bench-tracelog-{kind}-", dir=base))
            try:
                if kind == "files":
                    files_us.append(await _files(root, n, clients) * 1e6)
                else:
                    on_path, export = await _log(root, n, clients)
                    log_us.append(on_path * 1e6)
                    export_us.append(export * 1e6)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return {
        "decisions_per_round": n,
        "clients": clients,
        "trace_bytes": len(SAMPLE),
        "files_cpu_us": [round(x, 1) for x in files_us],
        "log_cpu_us": [round(x, 1) for x in log_us],
        "export_cpu_us": [round(x, 1) for x in export_us],
        "driver_only_cpu_us": [round(x, 1) for x in null_us],
        "median_driver_only_cpu_us": round(statistics.median(null_us), 1),
        "median_files_cpu_us": round(statistics.median(files_us), 1),
        "median_log_cpu_us": round(statistics.median(log_us), 1),
        "median_export_cpu_us": round(statistics.median(export_us), 1),
        "ratio_files_to_log": round(statistics.median(files_us) / statistics.median(log_us), 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=None, help="where to make the directories")
    ns = parser.parse_args()
    report = anyio.run(main, ns.rounds, ns.decisions, ns.clients, ns.dir)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
