"""Decision spans through the real SDK (in-memory exporter), spec/otel.md §5."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from gait_runtime.errors import DependencyMissingError, UsageError, exit_code_for
from gait_runtime.telemetry import (
    DecisionAttributes,
    TracingHandle,
    decision_span,
    inject_traceparent,
    journal_append_span,
    setup_tracing,
    trace_sign_span,
)
from gait_runtime.telemetry._record import SPAN_ATTRIBUTE_KEYS

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"

INT_KEYS = {"gait.decision_latency_ms", "gait.delegation_depth"}
ARRAY_KEYS = {"gait.reason_codes"}


def _spans(handle: TracingHandle) -> tuple[ReadableSpan, ...]:
    assert handle.force_flush()
    assert handle.memory_exporter is not None
    return handle.memory_exporter.get_finished_spans()


def _only(handle: TracingHandle, name: str) -> ReadableSpan:
    found = [s for s in _spans(handle) if s.name == name]
    assert len(found) == 1
    return found[0]


def test_one_span_per_decision_with_exactly_the_locked_keys_and_types(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """Each decision yields one INTERNAL span carrying exactly the §3+§5 keys, typed."""
    for _ in range(3):
        with decision_span(block_decision):
            pass
    spans = _spans(tracing)
    assert [s.name for s in spans] == ["gait.gate.decision"] * 3
    for span in spans:
        assert span.kind is SpanKind.INTERNAL
        attrs = dict(span.attributes or {})
        assert sorted(attrs) == sorted(SPAN_ATTRIBUTE_KEYS)
        for key, value in attrs.items():
            if key in INT_KEYS:
                assert type(value) is int, key
            elif key in ARRAY_KEYS:
                assert isinstance(value, tuple) and all(isinstance(v, str) for v in value)
            else:
                assert type(value) is str, key
        assert attrs["gait.reason_codes"] == (
            "destructive_apply_requires_approval",
            "destructive_tool_blocked",
        )
        assert attrs["gait.trace_id"] == "990f9d6381bb4c1b4da03022"
        assert attrs["gait.intent_digest"] == block_decision.intent_digest
        assert attrs["gait.created_at"] == "2026-03-01T09:31:05.123456789Z"
        assert attrs["gen_ai.operation.name"] == "execute_tool"
        assert attrs["gen_ai.tool.name"] == "tool.delete"
        assert attrs["gait.delegation_ref"] == ""
        assert attrs["gait.delegation_depth"] == 0
        assert span.resource.attributes["service.name"] == "gait"
        assert span.resource.attributes["service.version"] == "9.9.9"


def test_block_decision_has_status_ok(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """A block is a correct outcome, not an error (§5 span status)."""
    with decision_span("tool.delete") as span:
        span.record(block_decision)
    assert _only(tracing, "gait.gate.decision").status.status_code is StatusCode.OK


def test_span_event_carries_the_same_attributes(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """The span event ``gait.mcp.proxy.decision`` repeats the span's attributes."""
    with decision_span(block_decision):
        pass
    span = _only(tracing, "gait.gate.decision")
    assert [e.name for e in span.events] == ["gait.mcp.proxy.decision"]
    assert dict(span.events[0].attributes or {}) == dict(span.attributes or {})


def test_exception_without_decision_sets_error_and_propagates(tracing: TracingHandle) -> None:
    """No decision produced ⇒ ERROR status with the exception recorded; the error still raises."""
    with pytest.raises(RuntimeError, match="policy load failed"), decision_span("tool.x"):
        raise RuntimeError("policy load failed")
    span = _only(tracing, "gait.gate.decision")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes is not None and span.attributes["gait.tool_name"] == "tool.x"


