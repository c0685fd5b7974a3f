"""What this machine allows: the irreducible cost of each part a decision or an append needs.

The performance targets of the supervisor, sessions and observability work are
absolute (decisions/s, appends/s) or relative (OTEL on/off). This script measures,
in one run, the cost of the parts none of our code can avoid, each in isolation:

* ``http``: the HTTP server alone. A do-nothing ASGI app (answers a fixed JSON
  body) served by hypercorn on uvloop, exactly as ``gait serve`` configures it,
  driven by ``soak/bench_serve.py``'s raw load generator at ``--concurrency``
  keep-alive clients: requests/s, server CPU per request, load-generator CPU per
  request.
* ``gate_call``: decode + normalise + digest + evaluate + build and Ed25519-sign
  the trace (``gait bench gate``'s full call), CPU per call.
* ``trace_file``: one durable trace file the way the decision path writes it
  (temp file, write, ``fsync``, rename; ``supervisor/trace_writer.py``), CPU
  per file split into user and kernel time.
* ``journal_fsync``: append one journal line and ``fsync`` it, CPU per fsync.
* ``thread_hop``: one round trip event loop -> session I/O thread -> event loop
  (``supervisor/iothread.py``) with 16 actors hopping at once, process CPU per hop.
* ``otel_spans``: one decision span with its two child spans and the decision
  event through the OpenTelemetry SDK (batch processor, spans queued, not
  exported), CPU per decision; ``otel_encode``: the SDK's OTLP protobuf
  encoding of those three spans (what its exporter thread does), CPU per decision.

It then adds the parts up into floors for the targets: decisions/s one
server process can reach at best, appends/s with 4 appenders per session, and
the best OTEL on/off ratio. Prints one JSON object; ``--out`` writes it too.

Usage::

    .venv/bin/python soak/bench_floor.py --out docs/perf/floor.json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import _client_process, _cpu_seconds  # sibling script, not a package

_HELLO = b'{"ok":true,"verdict":"allow","executed":true}'


def _hello_server(port_file: str) -> None:
    """Serve the do-nothing ASGI app with hypercorn (uvloop) until killed."""
    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_HELLO)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _HELLO})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.include_server_header = False
    Path(port_file).write_text(str(sock.getsockname()[1]))
    uvloop.run(serve(app, config))  # type: ignore[arg-type]  # hypercorn's ASGI typing


def http_floor(concurrency: int, requests: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--hello-server", str(port_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("hello server did not start")
                time.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}"
            _client_process((url, "none", 10_000, 8, 500, time.monotonic() + 10, "raw"))
            cpu0, client0, t0 = _cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
            result = _client_process(
                (url, "none", 0, concurrency, requests, time.monotonic() + 30, "raw")
            )
            elapsed = time.perf_counter() - t0
            server_cpu = _cpu_seconds(proc.pid) - cpu0
            client_cpu = time.process_time() - client0
        finally:
            proc.kill()
            proc.wait()
    n = len(result.latencies)
    return {
        "requests_per_s": round(n / elapsed),
        "server_cpu_us_per_request": round(server_cpu / n * 1e6, 1),
        "client_cpu_us_per_request": round(client_cpu / n * 1e6, 1),
        "concurrency": concurrency,
    }


def _cpu_per_call(fn: Callable[[], object], n: int) -> dict[str, float]:
    fn()
    t0 = os.times()
    for _ in range(n):
        fn()
    t1 = os.times()
    return {
        "user_us": round((t1.user - t0.user) / n * 1e6, 1),
        "sys_us": round((t1.system - t0.system) / n * 1e6, 1),
        "cpu_us": round((t1.user + t1.system - t0.user - t0.system) / n * 1e6, 1),
    }


def gate_call(n: int) -> dict[str, float]:
    from gait_runtime.commands import bench

    run = bench.run_gate_bench(iterations=n)
    return {"median_us": float(run["full_call"]["median_us"])}


def trace_file(directory: Path, n: int) -> dict[str, float]:
    from gait_runtime.supervisor.service.trace_writer import _Job, _write_one

    data = b"x" * 1400  # a signed trace is about this size

    def one() -> None:
        job = _Job(directory / f"trace_{secrets.token_hex(8)}.json", data)
        _write_one(job)
        if job.error:
            raise SystemExit(job.error)

    return _cpu_per_call(one, n)


def journal_fsync(directory: Path, n: int) -> dict[str, float]:
    fd = os.open(directory / "j.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    line = b"y" * 400 + b"\n"

    def one() -> None:
        os.write(fd, line)
        os.fsync(fd)

    try:
        return _cpu_per_call(one, n)
    finally:
        os.close(fd)


def thread_hop(backend: str, actors: int, hops: int) -> dict[str, float]:
    from gait_runtime.supervisor._journal_io.iothread import IoThread

    def noop() -> None:
        return None

    async def main() -> float:
        threads = [IoThread(f"hop-{i}") for i in range(actors)]
        for t in threads:
            t.start()

        async def actor(t: IoThread) -> None:
            for _ in range(hops):
                await t.run(noop)

        cpu0 = time.process_time()
        async with anyio.create_task_group() as tg:
            for t in threads:
                tg.start_soon(actor, t)
        cpu = time.process_time() - cpu0
        for t in threads:
            t.stop()
        return cpu

    cpu = anyio.run(main, backend=backend)
    return {"cpu_us_per_hop": round(cpu / (actors * hops) * 1e6, 1), "actors": actors}


def session_loop_work(directory: Path, backend: str, per: int) -> dict[str, float]:
    """16 sessions x 4 appenders with no thread hop and no fsync: the event loop's own share."""
    from bench_sessions import EVENT, _load

    from gait_runtime.supervisor import SessionConfig, SessionManager

    async def main() -> tuple[float, int]:
        config = SessionConfig(
            session_dir=directory / backend, fsync="never", idle_timeout_s=0, offload_io=False
        )
        ids = [f"s{i:02d}" for i in range(16)]
        async with SessionManager(config) as manager:
            for sid in ids:
                await manager.append(sid, f"run_{sid}", EVENT)
            cpu0 = time.process_time()
            _, latencies = await _load(manager, ids, 4, per)
            return time.process_time() - cpu0, len(latencies)

    cpu, n = anyio.run(main, backend=backend)
    return {"cpu_us_per_append": round(cpu / n * 1e6, 1)}


