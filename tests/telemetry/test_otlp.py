"""OTLP/HTTP export to a real receiver on 127.0.0.1, and a collector that is down."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from gait_runtime.telemetry import DecisionAttributes, decision_span, setup_tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class _Receiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP trace receiver keeping every decoded request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, ExportTraceServiceRequest]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self) -> list[tuple[dict[str, object], object]]:
        """(resource attributes, span) for every received span."""
        out: list[tuple[dict[str, object], object]] = []
        with self.lock:
            for _, _, req in self.requests:
                for rs in req.resource_spans:
                    resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        out += [(resource, span) for span in ss.spans]
        return out


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.requests.append((self.path, self.headers.get("Content-Type", ""), request))
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return None


def _value(v: AnyValue) -> object:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_spans_reach_a_real_otlp_http_receiver(
    receiver: _Receiver, block_decision: DecisionAttributes
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
    assert {path for path, _, _ in receiver.requests} == {"/v1/traces"}
    assert {ctype for _, ctype, _ in receiver.requests} == {"application/x-protobuf"}
    spans = receiver.spans()
    assert len(spans) == 3
    for resource, span in spans:
        assert resource["service.name"] == "gait"
        assert resource["service.version"] == "1.2.3"
        assert span.name == "gait.gate.decision"  # type: ignore[attr-defined]
        assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"  # type: ignore[attr-defined]
        assert span.parent_span_id.hex() == "00f067aa0ba902b7"  # type: ignore[attr-defined]
        attrs = {a.key: a.value for a in span.attributes}  # type: ignore[attr-defined]
        assert attrs["gait.decision_latency_ms"].WhichOneof("value") == "int_value"
        assert attrs["gait.delegation_depth"].int_value == 0
        assert _value(attrs["gait.reason_codes"]) == [
            "destructive_apply_requires_approval",
            "destructive_tool_blocked",
        ]
        assert _value(attrs["gait.verdict"]) == "block"
        assert _value(attrs["gait.trace_id"]) == "990f9d6381bb4c1b4da03022"
        assert [e.name for e in span.events] == ["gait.mcp.proxy.decision"]  # type: ignore[attr-defined]
    assert handle.stats() == {"spans_exported": 3, "spans_dropped": 0, "export_errors": 0}


def test_endpoint_comes_from_the_standard_env_var(
    receiver: _Receiver, block_decision: DecisionAttributes, monkeypatch: pytest.MonkeyPatch
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
    assert len(receiver.spans()) == 1
    assert receiver.requests[0][0] == "/v1/traces"


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
