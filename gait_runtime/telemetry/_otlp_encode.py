"""A direct OTLP protobuf encoder for finished spans, and the exporter that uses it.

Owns: :func:`encode_spans_request`, which writes an ``ExportTraceServiceRequest``
straight to protobuf wire bytes (no intermediate message objects), and
:class:`FastOTLPSpanExporter`, the SDK's OTLP/HTTP exporter with that encoder
in place of the generic one. The bytes decode to the same message the SDK's
encoder builds (the tests compare them field by field); the gain is CPU: a
decision span carries seventeen attributes and a decision event with the same
seventeen, which the generic encoder builds twice as message objects, while
this one writes them once and reuses the bytes for the event. Field numbers
follow ``opentelemetry/proto/trace/v1/trace.proto`` and ``common.proto``.

Imported only with the ``otlp`` extra, by the SDK pipeline. Does not own: HTTP,
retries, headers or timeouts (the SDK exporter's client keeps them).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.util.types import AttributeValue

__all__ = ["FastOTLPSpanExporter", "encode_spans_request"]

_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
_FIXED64: Final = struct.Struct("<Q")
_FIXED32: Final = struct.Struct("<I")
_DOUBLE: Final = struct.Struct("<d")
_KEY_CACHE: dict[str, bytes] = {}
_KEY_CACHE_MAX: Final = 4096


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2); ``tag`` is ``field_number << 3 | 2``."""
    size = len(payload)
    if size < 0x80:
        return bytes((tag, size)) + payload
    return bytes((tag,)) + _varint(size) + payload


def _key(key: str) -> bytes:
    cached = _KEY_CACHE.get(key)
    if cached is None:
        cached = _field(0x0A, key.encode())
        if len(_KEY_CACHE) < _KEY_CACHE_MAX:
            _KEY_CACHE[key] = cached
    return cached


def _any_value(value: object) -> bytes:
    if isinstance(value, str):
        return _field(0x0A, value.encode())
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return _field(0x3A, value)
    if isinstance(value, Mapping):
        pairs = b"".join(
            _field(0x0A, _key(str(k)) + _field(0x12, _any_value(v))) for k, v in value.items()
        )
        return _field(0x32, pairs)
    if isinstance(value, Sequence):
        items = b"".join(_field(0x0A, _any_value(item)) for item in value)
        return _field(0x2A, items)
    return b""