def test_exception_after_decision_keeps_status_ok(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """Once a decision exists, a later failure does not turn the span into an error."""
    with pytest.raises(OSError), decision_span("tool.delete") as span:
        span.record(block_decision)
        raise OSError("response write failed")
    assert _only(tracing, "gait.gate.decision").status.status_code is StatusCode.OK


def test_block_exit_without_record_is_error(tracing: TracingHandle) -> None:
    """Leaving the block without recording a decision marks the span ERROR."""
    with decision_span("tool.x") as span:
        assert not span.decided
    status = _only(tracing, "gait.gate.decision").status
    assert status.status_code is StatusCode.ERROR
    assert status.description == "no decision produced"


def test_traceparent_makes_the_span_a_child_of_the_caller(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """The decision continues the caller's W3C trace; the gait id is not reused."""
    with decision_span(block_decision, traceparent=TRACEPARENT):
        pass
    span = _only(tracing, "gait.gate.decision")
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert format(span.parent.span_id, "016x") == CALLER_SPAN
    assert span.parent.is_remote


def test_missing_or_invalid_traceparent_starts_a_new_trace(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """A malformed header is ignored: the span is a root with fresh SDK ids."""
    with decision_span(block_decision, traceparent="00-zz-nonsense-01"):
        pass
    with decision_span(block_decision):
        pass
    spans = _spans(tracing)
    assert len(spans) == 2
    for span in spans:
        assert span.parent is None
        assert span.context is not None and span.context.trace_id != 0
        assert format(span.context.trace_id, "032x") != CALLER_TRACE
        assert not format(span.context.trace_id, "032x").endswith(block_decision.trace_id)


def test_surface_given_at_start_survives_a_record_without_one(tracing: TracingHandle) -> None:
    """``surface=`` set at span start fills ``gait.surface`` when the record has none."""
    record = DecisionAttributes(
        run_id="r",
        verdict="allow",
        policy_digest="p",
        intent_digest="i",
        tool_name="t",
        trace_id="x",
    )
    with decision_span("t", surface="gate_eval") as span:
        span.record(record)
    attrs = _only(tracing, "gait.gate.decision").attributes
    assert attrs is not None and attrs["gait.surface"] == "gate_eval"
    assert attrs["gait.created_at"] == "1980-01-01T00:00:00Z"


def test_child_spans_hang_under_the_decision(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """``gait.trace.sign`` and ``gait.journal.append`` are children of the decision span."""
    with decision_span("tool.delete", traceparent=TRACEPARENT) as span:
        with span.trace_sign():
            pass
        span.record(block_decision)
        with span.journal_append(**{"gait.session_id": "sess-svc"}):
            pass
        with trace_sign_span(), journal_append_span():
            pass
    decision = _only(tracing, "gait.gate.decision")
    assert decision.context is not None
    children = [s for s in _spans(tracing) if s.name != "gait.gate.decision"]
    assert sorted(s.name for s in children) == [
        "gait.journal.append",
        "gait.journal.append",
        "gait.trace.sign",
        "gait.trace.sign",
    ]
    by_id = {s.context.span_id: s for s in _spans(tracing) if s.context is not None}
    for child in children:
        assert child.parent is not None and child.context is not None
        assert child.context.trace_id == decision.context.trace_id
        ancestor = by_id.get(child.parent.span_id)
        while ancestor is not None and ancestor.name != "gait.gate.decision":
            assert ancestor.parent is not None
            ancestor = by_id.get(ancestor.parent.span_id)
        assert ancestor is decision
    appended = [s for s in children if s.name == "gait.journal.append"]
    assert any((s.attributes or {}).get("gait.session_id") == "sess-svc" for s in appended)


def test_inject_traceparent_names_the_current_decision_span(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """Injection writes a W3C header with the decision span's trace and span ids."""
    assert inject_traceparent() == {}
    with decision_span(block_decision, traceparent=TRACEPARENT) as span:
        current = inject_traceparent()
        explicit = span.traceparent()
    decision = _only(tracing, "gait.gate.decision")
    assert decision.context is not None
    expected = f"00-{CALLER_TRACE}-{decision.context.span_id:016x}-01"
    assert current == {"traceparent": expected}
    assert explicit == {"traceparent": expected}


class _GatedExporter(SpanExporter):
    """A collector that hangs until released, like one behind a stalled network."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        assert self.release.wait(timeout=30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_full_span_queue_drops_and_counts_without_blocking_decisions(
    block_decision: DecisionAttributes,
) -> None:
    """With the collector stalled, decisions still complete; overflow spans are counted."""
    gate = _GatedExporter()
    handle = setup_tracing(
        span_exporter=gate,
        service_version="1",
        max_queue_size=4,
        max_export_batch_size=1,
        install_global=False,
    )
    try:
        with decision_span(block_decision):
            pass
        assert gate.entered.wait(timeout=30)
        for _ in range(9):
            with decision_span(block_decision):
                pass
        assert handle.stats()["spans_dropped"] == 5
        gate.release.set()
        assert handle.force_flush()
        assert gate.exported == 5
        assert handle.stats() == {"spans_exported": 5, "spans_dropped": 5, "export_errors": 0}
    finally:
        gate.release.set()
        handle.shutdown()


class _FailingExporter(SpanExporter):
    """A collector that refuses or crashes on every batch."""

    def __init__(self, *, crash: bool) -> None:
        self.crash = crash

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.crash:
            raise ConnectionError("collector went away")
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None


@pytest.mark.parametrize("crash", [False, True])
def test_failed_exports_are_counted(block_decision: DecisionAttributes, crash: bool) -> None:
    """A failing or raising exporter costs counted spans, never an exception."""
    handle = setup_tracing(
        span_exporter=_FailingExporter(crash=crash), service_version="1", install_global=False
    )
    try:
        for _ in range(3):
            with decision_span(block_decision):
                pass
        handle.force_flush()
        stats = handle.stats()
        assert stats["spans_dropped"] == 3
        assert stats["export_errors"] >= 1
        assert stats["spans_exported"] == 0
    finally:
        handle.shutdown()


def test_shutdown_is_idempotent_and_later_decisions_still_complete(
    block_decision: DecisionAttributes,
) -> None:
    """After shutdown the handle is inert and decisions fall back to no-op spans."""
    handle = setup_tracing(exporter="memory", service_version="1", install_global=False)
    assert handle.shutdown()
    assert not handle.enabled
    assert handle.shutdown() is False
    assert handle.force_flush() is False
    with decision_span(block_decision) as span:
        assert not span.span.get_span_context().is_valid
    assert span.decided
    assert handle.memory_exporter is not None
    assert handle.memory_exporter.get_finished_spans() == ()


def test_console_exporter_writes_json_spans(block_decision: DecisionAttributes) -> None:
    """``exporter="console"`` prints each span as JSON on the given stream."""
    out = io.StringIO()
    handle = setup_tracing(
        exporter="console", service_version="1", console_stream=out, install_global=False
    )
    try:
        with decision_span(block_decision):
            pass
        assert handle.force_flush()
    finally:
        handle.shutdown()
    doc = json.loads(out.getvalue())
    assert doc["name"] == "gait.gate.decision"
    assert doc["attributes"]["gait.verdict"] == "block"


def test_sdk_disabled_env_returns_a_disabled_handle(
    monkeypatch: pytest.MonkeyPatch, block_decision: DecisionAttributes
) -> None:
    """``OTEL_SDK_DISABLED=true`` wins over the argument; spans become no-ops."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    handle = setup_tracing(exporter="memory", service_version="1", install_global=False)
    assert not handle.enabled
    assert handle.memory_exporter is None
    with decision_span(block_decision) as span:
        assert not span.span.get_span_context().is_valid
    assert handle.force_flush() is False
    assert handle.stats() == {"spans_exported": 0, "spans_dropped": 0, "export_errors": 0}


@pytest.mark.parametrize(("value", "enabled"), [(None, False), ("none", False), ("console", True)])
def test_traces_exporter_env_chooses_when_no_argument(
    monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool
) -> None:
    """With ``exporter=None``, ``OTEL_TRACES_EXPORTER`` decides (unset means off)."""
    if value is None:
        monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    else:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", value)
    handle = setup_tracing(service_version="1", console_stream=io.StringIO(), install_global=False)
    try:
        assert handle.enabled is enabled
    finally:
        handle.shutdown()


def test_unsupported_traces_exporter_env_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exporter we do not ship is reported, not silently ignored."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(UsageError, match="zipkin"):
        setup_tracing(service_version="1", install_global=False)


def test_otlp_without_the_extra_is_dependency_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the OTLP package absent, ``exporter="otlp"`` names the extra; exit code 7."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(DependencyMissingError, match=r"gait-runtime\[otlp\]") as info:
        setup_tracing(exporter="otlp", service_version="1", install_global=False)
    assert exit_code_for(info.value) == 7


def test_no_provider_means_no_op_spans(block_decision: DecisionAttributes) -> None:
    """Without setup_tracing the API tracer is used and a decision still completes."""
    with decision_span(block_decision) as span:
        span.record(block_decision)
    assert span.decided


def test_importing_the_library_does_not_load_the_sdk() -> None:
    """Library code uses only the API; the SDK loads only inside setup_tracing."""
    code = (
        "import sys, gait_runtime.telemetry, gait_runtime.telemetry.otel\n"
        "from gait_runtime.telemetry import decision_span\n"
        "with decision_span('t'): pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
