"""Decision throughput of ``gait serve`` with OpenTelemetry spans off and on, in one run.

It starts a local OTLP/HTTP receiver in a subprocess (127.0.0.1, decodes every
``ExportTraceServiceRequest`` with opentelemetry-proto and counts the spans),
then runs one uncounted ``off`` round (the first round of a run is reliably the
fastest) and counted rounds in ABBA order ``off, on, on, off, ...`` to cancel drift.
Every round starts a fresh ``gait serve`` (``soak/bench_serve.py``'s
``run_mode``: dev keys, ``--fsync always``, warm-up, bounded request count and
time) and drives it with the same load; the ``on`` rounds add
``--otel otlp --otel-endpoint <receiver>``. It reports decisions/s, p50/p99
and server CPU per decision for each round, the receiver's CPU per decision
(it shares the machine's CPUs with the server), the medians per setting, the
on/off throughput ratio of the medians and of each off/on pair (target >= 0.9)
and the spans the receiver got.

A second, in-process measurement gives the cost of one decision span with its
two child spans and the decision event, with the SDK installed (batch
processor + OTLP exporter to the same receiver) and with tracing off.

Usage::

    .venv/bin/python soak/bench_otel.py --rounds 8 --requests 3000 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.synchronize
import os
import statistics
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import _cpu_seconds, run_mode  # sibling script, not a package

DECISION_SPAN = "gait.gate.decision"


def _receiver_main(
    port: Synchronized,  # type: ignore[type-arg]  # multiprocessing.Value is untyped
    decisions: Synchronized,  # type: ignore[type-arg]
    spans: Synchronized,  # type: ignore[type-arg]
    ready: multiprocessing.synchronize.Event,
) -> None:
    """Serve OTLP/HTTP traces on 127.0.0.1 until killed; count decision spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    reply = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            total = found = 0
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        total += 1
                        found += span.name == DECISION_SPAN
            with decisions.get_lock():
                decisions.value += found
            with spans.get_lock():
                spans.value += total
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.value = int(server.server_address[1])
    ready.set()
    server.serve_forever(poll_interval=0.1)


def decision_spans() -> Callable[[], None]:
    """One decision's span work as the server does it: decision span, 2 children, event."""
    from gait_runtime.telemetry import DecisionAttributes, decision_span

    attrs = DecisionAttributes(
        run_id="run_bench",
        session_id="sess-bench",
        trace_path="traces/trace_run_bench_20260101T000000.000000000.json",
        verdict="allow",
        reason_codes=("safe_read_allowed",),
        policy_digest="d" * 64,
        intent_digest="e" * 64,
        decision_latency_ms=1,
        tool_name="tool.read",
        trace_id="0" * 24,
        event_id="evt_bench",
        created_at="",
        surface="mcp_serve",
    )
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    def decision() -> None:
        with decision_span("", traceparent=traceparent, surface="mcp_serve") as span:
            with span.trace_sign():
                pass
            with span.journal_append():
                pass
            span.record(attrs)

    return decision