def otel_costs(n: int) -> dict[str, float]:
    from bench_otel import decision_spans
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from gait_runtime.telemetry import setup_tracing

    decision = decision_spans()
    off = _cpu_per_call(decision, n)["cpu_us"]
    memory = InMemorySpanExporter()
    handle = setup_tracing(
        span_exporter=memory,
        service_version="bench",
        install_global=False,
        max_queue_size=4 * n + 16,
        max_export_batch_size=512,
        schedule_delay_ms=600_000,
    )
    try:
        on = _cpu_per_call(decision, n)["cpu_us"]
        handle.force_flush(60)
        spans = memory.get_finished_spans()
        batches = [spans[i : i + 512] for i in range(0, len(spans), 512)]
        t0 = os.times()
        for batch in batches:
            encode_spans(batch).SerializeToString()
        t1 = os.times()
        decisions = len(spans) / 3
    finally:
        handle.shutdown()
    encode = (t1.user + t1.system - t0.user - t0.system) / decisions * 1e6
    return {
        "span_path_off_us": off,
        "span_path_on_us": on,
        "span_path_added_us": round(on - off, 1),
        "otlp_encode_us_per_decision": round(encode, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=12_000)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--dir", default="", help="where files are written (default: temp dir)")
    parser.add_argument("--out", default="", help="also write the JSON here")
    parser.add_argument("--hello-server", default="", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.hello_server:
        _hello_server(ns.hello_server)
        return 0
    n = ns.iterations
    out: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    print("http ...", file=sys.stderr, flush=True)
    out["http"] = http_floor(ns.concurrency, ns.requests)
    print("gate, files, threads, otel ...", file=sys.stderr, flush=True)
    out["gate_call"] = gate_call(n)
    with tempfile.TemporaryDirectory(dir=ns.dir or None, prefix="gait-floor-") as tmp:
        out["trace_file"] = trace_file(Path(tmp), n)
        out["journal_fsync"] = journal_fsync(Path(tmp), n)
        out["session_loop_work"] = {
            b: session_loop_work(Path(tmp), b, max(50, n // 10)) for b in ("asyncio", "trio")
        }
    out["thread_hop"] = {b: thread_hop(b, 16, max(100, n // 10)) for b in ("asyncio", "trio")}
    out["otel"] = otel_costs(n)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    http, gate, trace = out["http"], out["gate_call"], out["trace_file"]
    # Per decision without a session: the HTTP exchange, the gate call, one durable trace file.
    server_us = http["server_cpu_us_per_request"] + gate["median_us"] + trace["cpu_us"]
    # The part that needs the GIL (the trace file's kernel time can overlap on the other core).
    gil_us = http["server_cpu_us_per_request"] + gate["median_us"] + trace["user_us"]
    client_us = http["client_cpu_us_per_request"]
    hop = out["thread_hop"]["asyncio"]["cpu_us_per_hop"]
    fsync = out["journal_fsync"]["cpu_us"]
    loop = out["session_loop_work"]["asyncio"]["cpu_us_per_append"]
    otel = out["otel"]["span_path_added_us"] + out["otel"]["otlp_encode_us_per_decision"]
    out["floors"] = {
        "decision_server_cpu_us": round(server_us, 1),
        "decision_gil_us": round(gil_us, 1),
        "decisions_per_s_gil_bound": round(1e6 / gil_us),
        "decisions_per_s_two_cores_incl_client": round(2e6 / (server_us + client_us)),
        "append_cpu_us_4_per_batch": round(loop + (hop + fsync) / 4, 1),
        "appends_per_s_4_per_batch_two_cores": round(2e6 / (loop + (hop + fsync) / 4)),
        "otel_cpu_us_per_decision": round(otel, 1),
        "otel_on_off_bound_at_gil_floor": round(gil_us / (gil_us + otel), 3),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if ns.out:
        Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
        Path(ns.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