def _plain(attributes: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    """The SDK's attribute mapping keeps a plain dict inside; iterating that is faster."""
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else attributes


def _attributes(tag: int, attributes: Mapping[str, AttributeValue] | None) -> bytes:
    if not attributes:
        return b""
    parts = []
    for key, value in _plain(attributes).items():
        plain = type(value) is str
        value_bytes = _field(0x0A, value.encode()) if plain else _any_value(value)  # type: ignore[union-attr]  # a str here
        parts.append(_field(tag, _key(key) + _field(0x12, value_bytes)))
    return b"".join(parts)


def _span(span: ReadableSpan) -> bytes:
    ctx = span.get_span_context()
    assert ctx is not None
    attributes = span.attributes
    encoded_attrs = _attributes(0x4A, attributes)
    out = [
        _field(0x0A, ctx.trace_id.to_bytes(16, "big")),
        _field(0x12, ctx.span_id.to_bytes(8, "big")),
    ]
    if ctx.trace_state:
        out.append(_field(0x1A, ctx.trace_state.to_header().encode()))
    parent = span.parent
    if parent is not None:
        out.append(_field(0x22, parent.span_id.to_bytes(8, "big")))
    out.append(_field(0x2A, span.name.encode()))
    out.append(b"\x30" + _varint(span.kind.value + 1))
    out.append(b"\x39" + _FIXED64.pack(span.start_time or 0))
    out.append(b"\x41" + _FIXED64.pack(span.end_time or 0))
    out.append(encoded_attrs)
    if span.dropped_attributes:
        out.append(b"\x50" + _varint(span.dropped_attributes))
    for event in span.events:
        event_attrs = event.attributes
        if event_attrs is not None and (
            event_attrs is attributes
            or (attributes is not None and _plain(event_attrs) == _plain(attributes))
        ):
            # Same keys, values and order: reuse the span's bytes (field 3 of Event
            # and field 9 of Span share the KeyValue encoding, only the tag differs).
            body = _retag(encoded_attrs, event_attrs)
        else:
            body = _attributes(0x1A, event_attrs)
        payload = b"\x09" + _FIXED64.pack(event.timestamp) + _field(0x12, event.name.encode())
        payload += body
        if event.dropped_attributes:
            payload += b"\x20" + _varint(event.dropped_attributes)
        out.append(_field(0x5A, payload))
    if span.dropped_events:
        out.append(b"\x60" + _varint(span.dropped_events))
    for link in span.links:
        lctx = link.context
        payload = _field(0x0A, lctx.trace_id.to_bytes(16, "big")) + _field(
            0x12, lctx.span_id.to_bytes(8, "big")
        )
        # Like the SDK's encoder, a link carries no trace state.
        payload += _attributes(0x22, link.attributes)
        if link.dropped_attributes:
            payload += b"\x28" + _varint(link.dropped_attributes)
        flags = _HAS_IS_REMOTE | (_IS_REMOTE if lctx.is_remote else 0)
        payload += b"\x35" + _FIXED32.pack(flags)
        out.append(_field(0x6A, payload))
    if span.dropped_links:
        out.append(b"\x70" + _varint(span.dropped_links))
    status = span.status
    status_body = b""
    if status.description:
        status_body += _field(0x12, status.description.encode())
    if status.status_code.value:
        status_body += b"\x18" + _varint(status.status_code.value)
    out.append(_field(0x7A, status_body))
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    out.append(b"\x85\x01" + _FIXED32.pack(flags))
    return b"".join(out)


def _retag(span_attrs: bytes, attributes: Mapping[str, AttributeValue]) -> bytes:
    """The span's encoded attributes (tag 9) rewritten for an event (tag 3).

    Each KeyValue starts with a one-byte tag; walking the known lengths swaps it
    without re-encoding any value.
    """
    out = bytearray(span_attrs)
    pos = 0
    for _ in range(len(attributes)):
        out[pos] = 0x1A
        pos += 1
        length, pos = _read_varint(out, pos)
        pos += length
    return bytes(out)


def _read_varint(data: bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def encode_spans_request(spans: Sequence[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest`` holding ``spans``, as protobuf wire bytes.

    Spans are grouped by resource and instrumentation scope, in first-seen
    order, as the SDK's encoder groups them.
    """
    groups: dict[int, tuple[ReadableSpan, dict[int, tuple[ReadableSpan, list[bytes]]]]] = {}
    for span in spans:
        resource_key = id(span.resource)
        entry = groups.get(resource_key)
        if entry is None:
            entry = (span, {})
            groups[resource_key] = entry
        scopes = entry[1]
        scope_key = id(span.instrumentation_scope)
        scope_entry = scopes.get(scope_key)
        if scope_entry is None:
            scope_entry = (span, [])
            scopes[scope_key] = scope_entry
        scope_entry[1].append(_span(span))
    out = []
    for first, scopes in groups.values():
        resource = first.resource
        body = _field(0x0A, _attributes(0x0A, resource.attributes))
        for scope_first, encoded in scopes.values():
            scope = scope_first.instrumentation_scope
            scope_body = b""
            if scope is not None:
                scope_msg = _field(0x0A, scope.name.encode()) if scope.name else b""
                if scope.version:
                    scope_msg += _field(0x12, scope.version.encode())
                scope_msg += _attributes(0x1A, scope.attributes)
                scope_body = _field(0x0A, scope_msg)
            scope_body += b"".join(_field(0x12, span_bytes) for span_bytes in encoded)
            if scope is not None and scope.schema_url:
                scope_body += _field(0x1A, scope.schema_url.encode())
            body += _field(0x12, scope_body)
        if resource.schema_url:
            body += _field(0x1A, resource.schema_url.encode())
        out.append(_field(0x0A, body))
    return b"".join(out)


class FastOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter with :func:`encode_spans_request` as encoder.

    Endpoint, headers, timeout, compression, retries and the ``OTEL_EXPORTER_OTLP_*``
    variables are the SDK exporter's. When its HTTP client is not where this
    class expects it (another SDK version), it falls back to the SDK's own
    encoder, so export still works, only slower.
    """

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Encode ``spans`` and POST them; a failure is a FAILURE result, never raised."""
        client = getattr(self, "_client", None)
        if getattr(self, "_shutdown", False) or client is None or not hasattr(client, "export"):
            return super().export(spans)
        try:
            data = encode_spans_request(spans)
        except Exception:  # an unexpected span shape: let the SDK encoder handle the batch
            return super().export(spans)
        result = client.export(data)
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE
