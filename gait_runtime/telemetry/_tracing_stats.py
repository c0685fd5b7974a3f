"""Counters of the span export pipeline, shared by :mod:`.otel` and the lazily imported SDK part.

Owns: :class:`TracingStats` (what the pipeline lost or delivered),
:class:`SpanCounters` (the thread-safe counters behind it) and the
:data:`ExporterKind` names. Lives apart so that ``_sdk`` (imported only when
tracing is switched on) and ``otel`` need not import each other.
"""

from __future__ import annotations

import threading
from typing import Literal, TypedDict

__all__ = ["ExporterKind", "SpanCounters", "TracingStats"]

ExporterKind = Literal["otlp", "console", "memory"]
"""Span exporters :func:`~.otel.setup_tracing` can install."""


class TracingStats(TypedDict):
    """What the SDK pipeline lost or delivered since :func:`setup_tracing`.

    Attributes:
        spans_exported: spans the exporter accepted.
        spans_dropped: spans lost: refused by the full queue, ended after
            shutdown, or part of a batch whose export failed.
        export_errors: export calls that failed (collector down, timeout, error).
    """

    spans_exported: int
    spans_dropped: int
    export_errors: int


class SpanCounters:
    """Thread-safe counters shared by the SDK pipeline pieces and the handle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans_exported = 0
        self.spans_dropped = 0
        self.export_errors = 0

    def add(self, *, exported: int = 0, dropped: int = 0, errors: int = 0) -> None:
        with self._lock:
            self.spans_exported += exported
            self.spans_dropped += dropped
            self.export_errors += errors

    def snapshot(self) -> TracingStats:
        with self._lock:
            return TracingStats(
                spans_exported=self.spans_exported,
                spans_dropped=self.spans_dropped,
                export_errors=self.export_errors,
            )
