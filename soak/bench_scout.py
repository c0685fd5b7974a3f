"""``gait scout signal`` over many generated runpacks: wall time, peak RSS, runs/s.

Run with ``.venv/bin/python soak/bench_scout.py [--runs 10000] [--families 40]``.
Generates ``--runs`` runpacks in a temporary directory (through the normal
recording pipeline, ``--families`` distinct incident shapes with 2–8 tool calls,
some failing results and receipts), then runs ``gait scout signal --runs <dir>
--json`` as a fresh process ``--repeat`` times and prints the median wall time,
runs/s and the peak RSS of the child (``ru_maxrss``). With ``--scaling`` it also
runs a tenth of the runs, so the RSS of 1/10 and all of the runs can be compared
(streaming: the difference is the small per-run index, not the runpacks).
Real time is measured on purpose: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gait_runtime.artifacts.jcs import sha256_hex
from gait_runtime.runpack import build_runpack, write_runpack

GAIT = Path(sys.executable).parent / "gait"
TOOLS = (
    "fs.read_file",
    "fs.write_file",
    "fs.delete_file",
    "http.fetch",
    "db.query",
    "tool.search",
    "tool.summarize",
    "queue.send",
    "payments.refund",
    "shell.exec",
)
STATUSES = ("ok", "ok", "ok", "error", "timeout", "blocked")


def _shape(rng: random.Random) -> dict[str, Any]:
    """One incident shape: a tool sequence, result statuses and receipt sources."""
    length = rng.randint(2, 8)
    return {
        "tools": [rng.choice(TOOLS) for _ in range(length)],
        "statuses": [rng.choice(STATUSES) for _ in range(length)],
        "sources": [f"src-{rng.randint(0, 5)}" for _ in range(rng.randint(0, 3))],
    }


def generate(directory: Path, runs: int, families: int, seed: int) -> None:
    """Write ``runs`` runpacks drawn from ``families`` shapes into ``directory``."""
    rng = random.Random(seed)
    shapes = [_shape(rng) for _ in range(families)]
    for number in range(runs):
        shape = shapes[rng.randrange(families)]
        run_id = f"run_bench_{number:06d}"
        created = "2026-03-01T09:30:00Z"
        run = {"run_id": run_id, "created_at": created, "env": {"os": "linux", "arch": "amd64"}}
        intents = [
            {"intent_id": f"i{k}", "tool_name": tool, "args": {"n": number, "k": k}}
            for k, tool in enumerate(shape["tools"])
        ]
        results = [
            {"intent_id": f"i{k}", "status": status, "result": {"k": k}}
            for k, status in enumerate(shape["statuses"])
        ]
        receipts = [
            {
                "ref_id": f"ref_{k}",
                "source_type": "http",
                "source_locator": source,
                "query_digest": sha256_hex(f"q{k}".encode()),
                "content_digest": sha256_hex(source.encode()),
                "retrieved_at": created,
                "redaction_mode": "reference",
            }
            for k, source in enumerate(shape["sources"])
        ]
        pack = build_runpack(
            run, intents, results, {"receipts": receipts}, producer_version="bench"
        )
        write_runpack(directory / f"runpack_{run_id}.zip", pack)


def measure(directory: Path, out: Path, *, as_json: bool) -> tuple[float, float, dict[str, Any]]:
    """(wall s, peak RSS MiB of that process, counts) of one ``gait scout signal``.

    Text mode is the engine alone; ``--json`` also builds the whole report (every
    fingerprint) in memory to print it on stdout, which grows with the run count.
    """
    argv = [str(GAIT), "scout", "signal", "--runs", str(directory), "--out", str(out)]
    argv += ["--json"] if as_json else []
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"gait scout signal exited {proc.returncode}")
        stdout.seek(0)
        raw = stdout.read()
    if as_json:
        doc = json.loads(raw)
        doc.pop("report")
    else:
        first = raw.decode().splitlines()[0]  # scout signal ok: runs=N families=M ...
        doc = dict(item.split("=") for item in first.split()[3:])
    return wall, usage.ru_maxrss / 1024, doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--families", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scaling", action="store_true", help="also run a tenth of the runs")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gait-bench-scout-") as tmp:
        root = Path(tmp)
        sizes = [ns.runs // 10, ns.runs] if ns.scaling else [ns.runs]
        for size in sizes:
            packs = root / f"runs-{size}"
            packs.mkdir()
            started = time.perf_counter()
            generate(packs, size, ns.families, ns.seed)
            gen_s = time.perf_counter() - started
            for as_json in (False, True):
                walls, rss = [], []
                summary: dict[str, Any] = {}
                for _ in range(ns.repeat):
                    wall, peak, summary = measure(packs, root / "report.json", as_json=as_json)
                    walls.append(wall)
                    rss.append(peak)
                median = statistics.median(walls)
                families = summary.get("family_count", summary.get("families"))
                print(
                    f"runs={size} mode={'json' if as_json else 'text'} families={families} "
                    f"generate={gen_s:.1f}s wall_median={median:.2f}s "
                    f"runs_per_s={size / median:.0f} peak_rss_max={max(rss):.0f}MiB "
                    f"walls={[round(w, 2) for w in walls]}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
