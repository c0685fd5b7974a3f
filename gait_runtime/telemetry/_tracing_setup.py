"""The SDK switch behind :mod:`.otel`: :func:`setup_tracing` and :class:`TracingHandle`.

Owns: installing the OpenTelemetry SDK pipeline once per process (imported
lazily from ``_sdk.py``), the ``OTEL_*`` environment rules for choosing an
exporter, the active tracer every span of :mod:`.otel` starts from, and the
handle that flushes, shuts down and reports what the SDK dropped. Span
encoding and export run on the SDK's batch-processor thread, never on the
decision path (the decision path only records attributes and ends spans).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING, Final, TextIO

import structlog
from opentelemetry import trace
from opentelemetry.trace import Tracer

from ..errors import UsageError
from ._tracing_stats import ExporterKind, SpanCounters, TracingStats

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["INSTRUMENTATION_NAME", "TracingHandle", "setup_tracing"]

INSTRUMENTATION_NAME: Final = "gait_runtime"

_log = structlog.get_logger("gait_runtime.telemetry.otel")


class _Active:
    """The tracer installed by :func:`setup_tracing` (None: the global API tracer)."""

    tracer: Tracer | None = None
    owner: object | None = None


class TracingHandle:
    """The installed tracing pipeline: flush it, shut it down, read its counters.

    Returned by :func:`setup_tracing`; a disabled handle (``enabled`` False)
    has no SDK objects and all its methods do nothing.

    Args:
        provider: the SDK tracer provider, or None when disabled.
        exporter: the exporter behind the batch processor, or None.
        memory_exporter: the in-memory exporter when ``exporter="memory"``.
        counters: shared counters of the pipeline.
    """

    def __init__(
        self,
        *,
        provider: SDKTracerProvider | None = None,
        exporter: SpanExporter | None = None,
        memory_exporter: InMemorySpanExporter | None = None,
        counters: SpanCounters | None = None,
    ) -> None:
        self.provider = provider
        self.memory_exporter = memory_exporter
        self._exporter = exporter
        self._counters = counters or SpanCounters()
        self._closed = provider is None
        if provider is not None:
            atexit.register(self.shutdown)

    @property
    def enabled(self) -> bool:
        """True while an SDK pipeline is installed and not shut down."""
        return not self._closed

    def stats(self) -> TracingStats:
        """Counters of the pipeline (all zero when disabled)."""
        return self._counters.snapshot()

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export everything queued now; blocking, bounded by the exporter timeout.

        Returns:
            True when the flush completed.
        """
        if self.provider is None or self._closed:
            return False
        return bool(self.provider.force_flush(timeout_millis=int(timeout_s * 1000)))

    def shutdown(self, timeout_s: float = 1.0) -> bool:
        """Flush and stop the pipeline, waiting at most ``timeout_s`` seconds.

        Returns:
            True when the pipeline stopped in time; False when it was abandoned
            (its queued spans are lost) or was already stopped.
        """
        if self.provider is None or self._closed:
            return False
        self._closed = True
        atexit.unregister(self.shutdown)
        if _Active.owner is self:
            _Active.tracer = None
            _Active.owner = None
        provider = self.provider
        worker = threading.Thread(
            target=provider.shutdown, name="gait-tracing-shutdown", daemon=True
        )
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            if self._exporter is not None:
                self._exporter.shutdown()
            _log.warning("tracing_shutdown_timeout", timeout_s=timeout_s)
            return False
        return True

    def _activate(self, tracer: Tracer) -> None:
        _Active.tracer = tracer
        _Active.owner = self


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def setup_tracing(
    *,
    exporter: ExporterKind | None = None,
    endpoint: str | None = None,
    service_version: str,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay_ms: float | None = None,
    export_timeout_s: float | None = None,
    console_stream: TextIO | None = None,
    span_exporter: SpanExporter | None = None,
    install_global: bool = True,
) -> TracingHandle:
    """Install the OpenTelemetry SDK for decision spans (CLI and server only).

    Imports the SDK lazily. Standard ``OTEL_*`` variables apply:
    ``OTEL_SDK_DISABLED=true`` returns a disabled handle; with ``exporter`` None,
    ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or ``none``) chooses, and
    unset means disabled; ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``,
    ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER`` and ``OTEL_RESOURCE_ATTRIBUTES`` are
    honoured by the SDK; ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` picks
    ``http/protobuf`` (default) or ``grpc``; ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` name the service (``gait`` when unset).

    Args:
        exporter: ``otlp`` (OTLP over HTTP/protobuf or gRPC), ``console``
            (JSON spans on ``console_stream``, stderr by default) or
            ``memory`` (tests), or None to follow the environment.
        endpoint: collector base URL (``http://host:4318``) or the full traces
            URL; ``/v1/traces`` is appended when missing.
        service_version: ``service.version`` of the resource.
        max_queue_size: spans buffered before new ones are dropped (bounded;
            ``OTEL_BSP_MAX_QUEUE_SIZE`` or 2048 when None).
        max_export_batch_size: spans per export call.
        schedule_delay_ms: delay between two background exports.
        export_timeout_s: per-export timeout of the OTLP exporter.
        console_stream: stream of the console exporter.
        span_exporter: an SDK ``SpanExporter`` of your own (a telemetry sink
            plugin); used instead of ``exporter`` when given.
        install_global: also make this the global tracer provider when none
            is installed yet (the first call of a process wins).

    Returns:
        The :class:`TracingHandle`; call ``shutdown()`` before exiting.

    Raises:
        DependencyMissingError: ``otlp`` was chosen but the extra is absent.
        UsageError: ``OTEL_TRACES_EXPORTER`` names an unsupported exporter.
    """
    if _env_flag("OTEL_SDK_DISABLED"):
        return TracingHandle()
    kind = exporter if exporter is not None else _exporter_from_env()
    if kind is None and span_exporter is None:
        return TracingHandle()
    from ._sdk import build_pipeline

    counters = SpanCounters()
    provider, inner, memory = build_pipeline(
        kind,
        counters,
        endpoint=endpoint,
        service_version=service_version,
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        schedule_delay_ms=schedule_delay_ms,
        export_timeout_s=export_timeout_s,
        console_stream=console_stream,
        span_exporter=span_exporter,
    )
    handle = TracingHandle(
        provider=provider, exporter=inner, memory_exporter=memory, counters=counters
    )
    handle._activate(provider.get_tracer(INSTRUMENTATION_NAME, service_version))
    if install_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return handle


def _exporter_from_env() -> ExporterKind | None:
    value = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if value in ("", "none"):
        return None
    if value in ("otlp", "otlp_proto_http"):
        return "otlp"
    if value == "console":
        return "console"
    raise UsageError(
        f"OTEL_TRACES_EXPORTER={value!r} is not supported (use otlp, console or none)",
        code="otel_exporter_unsupported",
    )
