"""Checkpointing a long journal: wall time, peak RSS, runpack sizes (issue 13.6).

Run with ``.venv/bin/python soak/bench_checkpoint.py [--events 200000]``. It writes a
journal of N events in a temp dir (batches of 1,000 through the real store), then runs
``gait run session checkpoint`` on it as a fresh process and reports that process's wall
time and peak RSS (``wait4`` rusage), the number and largest ``run.json`` of the
checkpoint runpacks (all bounded far below the reader's 100 MiB entry limit), and checks
that every runpack and the chain verify. Real time on purpose: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from gait_runtime.clock import FakeClock
from gait_runtime.runpack import verify_runpack
from gait_runtime.supervisor.journal.records import EventFields
from gait_runtime.supervisor.journal.store import JournalStore, StoreOptions


def _journal(path: Path, events: int) -> None:
    store = JournalStore(path, StoreOptions(clock=FakeClock(step_ns=1000)))
    store.open("bench", "run_bench", create=True)
    fields = EventFields("tool.read", "allow", intent_digest="a" * 64, policy_digest="b" * 64)
    for start in range(0, events, 1000):
        end = min(start + 1000, events)
        store.append([(fields, 1_790_000_000_000_000_000 + i * 1000) for i in range(start, end)])
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        journal = root / "bench.journal.jsonl"
        started = time.perf_counter()
        _journal(journal, args.events)
        built_s = time.perf_counter() - started
        argv = [sys.executable, "-m", "gait_runtime", "run", "session", "checkpoint",
                "--journal", str(journal), "--out", str(root / "cp.zip"), "--json"]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        out = process.stdout.read() if process.stdout else b""
        assert os.waitstatus_to_exitcode(status) == 0, (
            process.stderr.read() if process.stderr else ""
        )
        payload = json.loads(out)
        packs = [
            Path(c["runpack_path"]) for c in payload.get("checkpoints", [payload["checkpoint"]])
        ]
        largest = 0
        for pack in packs:
            assert verify_runpack(pack).ok, pack
            with zipfile.ZipFile(pack) as z:
                largest = max(largest, z.getinfo("run.json").file_size)
        chain = subprocess.run(
            [
                sys.executable,
                "-m",
                "gait_runtime",
                "verify",
                "session-chain",
                "--chain",
                str(root / "bench.journal_chain.json"),
                "--json",
            ],
            capture_output=True,
            check=False,
            cwd=root,
        )
        report = {
            "events": args.events,
            "journal_bytes": journal.stat().st_size,
            "journal_build_s": round(built_s, 2),
            "checkpoint_wall_s": round(wall_s, 2),
            "checkpoint_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "checkpoint_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "runpacks": len(packs),
            "largest_run_json_mib": round(largest / 2**20, 2),
            "chain_verifies": chain.returncode == 0,
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
