"""CPU per decision of the in-process decision path, by variant, measured alternately.

Drives the project's own :class:`DecisionService` (no HTTP, no journal; the trace
bytes go to a writer that keeps them in memory — durable writes are measured by
the trace-log benchmarks) with the benchmark policy of ``gait bench gate`` and a
typical MCP call. Each round runs every variant once, in the same process, in
alternating order, and measures process CPU time (``time.process_time``, so the
span export thread's work counts too) per decision:

- ``base``: logging at ``info`` (the per-decision ``decision`` line, JSON to
  /dev/null), tracing off;
- ``quiet``: logging at ``warning`` (the decision line filtered out);
- ``otel``: as ``base`` plus the OpenTelemetry SDK (batch processor, OTLP/HTTP to
  a local receiver in a subprocess), flushed at the end of the round so the
  export thread's CPU of that round's spans is inside the round.

It prints one JSON line per round and a summary: medians per variant, the
``otel`` and ``quiet`` costs over ``base`` and the ratio ``base / otel`` (the
decisions/s ratio tracing on/off when the process is CPU-bound). ``--profile``
prints a cProfile split of ``base`` instead.

Usage::

    .venv/bin/python soak/bench_decide.py --rounds 8 --decisions 2000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_otel import _receiver_main  # sibling script, not a package

BODY = json.dumps(
    {
        "adapter": "mcp",
        "run_id": "bench",
        "call": {
            "name": "fs.write_file",
            "args": {"path": "/srv/app/config.yaml", "mode": "overwrite", "retries": 3},
            "targets": [{"kind": "path", "value": "/srv/app/config.yaml", "operation": "write"}],
            "arg_provenance": [{"arg_path": "$.path", "source": "user"}],
            "context": {
                "identity": "deploy-bot",
                "workspace": "/work/app",
                "risk_class": "high",
                "session_id": "sess-42",
            },
        },
    }
).encode()


class _MemoryTraces:
    """Stands in for the durable trace writer: keeps the last bytes only."""

    last = b""

    async def write(self, path: Path, data: bytes) -> None:
        self.last = data


def _service(root: Path) -> Any:
    from gait_runtime.artifacts.keys import ResolvedSigningKey
    from gait_runtime.artifacts.signing import SigningKey
    from gait_runtime.commands.bench import BENCH_POLICY, bench_policy
    from gait_runtime.supervisor.service.config import ServiceConfig
    from gait_runtime.supervisor.service.decisions import DecisionService

    policy_path = root / "policy.yaml"
    policy_path.write_text(BENCH_POLICY)
    policy = bench_policy()
    return DecisionService(
        ServiceConfig(policy_path=policy_path, trace_dir=root / "traces"),
        policy=lambda: policy,
        signing=ResolvedSigningKey(SigningKey(bytes(range(32))), "prod"),
        trace_writer=_MemoryTraces(),  # type: ignore[arg-type]
        journal=None,
    )


def _configure(level: str) -> None:
    from gait_runtime.telemetry import configure_logging

    configure_logging(level=level, fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115


async def _round(service_for: Any, n: int) -> float:
    service = service_for()
    for _ in range(50):
        await service.decide(BODY)
    started = time.process_time()
    for _ in range(n):
        reply = await service.decide(BODY)
    elapsed = time.process_time() - started
    assert reply.status == 200 and reply.verdict == "require_approval"
    return elapsed / n * 1e6


def main(argv: list[str] | None = None) -> int:
    """Alternate the variants for ``--rounds`` rounds; print JSON lines and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="cProfile split of base")
    args = parser.parse_args(argv)
    from gait_runtime.telemetry import setup_tracing

    root = Path(tempfile.mkdtemp(prefix="gait-bench-decide-"))

    def service_for() -> Any:
        return _service(root)

    if args.profile:
        _configure("info")
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(_round(service_for, args.decisions))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return 0

    port = multiprocessing.Value("i", 0)
    decisions = multiprocessing.Value("l", 0)
    spans = multiprocessing.Value("l", 0)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(
        target=_receiver_main, args=(port, decisions, spans, ready), daemon=True
    )
    receiver.start()
    try:
        if not ready.wait(30):
            raise SystemExit("OTLP receiver did not start")
        endpoint = f"http://127.0.0.1:{port.value}"
        rows: list[dict[str, float]] = []
        for r in range(args.rounds):
            row: dict[str, float] = {}
            order = ["base", "quiet", "otel"] if r % 2 == 0 else ["otel", "quiet", "base"]
            for variant in order:
                _configure("warning" if variant == "quiet" else "info")
                if variant != "otel":
                    row[variant] = asyncio.run(_round(service_for, args.decisions))
                    continue
                handle = setup_tracing(
                    exporter="otlp",
                    endpoint=endpoint,
                    service_version="bench",
                    install_global=False,
                )
                try:
                    per = asyncio.run(_round(service_for, args.decisions))
                    before_flush = time.process_time()
                    handle.force_flush(60)
                    flush_us = (time.process_time() - before_flush) / args.decisions * 1e6
                    row["otel"] = per + flush_us
                    row["otel_flush_at_end"] = flush_us
                finally:
                    handle.shutdown(10)
            row = {k: round(v, 1) for k, v in row.items()}
            print(json.dumps({"round": r, **row}), flush=True)
            rows.append(row)
        med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        summary = {
            "cpu_us_per_decision": {k: round(v, 1) for k, v in med.items()},
            "otel_cost_us": round(med["otel"] - med["base"], 1),
            "log_line_cost_us": round(med["base"] - med["quiet"], 1),
            "ratio_otel_on_off": round(med["base"] / med["otel"], 3),
            "ratio_per_round": [round(row["base"] / row["otel"], 3) for row in rows],
            "decision_spans_received": int(decisions.value),
        }
        print(json.dumps(summary, indent=2))
    finally:
        receiver.kill()
        receiver.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
