"""Decision spans through the OpenTelemetry API, and the lazy SDK switch.

Owns: the ``SERVER`` span of one HTTP request (:func:`http_server_span`, HTTP
semantic conventions), the ``gait.gate.decision`` span (``spec/otel.md`` §5) —
its child when the decision came over HTTP — with its child spans
``gait.journal.append`` and ``gait.trace.sign``; context extraction and
injection through the propagators ``OTEL_PROPAGATORS`` configures (W3C trace
context and baggage by default); :func:`setup_tracing`, which the CLI or server calls
once to install the SDK; and :class:`TracingHandle`, which flushes, shuts down
and reports what the SDK dropped.

This module imports only ``opentelemetry-api``. The SDK switch
(:func:`setup_tracing`, :class:`TracingHandle`) lives in ``_tracing_setup.py``
and is re-exported here; it imports the SDK on first use, so a library user who never enables tracing
never loads it. Without an installed provider every span here is a no-op.
Telemetry is lossy: nothing here blocks or fails a decision. Does not own: the
JSONL export files (``export.py``) or metrics (``metrics.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import structlog
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from ._record import (
    DECISION_EVENT_NAME,
    AttributeValue,
    DecisionAttributes,
    span_attributes,
)
from ._tracing_setup import INSTRUMENTATION_NAME, _Active
from ._tracing_setup import TracingHandle as TracingHandle
from ._tracing_setup import setup_tracing as setup_tracing
from ._tracing_stats import ExporterKind as ExporterKind
from ._tracing_stats import TracingStats as TracingStats

__all__ = [
    "DECISION_SPAN_NAME",
    "JOURNAL_APPEND_SPAN_NAME",
    "TRACE_SIGN_SPAN_NAME",
    "DecisionAttributes",
    "DecisionSpan",
    "ExporterKind",
    "TracingHandle",
    "TracingStats",
    "decision_span",
    "extract_context",
    "http_server_span",
    "inject_traceparent",
    "journal_append_span",
    "setup_tracing",
    "trace_sign_span",
]

DECISION_SPAN_NAME: Final = "gait.gate.decision"
JOURNAL_APPEND_SPAN_NAME: Final = "gait.journal.append"
TRACE_SIGN_SPAN_NAME: Final = "gait.trace.sign"


_log = structlog.get_logger("gait_runtime.telemetry.otel")
_OK: Final = Status(StatusCode.OK)


class _Global:
    """The tracer of the global provider, looked up once per provider."""

    provider: object | None = None
    tracer: Tracer | None = None


def _tracer() -> Tracer:
    if _Active.tracer is not None:
        return _Active.tracer
    provider = trace.get_tracer_provider()
    if _Global.provider is not provider or _Global.tracer is None:
        _Global.tracer = provider.get_tracer(INSTRUMENTATION_NAME)
        _Global.provider = provider
    return _Global.tracer


def _tracing_off() -> bool:
    """No SDK anywhere: every span would be the current one again (the API's no-op)."""
    return _Active.tracer is None and isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider
    )


# --------------------------------------------------------------------------- propagation


