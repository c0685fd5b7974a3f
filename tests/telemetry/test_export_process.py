"""OTLP export from a child process: same spans at a real receiver, failures counted."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from gait_runtime.telemetry import DecisionAttributes, decision_span, setup_tracing
from gait_runtime.telemetry._export_process import ProcessSpanExporter
from gait_runtime.telemetry._sdk import EXPORT_PROCESS_ENV

from ..transport.otlp_receiver import OTLPReceiver, receiving

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1."""
    with receiving() as server:
        yield server


def _finished_spans() -> list[object]:
    """Two finished SDK spans: a parent with attributes, an event and an error status."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("gait_runtime", "9.9")
    with tracer.start_as_current_span(
        "parent", kind=SpanKind.SERVER, attributes={"a": "x", "n": 3, "f": 1.5, "l": ("p", "q")}
    ) as parent:
        parent.add_event("gait.decision", {"gait.verdict": "block"})
        child = tracer.start_span("child")
        child.set_status(Status(StatusCode.ERROR, "no decision"))
        child.end()
    return list(memory.get_finished_spans())


def test_the_child_delivers_the_same_spans_to_a_real_receiver(receiver: OTLPReceiver) -> None:
    """Names, ids, parent, kind, attributes of every type, events, status and scope
    arrive as the SDK made them, under the resource the parent process gave."""
    spans = _finished_spans()
    exporter = ProcessSpanExporter(
        {"service.name": "gait", "service.version": "7"},
        endpoint=receiver.url + "/v1/traces",
        export_timeout_s=10,
    )
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # type: ignore[arg-type]
    finally:
        exporter.shutdown()
    got = {r.span.name: r for r in receiver.spans()}
    assert set(got) == {"parent", "child"}
    parent, child = got["parent"], got["child"]
    assert parent.resource == {"service.name": "gait", "service.version": "7"}
    assert parent.attributes() == {"a": "x", "n": 3, "f": 1.5, "l": ["p", "q"]}
    assert parent.span.kind == 2  # SERVER
    assert [e.name for e in parent.span.events] == ["gait.decision"]
    assert child.span.parent_span_id == parent.span.span_id
    assert child.span.trace_id == parent.span.trace_id
    assert child.span.status.code == 2 and child.span.status.message == "no decision"
    assert parent.span.start_time_unix_nano == spans[1].start_time  # type: ignore[attr-defined]


def _kill_child(exporter: ProcessSpanExporter) -> int:
    pid = exporter.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    child = exporter._child
    assert child is not None
    child.wait(timeout=10)  # dead and reaped before the next batch
    return pid


def test_a_dead_child_fails_the_batch_until_it_may_be_started_again(
    receiver: OTLPReceiver,
) -> None:
    """A killed exporter process fails the batch (the caller counts it dropped) while
    the restart interval has not passed; nothing reaches the receiver."""
    exporter = ProcessSpanExporter(
        {"service.name": "gait"}, endpoint=receiver.url, export_timeout_s=10, restart_s=3600
    )
    try:
        _kill_child(exporter)
        assert exporter.export(_finished_spans()) is SpanExportResult.FAILURE  # type: ignore[arg-type]
        assert exporter.pid is None
    finally:
        exporter.shutdown()
    assert receiver.spans() == []


def test_the_next_batch_after_a_dead_child_starts_a_new_one(receiver: OTLPReceiver) -> None:
    """Once the restart interval has passed, the next batch starts another child and
    is delivered."""
    exporter = ProcessSpanExporter(
        {"service.name": "gait"}, endpoint=receiver.url, export_timeout_s=10, restart_s=0.0
    )
    try:
        old = _kill_child(exporter)
        assert exporter.export(_finished_spans()) is SpanExportResult.SUCCESS  # type: ignore[arg-type]
        assert exporter.pid not in (None, old)
    finally:
        exporter.shutdown()
    assert sorted(r.span.name for r in receiver.spans()) == ["child", "parent"]


def test_in_process_export_stays_available(
    receiver: OTLPReceiver, block_decision: DecisionAttributes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GAIT_OTEL_EXPORT_PROCESS=0`` keeps the SDK exporter in this process; spans arrive."""
    monkeypatch.setenv(EXPORT_PROCESS_ENV, "0")
    handle = setup_tracing(
        exporter="otlp", endpoint=receiver.url, service_version="1", install_global=False
    )
    try:
        inner = getattr(handle._exporter, "_inner", None)
        assert type(inner).__name__ == "OTLPSpanExporter"
        with decision_span(block_decision, traceparent=TRACEPARENT):
            pass
        assert handle.force_flush()
    finally:
        assert handle.shutdown()
    assert [s.span.name for s in receiver.spans()] == ["gait.gate.decision"]
