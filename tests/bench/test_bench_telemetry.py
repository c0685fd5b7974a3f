"""Cost that telemetry adds to one decision: a span through the real SDK plus an export submit.

Run with ``make bench`` (``--benchmark-enable``). Besides pytest-benchmark's own
table, each benchmark measures a fixed loop itself and stores the median and
p99 in ``extra_info`` (and prints them with ``-s``); the target is < 1 ms p99
added to a decision. No test asserts a duration: the figures are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pytest_benchmark.fixture import BenchmarkFixture

from gait_runtime.telemetry import (
    DecisionAttributes,
    DecisionExporter,
    TracingHandle,
    decision_span,
    setup_tracing,
)

ROUNDS = 3000
WARMUP = 200
LOOP = 5000

RECORD = DecisionAttributes(
    run_id="run_vec-block",
    session_id="sess-svc",
    trace_path="traces/compat/trace_run_vec-block_20261121T110159.543598248.json",
    verdict="block",
    reason_codes=("destructive_apply_requires_approval", "destructive_tool_blocked"),
    policy_digest="d92c3966d161f294f1a85e5da078b5564d6b3697c4df46e2c222877256578072",
    intent_digest="a11c9e3c3b498724ecf211f526921ff198dc194e1cf32d87bd11b8922365bb60",
    decision_latency_ms=1,
    tool_name="tool.delete",
    trace_id="990f9d6381bb4c1b4da03022",
    event_id="evt_1",
    surface="mcp_serve",
)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class _CountingNullExporter(SpanExporter):
    """Accepts every batch and only counts it (the collector is not what we measure)."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@pytest.fixture
def sdk() -> Iterator[tuple[TracingHandle, _CountingNullExporter]]:
    sink = _CountingNullExporter()
    handle = setup_tracing(
        span_exporter=sink, service_version="bench", max_queue_size=2048, install_global=False
    )
    try:
        yield handle, sink
    finally:
        handle.shutdown()


def _percentiles(fn: Callable[[], None]) -> dict[str, float]:
    samples = []
    for _ in range(LOOP):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return {
        "median_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
    }


def _decision_span() -> None:
    with decision_span(RECORD.tool_name, traceparent=TRACEPARENT, surface="mcp_serve") as span:
        span.record(RECORD)


def _report(benchmark: BenchmarkFixture, name: str, figures: dict[str, float]) -> None:
    benchmark.extra_info.update(figures)
    print(f"\n{name}: median {figures['median_us']:.1f} us, p99 {figures['p99_us']:.1f} us")


def test_bench_decision_span_with_sdk(
    benchmark: BenchmarkFixture, sdk: tuple[TracingHandle, _CountingNullExporter]
) -> None:
    """One decision span (traceparent extraction, 17 attributes, event) reaches the exporter."""
    handle, sink = sdk
    benchmark.pedantic(_decision_span, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)  # type: ignore[no-untyped-call]  # untyped plugin API
    figures = _percentiles(_decision_span)
    assert handle.force_flush()
    assert sink.spans >= LOOP
    assert handle.stats()["spans_dropped"] == 0
    _report(benchmark, "decision span (SDK on)", figures)


def test_bench_decision_span_plus_export_submit(
    benchmark: BenchmarkFixture,
    sdk: tuple[TracingHandle, _CountingNullExporter],
    tmp_path: Path,
) -> None:
    """Span plus ``submit_nowait`` of the JSONL record: every submit is accepted."""
    handle, sink = sdk
    exporter = DecisionExporter(
        log_path=tmp_path / "log.jsonl",
        otel_path=tmp_path / "otel.jsonl",
        producer_version="bench",
        max_queue=ROUNDS + WARMUP + LOOP + 10,
        drain_timeout=0,
    )
    accepted: list[bool] = []

    def one() -> None:
        _decision_span()
        accepted.append(exporter.submit_nowait(RECORD))

    benchmark.pedantic(one, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)  # type: ignore[no-untyped-call]  # untyped plugin API
    figures = _percentiles(one)

    async def stop() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(exporter.run)
            tg.cancel_scope.cancel()

    anyio.run(stop)
    assert all(accepted) and len(accepted) >= LOOP
    assert exporter.stats()["queued"] == 0
    assert handle.force_flush()
    assert sink.spans >= LOOP
    _report(benchmark, "decision span + export submit (SDK on)", figures)


def test_bench_decision_span_without_sdk(benchmark: BenchmarkFixture) -> None:
    """Baseline: with no provider installed the span is a no-op and still records."""
    benchmark.pedantic(_decision_span, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)  # type: ignore[no-untyped-call]  # untyped plugin API
    figures = _percentiles(_decision_span)
    with decision_span(RECORD) as span:
        assert not span.span.get_span_context().is_valid
    _report(benchmark, "decision span (no SDK)", figures)