def extract_context(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The caller's context from a W3C ``traceparent`` (and ``tracestate``) header.

    Returns:
        A context whose current span is the caller's, or None when no valid
        ``traceparent`` was given (the decision span then starts a new trace).
    """
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return extract_headers(carrier)


def extract_headers(headers: Mapping[str, str]) -> Context | None:
    """The caller's context from request headers (lower-case names), through the
    configured propagators; None when they carry no valid span context."""
    if "traceparent" not in headers:
        return None
    ctx = propagate.extract(headers)
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx


def inject_traceparent(
    carrier: dict[str, str] | None = None, *, context: Context | None = None
) -> dict[str, str]:
    """Write ``traceparent`` (and ``tracestate``) for the current span into ``carrier``.

    Args:
        carrier: headers to add to; a new dict when None.
        context: the context to inject; the current one when None.

    Returns:
        The carrier, unchanged when there is no valid current span.
    """
    out = {} if carrier is None else carrier
    propagate.inject(out, context=context)
    return out


class HTTPSpan:
    """The live ``SERVER`` span of one HTTP request (see :func:`http_server_span`)."""

    __slots__ = ("span", "status")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.status = 0

    def set_status_code(self, status: int) -> None:
        """Record the response status (``http.response.status_code``)."""
        self.status = status


@contextmanager
def http_server_span(
    method: str,
    route: str | None,
    *,
    path: str,
    headers: Mapping[str, str],
    scheme: str = "http",
    client: tuple[str, int] | None = None,
    server: tuple[str, int] | None = None,
    protocol_version: str = "",
) -> Iterator[HTTPSpan]:
    """A ``SERVER`` span around one HTTP request; spans started inside are its children.

    Named ``{method} {route}`` (the method alone for an unknown route), with the
    HTTP semantic-convention attributes; the caller's context (``traceparent``)
    is its parent. Status ERROR for a 5xx answer or an exception, else unset.
    """
    if "traceparent" not in headers and _tracing_off():
        # Nothing records and no caller context to carry: skip the no-op tracer's
        # context switches (about 10 µs a request).
        yield HTTPSpan(trace.INVALID_SPAN)
        return
    attrs: dict[str, AttributeValue] = {
        "http.request.method": method,
        "url.path": path,
        "url.scheme": scheme,
    }
    if route:
        attrs["http.route"] = route
    if server is not None:
        attrs["server.address"], attrs["server.port"] = server[0], int(server[1])
    if client is not None:
        attrs["client.address"], attrs["network.peer.port"] = client[0], int(client[1])
    if protocol_version:
        attrs["network.protocol.version"] = protocol_version
    agent = headers.get("user-agent")
    if agent:
        attrs["user_agent.original"] = agent
    with _tracer().start_as_current_span(
        f"{method} {route}" if route else method,
        context=extract_headers(headers),
        kind=SpanKind.SERVER,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        handle = HTTPSpan(span)
        try:
            yield handle
        except BaseException as exc:
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            if handle.status and span.is_recording():
                span.set_attribute("http.response.status_code", handle.status)
                if handle.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


# --------------------------------------------------------------------------- spans


class DecisionSpan:
    """The live ``gait.gate.decision`` span handed out by :func:`decision_span`.

    Args:
        span: the underlying API span.
        surface: surface named at the start; used when the record names none.
    """

    __slots__ = ("_decided", "_surface", "span")

    def __init__(self, span: Span, surface: str = "") -> None:
        self.span = span
        self._decided = False
        self._surface = surface

    @property
    def decided(self) -> bool:
        """True once :meth:`record` has attached a decision."""
        return self._decided

    def record(self, attrs: DecisionAttributes) -> None:
        """Attach the completed decision: every attribute plus the decision event.

        Never raises; a telemetry failure is logged and dropped.
        """
        self._decided = True
        if not self.span.is_recording():
            return
        try:
            values = span_attributes(attrs)
            if not attrs.surface and self._surface:
                values["gait.surface"] = self._surface
            self.span.set_attributes(values)
            self.span.add_event(DECISION_EVENT_NAME, values)
        except Exception as exc:  # telemetry boundary: never fail a decision
            _log.warning("decision_span_record_failed", error=repr(exc))

    def traceparent(self) -> dict[str, str]:
        """W3C headers naming this span as the parent of downstream work."""
        return inject_traceparent(context=trace.set_span_in_context(self.span))

    @contextmanager
    def journal_append(self, **attributes: AttributeValue) -> Iterator[Span]:
        """A ``gait.journal.append`` child span of this decision."""
        with _child_span(JOURNAL_APPEND_SPAN_NAME, self.span, attributes) as span:
            yield span

    @contextmanager
    def trace_sign(self, **attributes: AttributeValue) -> Iterator[Span]:
        """A ``gait.trace.sign`` child span of this decision."""
        with _child_span(TRACE_SIGN_SPAN_NAME, self.span, attributes) as span:
            yield span


@contextmanager
def decision_span(
    attrs_or_name: DecisionAttributes | str,
    *,
    traceparent: str | None = None,
    tracestate: str | None = None,
    surface: str = "",
) -> Iterator[DecisionSpan]:
    """One ``gait.gate.decision`` span around the evaluation of one tool call.

    Pass the :class:`DecisionAttributes` when the decision is already known, or
    the tool name when it is not yet, and call :meth:`DecisionSpan.record`
    once it is. The span status is OK for every recorded decision, a ``block``
    included; it is ERROR only when the block exits without a decision (an
    exception, or no :meth:`DecisionSpan.record`). Exceptions propagate.

    Args:
        attrs_or_name: the decision, or the tool name known at the start.
        traceparent: the caller's W3C ``traceparent``; the span becomes its child.
        tracestate: the caller's W3C ``tracestate``.
        surface: ``mcp_proxy``, ``mcp_serve`` or ``gate_eval`` (set early).

    Yields:
        The :class:`DecisionSpan`.
    """
    if traceparent is None and _tracing_off():
        # The no-op tracer would hand back the current span and make it current
        # again; skip that work (about a tenth of a decision's CPU with tracing off).
        handle = DecisionSpan(trace.get_current_span(), surface)
        if isinstance(attrs_or_name, DecisionAttributes):
            handle.record(attrs_or_name)
        yield handle
        return
    start: dict[str, AttributeValue] = {"gen_ai.operation.name": "execute_tool"}
    if surface:
        start["gait.surface"] = surface
    if isinstance(attrs_or_name, str) and attrs_or_name:
        start["gen_ai.tool.name"] = attrs_or_name
        start["gait.tool_name"] = attrs_or_name
    with _tracer().start_as_current_span(
        DECISION_SPAN_NAME,
        # No caller header: the current span (the HTTP SERVER span) is the parent.
        context=extract_context(traceparent, tracestate),
        kind=SpanKind.INTERNAL,
        attributes=start,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        handle = DecisionSpan(span, surface)
        if isinstance(attrs_or_name, DecisionAttributes):
            handle.record(attrs_or_name)
        try:
            yield handle
        except BaseException as exc:
            if handle.decided:
                span.set_status(_OK)
            else:
                if isinstance(exc, Exception):
                    span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"no decision: {type(exc).__name__}"))
            raise
        if handle.decided:
            span.set_status(_OK)
        else:
            span.set_status(Status(StatusCode.ERROR, "no decision produced"))


@contextmanager
def _child_span(
    name: str, parent: Span | None, attributes: Mapping[str, AttributeValue]
) -> Iterator[Span]:
    if parent is None:
        with _tracer().start_as_current_span(
            name, kind=SpanKind.INTERNAL, attributes=dict(attributes)
        ) as span:
            yield span
        return
    # An explicit parent: the child is not made current (nothing nests under it),
    # which saves two context switches per child on the decision path.
    if not parent.is_recording():
        yield trace.INVALID_SPAN
        return
    span = _tracer().start_span(
        name,
        context=trace.set_span_in_context(parent),
        kind=SpanKind.INTERNAL,
        attributes=dict(attributes) if attributes else None,
    )
    try:
        yield span
    finally:
        span.end()


@contextmanager
def journal_append_span(**attributes: AttributeValue) -> Iterator[Span]:
    """A ``gait.journal.append`` span, child of the current span (if any)."""
    with _child_span(JOURNAL_APPEND_SPAN_NAME, None, attributes) as span:
        yield span


@contextmanager
def trace_sign_span(**attributes: AttributeValue) -> Iterator[Span]:
    """A ``gait.trace.sign`` span, child of the current span (if any)."""
    with _child_span(TRACE_SIGN_SPAN_NAME, None, attributes) as span:
        yield span