def span_overhead(endpoint: str, iterations: int) -> dict[str, float]:
    """Microseconds per decision for its spans (decision span, 2 children, event).

    ``span_us_off``: tracing off (no-op API spans). ``span_us_on``: the request-path
    cost with the SDK installed (spans created, ended and queued; the export
    thread idle during the loop). ``export_us``: the export thread's time per
    decision, measured as one flush of everything queued (encode + POST to the
    receiver), divided by the decisions.
    """
    from gait_runtime.telemetry import setup_tracing

    decision = decision_spans()

    def loop() -> float:
        started = time.perf_counter()
        for _ in range(iterations):
            decision()
        return (time.perf_counter() - started) / iterations * 1e6

    off = min(loop() for _ in range(3))
    handle = setup_tracing(
        exporter="otlp",
        endpoint=endpoint,
        service_version="bench",
        install_global=False,
        max_queue_size=4 * iterations,
        max_export_batch_size=512,
        schedule_delay_ms=600_000,
    )
    try:
        on = []
        flush = []
        for _ in range(3):
            on.append(loop())
            started = time.perf_counter()
            handle.force_flush(60)
            flush.append((time.perf_counter() - started) / iterations * 1e6)
        stats = handle.stats()
    finally:
        handle.shutdown()
    return {
        "span_us_off": round(off, 1),
        "span_us_on": round(min(on), 1),
        "span_request_path_overhead_us": round(min(on) - off, 1),
        "export_us": round(min(flush), 1),
        "spans_exported": float(stats["spans_exported"]),
        "spans_dropped": float(stats["spans_dropped"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run alternating off/on rounds and print one JSON line per round plus a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=8, help="counted rounds, in ABBA order")
    parser.add_argument("--discard", type=int, default=1, help="uncounted off rounds first")
    parser.add_argument("--requests", type=int, default=4000, help="decisions per round")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap per round")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--mode", default="shared", help="bench_serve mode (none|shared|...)")
    parser.add_argument("--client", default="raw", choices=("httpx", "raw"))
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument("--span-iterations", type=int, default=5000)
    parser.add_argument("--out", default="", help="write all figures as JSON here")
    ns = parser.parse_args(argv)

    ctx = multiprocessing.get_context("spawn")
    port = ctx.Value("i", 0)
    decisions = ctx.Value("q", 0)
    spans = ctx.Value("q", 0)
    ready = ctx.Event()
    receiver = ctx.Process(target=_receiver_main, args=(port, decisions, spans, ready), daemon=True)
    receiver.start()
    rounds: list[dict[str, Any]] = []
    try:
        if not ready.wait(30):
            raise SystemExit("OTLP receiver did not start")
        endpoint = f"http://127.0.0.1:{port.value}"
        load = os.getloadavg()
        for index in range(-ns.discard, ns.rounds):
            # ABBA order (off, on, on, off, ...) cancels a linear drift; the
            # discarded rounds before it absorb the first-round effect.
            setting = "off" if index < 0 or index % 4 in (0, 3) else "on"
            extra = ["--otel", "off"]
            if setting == "on":
                extra = ["--otel", "otlp", "--otel-endpoint", endpoint]
            before = decisions.value
            assert receiver.pid is not None
            receiver_cpu = _cpu_seconds(receiver.pid)
            result = run_mode(
                ns.mode,
                requests=ns.requests,
                max_seconds=ns.max_seconds,
                concurrency=ns.concurrency,
                client_procs=1,
                backend=ns.backend,
                client=ns.client,
                server_args=extra,
            )
            result["otel"] = setting
            result["discarded"] = index < 0
            result["decision_spans_received"] = decisions.value - before
            done = max(1, int(result["decisions"]))
            result["receiver_cpu_ms_per_decision"] = round(
                (_cpu_seconds(receiver.pid) - receiver_cpu) * 1000 / done, 3
            )
            if index >= 0:
                rounds.append(result)
            print(json.dumps(result), flush=True)
        overhead = span_overhead(endpoint, ns.span_iterations)
        load_after = os.getloadavg()
    finally:
        receiver.kill()
        receiver.join(10)

    def median(setting: str, key: str) -> float:
        return float(statistics.median(r[key] for r in rounds if r["otel"] == setting))

    summary: dict[str, Any] = {
        "summary": True,
        "mode": ns.mode,
        "client": ns.client,
        "concurrency": ns.concurrency,
        "rounds": ns.rounds,
        "off_decisions_per_s": median("off", "decisions_per_s"),
        "on_decisions_per_s": median("on", "decisions_per_s"),
        "off_p50_ms": median("off", "p50_ms"),
        "on_p50_ms": median("on", "p50_ms"),
        "off_p99_ms": median("off", "p99_ms"),
        "on_p99_ms": median("on", "p99_ms"),
        "off_cpu_ms_per_decision": median("off", "server_cpu_ms_per_decision"),
        "on_cpu_ms_per_decision": median("on", "server_cpu_ms_per_decision"),
        "on_receiver_cpu_ms_per_decision": median("on", "receiver_cpu_ms_per_decision"),
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in load_after],
        **overhead,
    }
    offs = [r["decisions_per_s"] for r in rounds if r["otel"] == "off"]
    ons = [r["decisions_per_s"] for r in rounds if r["otel"] == "on"]
    summary["pair_ratios"] = [round(on / off, 3) for off, on in zip(offs, ons, strict=False)]
    summary["on_off_ratio"] = round(
        summary["on_decisions_per_s"] / summary["off_decisions_per_s"], 3
    )
    print(json.dumps(summary), flush=True)
    if ns.out:
        Path(ns.out).write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
