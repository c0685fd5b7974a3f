"""Observability of gait-runtime: logs, decision spans, export files, metrics.

Everything here is optional and lossy: it never blocks, changes or fails a
decision. Importing this package loads ``structlog``, ``opentelemetry-api``,
``anyio`` and ``prometheus-client`` but never the OpenTelemetry SDK, which
:func:`setup_tracing` imports on demand.

Modules: ``logging`` (structlog chain), ``otel`` (decision spans, SDK switch),
``export`` (Go-compatible JSONL files and the exporter service), ``metrics``
(Prometheus registry).
"""

from __future__ import annotations

from ._record import DecisionAttributes as DecisionAttributes
from .export import DecisionExporter as DecisionExporter
from .export import ExporterStats as ExporterStats
from .export import append_line_locked as append_line_locked
from .export import decision_log_line as decision_log_line
from .export import decision_otel_line as decision_otel_line
from .logging import bind_ids as bind_ids
from .logging import configure_logging as configure_logging
from .logging import get_logger as get_logger
from .logging import reset_logging as reset_logging
from .metrics import Metrics as Metrics
from .otel import DecisionSpan as DecisionSpan
from .otel import TracingHandle as TracingHandle
from .otel import TracingStats as TracingStats
from .otel import decision_span as decision_span
from .otel import extract_context as extract_context
from .otel import inject_traceparent as inject_traceparent
from .otel import journal_append_span as journal_append_span
from .otel import setup_tracing as setup_tracing
from .otel import trace_sign_span as trace_sign_span

__all__ = [
    "DecisionAttributes",
    "DecisionExporter",
    "DecisionSpan",
    "ExporterStats",
    "Metrics",
    "TracingHandle",
    "TracingStats",
    "append_line_locked",
    "bind_ids",
    "configure_logging",
    "decision_log_line",
    "decision_otel_line",
    "decision_span",
    "extract_context",
    "get_logger",
    "inject_traceparent",
    "journal_append_span",
    "reset_logging",
    "setup_tracing",
    "trace_sign_span",
]
