"""CPU per decision through the supervisor's own ASGI app, without an HTTP server.

Starts a real :class:`~gait_runtime.supervisor.runtime.Supervisor` (asyncio on uvloop,
dev key, ``--fsync always``, the server trace log, no trace-file exporter unless
``--trace-files export``) and drives its ASGI app directly from 32 concurrent tasks:
the same request bodies as ``soak/bench_serve.py`` (one-target ``tool.read``, every
tenth a blocked ``tool.delete``), every answer checked to be 200. Each round runs every
mode once, alternating, and measures process CPU time per decision (worker threads
included): what the decision path costs on top of the HTTP server (whose share
``soak/bench_http_front.py`` measures). ``--profile`` writes a cProfile of one more
pass of the first mode.

Usage::

    .venv/bin/python soak/bench_app.py --rounds 3 --decisions 6000
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import POLICY, _body

from gait_runtime.supervisor.runtime import Supervisor
from gait_runtime.supervisor.service.config import ListenAddress, ServiceConfig
from gait_runtime.telemetry.logging import configure_logging

CLIENTS = 32
Message = dict[str, Any]


def _scope(body: bytes, client: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/evaluate",
        "raw_path": b"/v1/evaluate",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000 + client),
        "server": ("127.0.0.1", 8080),
    }


async def _call(app: Callable[..., Awaitable[None]], body: bytes, client: int) -> int:
    delivered = False
    status = 0

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(_scope(body, client), receive, send)
    return status


async def _round(
    mode: str, decisions: int, trace_files: str, profile: Path | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "policy.yaml").write_text(POLICY)
        config = ServiceConfig(
            policy_path=root / "policy.yaml",
            listen=ListenAddress("127.0.0.1", 0),
            trace_dir=root / "traces",
            session_dir=root / "sessions",
            key_mode="dev",
            fsync="always",
            policy_poll_s=0.0,
            trace_files=trace_files,  # type: ignore[arg-type]
        )
        supervisor = Supervisor(config, handle_signals=False)
        errors = 0
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            app = supervisor._app  # the ASGI app the HTTP server would call
            assert app is not None

            async def client(index: int, count: int) -> None:
                nonlocal errors
                for n in range(count):
                    if await _call(app, _body(mode, index, n), index) != 200:
                        errors += 1

            async with anyio.create_task_group() as warm:
                for index in range(CLIENTS):
                    warm.start_soon(client, index, 10)
            gc.collect()
            per_client = max(1, decisions // CLIENTS)
            profiler = cProfile.Profile() if profile is not None else None
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            async with anyio.create_task_group() as load:
                for index in range(CLIENTS):
                    load.start_soon(client, 1000 + index, per_client)
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            supervisor.request_shutdown()
        if profiler is not None and profile is not None:
            profiler.dump_stats(profile)
        total = per_client * CLIENTS
        return {
            "mode": mode,
            "trace_files": trace_files,
            "decisions": total,
            "errors": errors,
            "cpu_us_per_decision": round(cpu / total * 1e6, 1),
            "decisions_per_s": round(total / wall),
        }


def main(argv: list[str] | None = None) -> int:
    """Run the rounds; print one JSON line per round and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of all modes")
    parser.add_argument("--decisions", type=int, default=6000, help="decisions per mode and round")
    parser.add_argument("--modes", default="none,shared,sessions16", help="comma-separated modes")
    parser.add_argument("--trace-files", choices=("off", "export"), default="off")
    parser.add_argument("--profile", default="", help="write a cProfile of the first mode here")
    ns = parser.parse_args(argv)
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    modes = [m for m in ns.modes.split(",") if m]
    figures: dict[str, list[float]] = {m: [] for m in modes}
    for rnd in range(ns.rounds):
        order = modes if rnd % 2 == 0 else modes[::-1]
        for mode in order:
            result = anyio.run(
                _round,
                mode,
                ns.decisions,
                ns.trace_files,
                None,
                backend="asyncio",
                backend_options={"use_uvloop": True},
            )
            figures[mode].append(result["cpu_us_per_decision"])
            print(json.dumps({**result, "round": rnd + 1}), flush=True)
    for mode in modes:
        print(f"{mode}: median {statistics.median(figures[mode]):.1f} µs CPU per decision")
    if ns.profile:
        anyio.run(
            _round,
            modes[0],
            ns.decisions,
            ns.trace_files,
            Path(ns.profile),
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
        print(f"profile written to {ns.profile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
