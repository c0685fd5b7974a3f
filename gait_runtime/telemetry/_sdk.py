"""The OpenTelemetry SDK pipeline behind :func:`~gait_runtime.telemetry.otel.setup_tracing`.

Owns: building the tracer provider (resource ``service.name`` from
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``, else ``gait``), the choice of
the OTLP exporter by ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` (``http/protobuf``,
the default, or ``grpc``), the bounded batch span processor that counts the
spans it drops, and the exporter wrapper that counts failed exports. Imported only by ``setup_tracing``: importing this
module loads the SDK, which library code never does on its own.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

import structlog
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ..errors import DependencyMissingError, UsageError
from ._tracing_stats import ExporterKind, SpanCounters

__all__ = [
    "EXPORT_PROCESS_ENV",
    "OTLP_EXTRA_HINT",
    "OTLP_GRPC_HINT",
    "build_pipeline",
    "make_otlp_exporter",
    "otlp_exporter_class",
    "otlp_protocol",
]

OTLP_EXTRA_HINT: Final = "pip install 'gait-runtime[otlp]'"
OTLP_GRPC_HINT: Final = "pip install 'gait-runtime[otlp-grpc]'"
DEFAULT_SERVICE_NAME: Final = "gait"
_PROTOCOLS: Final = ("http/protobuf", "grpc")
_TRACES_PATH: Final = "/v1/traces"
_DEFAULT_BATCH: Final = 512
EXPORT_PROCESS_ENV: Final = "GAIT_OTEL_EXPORT_PROCESS"
"""``0``/``false``/``off``: encode and send OTLP spans in this process (default: a child)."""

_log = structlog.get_logger("gait_runtime.telemetry.otel")


class _CountingExporter(SpanExporter):
    """Delegates to the real exporter and counts what it delivers or loses."""

    def __init__(self, inner: SpanExporter, counters: SpanCounters) -> None:
        self._inner = inner
        self._counters = counters

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception as exc:  # telemetry boundary: an exporter bug drops the batch
            _log.warning("span_export_failed", error=repr(exc), spans=len(spans))
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._counters.add(exported=len(spans))
        else:
            self._counters.add(dropped=len(spans), errors=1)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


class _BoundedBatchSpanProcessor(BatchSpanProcessor):
    """A batch span processor that counts the spans its bounded queue drops.

    The SDK processor drops the oldest span when its queue is full and only
    logs it; this subclass checks the queue length first (under a lock, so
    concurrent producers are counted exactly) and counts spans ended after
    shutdown as dropped too.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        counters: SpanCounters,
        *,
        max_queue_size: int | None,
        max_export_batch_size: int | None,
        schedule_delay_millis: float | None,
    ) -> None:
        super().__init__(
            exporter,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            schedule_delay_millis=schedule_delay_millis,
        )
        self._counters = counters
        self._emit_lock = threading.Lock()
        self._stopped = False

    def _queue_full(self) -> bool:
        # The SDK keeps its bounded deque on a private helper; when a future SDK
        # moves it, drops are still bounded but go uncounted here.
        batch = getattr(self, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        maxlen = getattr(queue, "maxlen", None)
        return queue is not None and maxlen is not None and len(queue) >= maxlen

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return
        with self._emit_lock:
            if self._stopped or self._queue_full():
                self._counters.add(dropped=1)
            if not self._stopped:
                super().on_end(span)

    def shutdown(self) -> None:
        with self._emit_lock:
            self._stopped = True
        super().shutdown()  # type: ignore[no-untyped-call]  # the SDK method is unannotated


def _traces_url(endpoint: str) -> str:
    path = urlsplit(endpoint).path
    if path.rstrip("/").endswith(_TRACES_PATH):
        return endpoint
    return endpoint.rstrip("/") + _TRACES_PATH


def otlp_protocol(environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The OTLP transport the standard variables ask for: ``http/protobuf`` or ``grpc``.

    ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` wins over ``OTEL_EXPORTER_OTLP_PROTOCOL``;
    unset means ``http/protobuf`` (the SDK default).

    Raises:
        UsageError: another value (``http/json`` has no Python exporter).
    """
    env = os.environ if environ is None else environ
    value = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
        or "http/protobuf"
    ).lower()
    if value not in _PROTOCOLS:
        raise UsageError(
            f"OTLP protocol {value!r} is not supported (use grpc or http/protobuf)",
            code="otel_protocol_unsupported",
        )
    return value


def _make_exporter(
    kind: ExporterKind,
    *,
    resource: Resource,
    endpoint: str | None,
    export_timeout_s: float | None,
    console_stream: TextIO | None,
) -> tuple[SpanExporter, InMemorySpanExporter | None]:
    if kind == "memory":
        memory = InMemorySpanExporter()
        return memory, memory
    if kind == "console":
        return ConsoleSpanExporter(out=console_stream or sys.stderr), None
    if os.environ.get(EXPORT_PROCESS_ENV, "1").strip().lower() in ("0", "false", "off"):
        return make_otlp_exporter(endpoint, export_timeout_s), None
    otlp_exporter_class()  # a missing extra fails at start-up, in this process
    from ._export_process import ProcessSpanExporter

    return (
        ProcessSpanExporter(
            dict(resource.attributes), endpoint=endpoint, export_timeout_s=export_timeout_s
        ),
        None,
    )


def otlp_exporter_class() -> type[SpanExporter]:
    """The SDK's OTLP exporter class the ``OTEL_*`` variables ask for (HTTP/protobuf or gRPC).

    Raises:
        DependencyMissingError: the extra for that transport is not installed.
    """
    if otlp_protocol() == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError as exc:
            raise DependencyMissingError(
                f"OTLP/gRPC span export needs the optional 'otlp-grpc' extra: {OTLP_GRPC_HINT}",
                code="otlp_extra_missing",
                hint=OTLP_GRPC_HINT,
            ) from exc
        return GrpcSpanExporter
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise DependencyMissingError(
            f"OTLP span export needs the optional 'otlp' extra: {OTLP_EXTRA_HINT}",
            code="otlp_extra_missing",
            hint=OTLP_EXTRA_HINT,
        ) from exc
    return OTLPSpanExporter


def make_otlp_exporter(endpoint: str | None, export_timeout_s: float | None) -> SpanExporter:
    """The OTLP exporter of :func:`otlp_exporter_class` for ``endpoint``.

    Raises:
        DependencyMissingError: the extra for that transport is not installed.
    """
    exporter_class: Any = otlp_exporter_class()
    if otlp_protocol() == "grpc":
        # gRPC takes host:port (or a URL) as is: no /v1/traces path.
        return exporter_class(endpoint=endpoint or None, timeout=export_timeout_s)  # type: ignore[no-any-return]
    url = _traces_url(endpoint) if endpoint else None
    return exporter_class(endpoint=url, timeout=export_timeout_s)  # type: ignore[no-any-return]


def _resource(service_version: str) -> Resource:
    """SDK resource detection (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
    ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``) over our defaults: ``service.name``
    ``gait`` when no variable names the service, ``service.version`` ours."""
    detected = Resource.create({})
    name = str(detected.attributes.get("service.name") or "")
    ours = Resource({"service.version": service_version})
    resource = ours.merge(detected)
    if not name or name.startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    return resource


def build_pipeline(
    kind: ExporterKind | None,
    counters: SpanCounters,
    *,
    endpoint: str | None,
    service_version: str,
    max_queue_size: int | None,
    max_export_batch_size: int | None,
    schedule_delay_ms: float | None,
    export_timeout_s: float | None,
    console_stream: TextIO | None,
    span_exporter: SpanExporter | None = None,
) -> tuple[TracerProvider, SpanExporter, InMemorySpanExporter | None]:
    """Build provider, counting exporter and bounded batch processor.

    Returns:
        ``(provider, counting exporter, in-memory exporter or None)``.

    Raises:
        DependencyMissingError: ``kind`` is ``otlp`` and the extra is absent.
    """
    resource = _resource(service_version)
    if span_exporter is not None:
        inner, memory = span_exporter, None
    else:
        inner, memory = _make_exporter(
            kind or "console",
            resource=resource,
            endpoint=endpoint,
            export_timeout_s=export_timeout_s,
            console_stream=console_stream,
        )
    exporter = _CountingExporter(inner, counters)
    if max_queue_size is not None and max_export_batch_size is None:
        max_export_batch_size = min(max_queue_size, _DEFAULT_BATCH)
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(
        _BoundedBatchSpanProcessor(
            exporter,
            counters,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            schedule_delay_millis=schedule_delay_ms,
        )
    )
    return provider, exporter, memory
