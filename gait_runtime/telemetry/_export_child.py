"""The exporter child process behind :class:`~._export_process.ProcessSpanExporter`.

Owns: reading the hello frame (resource attributes, endpoint, timeout), building the
SDK's OTLP exporter the inherited ``OTEL_*`` variables ask for, and for every batch
frame rebuilding the SDK's ``ReadableSpan`` objects and exporting them, answering one
byte (``1`` delivered, ``0`` failed). Exits when its stdin closes, after shutting the
exporter down. Run as ``python -m gait_runtime.telemetry._export_child``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from ._export_process import ANSWER_FAILED, ANSWER_OK, read_frame
from ._sdk import make_otlp_exporter

__all__: list[str] = []


def _rebuild(values: list[Any], resource: Any) -> ReadableSpan:
    from opentelemetry.sdk.trace import Event
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
    from opentelemetry.trace.span import TraceFlags, TraceState

    def ctx(raw: list[Any] | None) -> SpanContext | None:
        if raw is None:
            return None
        trace_id, span_id, flags, remote, state = raw
        return SpanContext(
            int.from_bytes(trace_id, "big"),
            span_id,
            is_remote=remote,
            trace_flags=TraceFlags(flags),
            trace_state=TraceState([tuple(pair) for pair in state]),
        )

    name, context, parent, kind, start, end, attributes, events, links, status, scope = values
    return ReadableSpan(
        name=name,
        context=ctx(context),
        parent=ctx(parent),
        resource=resource,
        attributes=attributes,
        events=[Event(e_name, e_attrs, timestamp=e_ts) for e_name, e_ts, e_attrs in events],
        links=[Link(ctx(l_ctx), l_attrs) for l_ctx, l_attrs in links],  # type: ignore[arg-type]
        kind=SpanKind(kind),
        status=Status(StatusCode(status[0]), status[1] or None),
        start_time=start,
        end_time=end,
        instrumentation_scope=(
            InstrumentationScope(scope[0], scope[1] or None, scope[2] or None) if scope else None
        ),
    )


def _child_main() -> int:
    """Read the hello frame, build the OTLP exporter, then export every batch frame."""
    from opentelemetry.sdk.resources import Resource

    stdin, stdout = sys.stdin.buffer.fileno(), sys.stdout.buffer.fileno()
    hello = read_frame(stdin)
    if hello is None:
        return 0
    attributes, endpoint, timeout = msgspec.msgpack.decode(hello)
    resource = Resource(attributes)
    exporter = make_otlp_exporter(endpoint or None, timeout or None)
    decoder = msgspec.msgpack.Decoder()
    try:
        while True:
            frame = read_frame(stdin)
            if frame is None:
                return 0
            try:
                spans = [_rebuild(values, resource) for values in decoder.decode(frame)]
                result = exporter.export(spans)
            except Exception:  # telemetry boundary: a bad batch fails, the child goes on
                result = SpanExportResult.FAILURE
            os.write(stdout, ANSWER_OK if result is SpanExportResult.SUCCESS else ANSWER_FAILED)
    finally:
        exporter.shutdown()


if __name__ == "__main__":
    raise SystemExit(_child_main())
