"""OTLP/HTTP export to a real receiver on 127.0.0.1, and a collector that is down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gait_runtime.telemetry import DecisionAttributes, decision_span, setup_tracing

from ..transport.otlp_receiver import OTLPReceiver, closed_port, receiving

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1 (shared with the server tests)."""
    with receiving() as server:
        yield server


@pytest.fixture(name="closed_port")
def _closed_port() -> int:
    """A loopback port nobody listens on (a collector that is down)."""
    return closed_port()


def test_spans_reach_a_real_otlp_http_receiver(
    receiver: OTLPReceiver, block_decision: DecisionAttributes
) -> None:
    """setup_tracing(exporter="otlp") + force_flush delivers typed spans to /v1/traces."""
    handle = setup_tracing(
        exporter="otlp", endpoint=receiver.url, service_version="1.2.3", install_global=False
    )
    try:
        for _ in range(3):
            with decision_span(block_decision, traceparent=TRACEPARENT):
                pass
        assert handle.force_flush()
    finally:
        assert handle.shutdown()
    spans = receiver.spans()
    assert {s.path for s in spans} == {"/v1/traces"}
    assert {s.content_type for s in spans} == {"application/x-protobuf"}
    assert len(spans) == 3
    for received in spans:
        span = received.span
        assert received.resource["service.name"] == "gait"
        assert received.resource["service.version"] == "1.2.3"
        assert span.name == "gait.gate.decision"
        assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert span.parent_span_id.hex() == "00f067aa0ba902b7"
        attrs = received.attributes()
        assert received.kinds()["gait.decision_latency_ms"] == "int_value"
        assert attrs["gait.delegation_depth"] == 0
        assert attrs["gait.reason_codes"] == [
            "destructive_apply_requires_approval",
            "destructive_tool_blocked",
        ]
        assert attrs["gait.verdict"] == "block"
        assert attrs["gait.trace_id"] == "990f9d6381bb4c1b4da03022"
        assert [e.name for e in span.events] == ["gait.mcp.proxy.decision"]
    assert handle.stats() == {"spans_exported": 3, "spans_dropped": 0, "export_errors": 0}


def test_endpoint_comes_from_the_standard_env_var(
    receiver: OTLPReceiver, block_decision: DecisionAttributes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no endpoint argument, ``OTEL_EXPORTER_OTLP_ENDPOINT`` is honoured."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    handle = setup_tracing(exporter="otlp", service_version="1", install_global=False)
    try:
        with decision_span(block_decision):
            pass
        assert handle.force_flush()
    finally:
        handle.shutdown()
    assert [s.path for s in receiver.spans()] == ["/v1/traces"]


def test_collector_down_never_raises_and_counts_losses(
    closed_port: int, block_decision: DecisionAttributes
) -> None:
    """Connection refused: decisions complete, export errors and dropped spans rise."""
    handle = setup_tracing(
        exporter="otlp",
        endpoint=f"http://127.0.0.1:{closed_port}/v1/traces",
        service_version="1",
        export_timeout_s=0.5,
        install_global=False,
    )
    try:
        for _ in range(5):
            with decision_span("tool.delete") as span:
                span.record(block_decision)
            assert span.decided
        handle.force_flush()
        stats = handle.stats()
    finally:
        handle.shutdown()
    assert stats["export_errors"] >= 1
    assert stats["spans_dropped"] == 5
    assert stats["spans_exported"] == 0
