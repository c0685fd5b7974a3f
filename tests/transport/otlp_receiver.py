"""A real OTLP/HTTP trace receiver for tests, on 127.0.0.1 with an ephemeral port.

``OTLPReceiver`` is a threading HTTP server that decodes every POSTed
``ExportTraceServiceRequest`` with opentelemetry-proto and keeps the spans;
``receiving()`` runs one for the length of a ``with`` block. ``closed_port()``
returns a loopback port that nobody listens on (a collector that is down).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def any_value(value: AnyValue) -> object:
    """The Python value of an OTLP ``AnyValue`` (arrays become lists)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class ReceivedSpan:
    """One decoded span with its resource attributes and request path."""

    path: str
    resource: dict[str, object]
    span: Span
    content_type: str = ""

    def attributes(self) -> dict[str, object]:
        """The span's attributes as Python values."""
        return {a.key: any_value(a.value) for a in self.span.attributes}

    def kinds(self) -> dict[str, str]:
        """The OTLP value kind of each attribute (``string_value``, ``int_value``, ...)."""
        return {a.key: str(a.value.WhichOneof("value")) for a in self.span.attributes}


class OTLPReceiver(ThreadingHTTPServer):
    """Receives OTLP/HTTP protobuf trace exports and keeps every span."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[ReceivedSpan] = []

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:<port>``)."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self, name: str | None = None) -> list[ReceivedSpan]:
        """A snapshot of the spans received so far, optionally only those named ``name``."""
        with self.lock:
            found = list(self.received)
        return [s for s in found if name is None or s.span.name == name]


class _Handler(BaseHTTPRequestHandler):
    server: OTLPReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans: list[ReceivedSpan] = []
        for rs in request.resource_spans:
            resource = {a.key: any_value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                spans += [
                    ReceivedSpan(self.path, resource, span, self.headers.get("Content-Type", ""))
                    for span in ss.spans
                ]
        with self.server.lock:
            self.server.received += spans
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def receiving() -> Iterator[OTLPReceiver]:
    """Run an :class:`OTLPReceiver` in a thread for the block; stop it (bounded) after."""
    server = OTLPReceiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GRPCReceiver:
    """Receives OTLP/gRPC trace exports (a real ``grpc`` server) and keeps every span."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import grpc  # type: ignore[import-untyped]  # grpcio ships no type stubs
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        receiver = self
        self.lock = threading.Lock()
        self.received: list[ReceivedSpan] = []

        class _Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(  # the generated service's method name
                self, request: ExportTraceServiceRequest, context: object
            ) -> ExportTraceServiceResponse:
                spans: list[ReceivedSpan] = []
                for rs in request.resource_spans:
                    resource = {a.key: any_value(a.value) for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        spans += [ReceivedSpan("grpc", resource, s, "grpc") for s in ss.spans]
                with receiver.lock:
                    receiver.received += spans
                return ExportTraceServiceResponse()

        self.server = grpc.server(ThreadPoolExecutor(max_workers=2))
        add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
        add(_Service(), self.server)  # type: ignore[no-untyped-call]  # generated, unannotated
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def url(self) -> str:
        """Endpoint URL (``http://127.0.0.1:<port>``: plain-text gRPC)."""
        return f"http://127.0.0.1:{self.port}"

    def spans(self, name: str | None = None) -> list[ReceivedSpan]:
        """A snapshot of the spans received so far, optionally only those named ``name``."""
        with self.lock:
            found = list(self.received)
        return [s for s in found if name is None or s.span.name == name]


@contextmanager
def grpc_receiving() -> Iterator[GRPCReceiver]:
    """Run a :class:`GRPCReceiver` for the block; stop it (bounded) after."""
    receiver = GRPCReceiver()
    receiver.server.start()
    try:
        yield receiver
    finally:
        receiver.server.stop(grace=None).wait(10)
