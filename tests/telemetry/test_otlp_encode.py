"""The direct OTLP encoder decodes to exactly the message the SDK's encoder builds."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags, TraceState

from gait_runtime.telemetry import DecisionAttributes, TracingHandle, decision_span
from gait_runtime.telemetry._otlp_encode import encode_spans_request

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _finished(handle: TracingHandle) -> list[ReadableSpan]:
    assert handle.force_flush()
    assert handle.memory_exporter is not None
    return list(handle.memory_exporter.get_finished_spans())


def _decoded(spans: list[ReadableSpan]) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    message.ParseFromString(encode_spans_request(spans))
    return message


def test_decision_spans_encode_like_the_sdk(
    tracing: TracingHandle, block_decision: DecisionAttributes
) -> None:
    """Decision spans with children, the reused event attributes and a remote parent."""
    for traceparent in (TRACEPARENT, None):
        with decision_span("tool.delete", traceparent=traceparent, surface="mcp_serve") as span:
            with span.trace_sign():
                pass
            with span.journal_append(**{"gait.session_id": "sess-svc"}):
                pass
            span.record(block_decision)
    spans = _finished(tracing)
    assert len(spans) == 6
    assert _decoded(spans) == encode_spans(spans)


def test_every_value_kind_link_event_and_status_encode_like_the_sdk(
    tracing: TracingHandle,
) -> None:
    """Strings (long and non-ASCII), bools, negative and large ints, floats, arrays,
    links with trace state, events with their own attributes, an error status."""
    assert tracing.provider is not None
    tracer = tracing.provider.get_tracer("test", "1.0", schema_url="https://example.invalid/s")
    linked = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "value")]),
    )
    with tracer.start_as_current_span(
        "kinds",
        attributes={
            "s": "x" * 300,
            "u": "grüße ✓",
            "b": True,
            "f": False,
            "i": -42,
            "big": 2**62,
            "d": 1.25,
            "strs": ["a", "b"],
            "ints": [1, -2, 3],
            "floats": [0.5],
            "bools": [True, False],
        },
        links=[Link(linked, {"why": "retry"})],
    ) as span:
        span.add_event("plain", {"n": 7}, timestamp=123)
        span.add_event("empty")
        span.set_status(Status(StatusCode.ERROR, "no decision"))
    spans = _finished(tracing)
    assert _decoded(spans) == encode_spans(spans)
