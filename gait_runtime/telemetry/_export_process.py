"""OTLP span export in a child process: encoding and sending off the decision process.

Owns: :class:`ProcessSpanExporter`, the SDK ``SpanExporter`` the batch processor
calls in the server: it turns each finished span into plain values (names, ids,
times, attributes, events, status), sends a batch as one length-prefixed msgpack
frame to a child ``python -m gait_runtime.telemetry._export_child`` and waits
for that child's one-byte answer, so success, failure and ``force_flush`` mean
what they mean in-process. The child rebuilds the SDK's ``ReadableSpan`` objects
and hands them to the SDK's own OTLP exporter (HTTP/protobuf or gRPC, chosen by
the same ``OTEL_*`` variables, which it inherits). Protobuf encoding and the
HTTP client were most of tracing's CPU, and in-process they share the
interpreter lock with decisions.

A child that died (or never started) fails the batch (counted as dropped by the
caller) and is started again on the next batch, at most once a second. Does not
own: the spans themselves or the batch processor (``_sdk.py``).
"""

from __future__ import annotations

import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["ANSWER_FAILED", "ANSWER_OK", "ProcessSpanExporter", "read_frame", "span_values"]

_HEADER: Final = struct.Struct(">I")
ANSWER_OK: Final = b"\x01"
ANSWER_FAILED: Final = b"\x00"
_RESTART_S: Final = 1.0
_ENCODER: Final = msgspec.msgpack.Encoder()


def _ctx(context: Any) -> list[Any] | None:
    if context is None:
        return None
    state = list(context.trace_state.items()) if context.trace_state else []
    return [
        context.trace_id.to_bytes(16, "big"),  # msgpack integers stop at 64 bits
        context.span_id,
        int(context.trace_flags),
        bool(context.is_remote),
        state,
    ]


def span_values(span: ReadableSpan) -> list[Any]:
    """The plain values of one finished span (what the child needs to rebuild it)."""
    scope = span.instrumentation_scope
    return [
        span.name,
        _ctx(span.context),
        _ctx(span.parent),
        int(span.kind.value),
        span.start_time,
        span.end_time,
        dict(span.attributes or {}),
        [[e.name, e.timestamp, dict(e.attributes or {})] for e in span.events],
        [[_ctx(link.context), dict(link.attributes or {})] for link in span.links],
        [int(span.status.status_code.value), span.status.description or ""],
        [scope.name, scope.version or "", scope.schema_url or ""] if scope else None,
    ]


class ProcessSpanExporter(SpanExporter):
    """Send finished spans to an exporter child process (see the module docstring).

    Args:
        resource_attributes: the provider's resource (sent once to the child).
        endpoint: the collector URL or host:port (as ``setup_tracing`` takes it).
        export_timeout_s: the child exporter's per-export timeout.
        answer_timeout_s: how long one batch may take in the child before it is failed.
        restart_s: least time between two starts of the child.
    """

    def __init__(
        self,
        resource_attributes: dict[str, Any],
        *,
        endpoint: str | None,
        export_timeout_s: float | None,
        answer_timeout_s: float = 30.0,
        restart_s: float = _RESTART_S,
    ) -> None:
        self._restart_s = restart_s
        self._hello = _ENCODER.encode(
            [dict(resource_attributes), endpoint or "", export_timeout_s or 0.0]
        )
        self._answer_timeout_s = answer_timeout_s
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._last_start = 0.0
        self._closed = False
        self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (None when it is not running)."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def _start(self) -> None:
        self._last_start = time.monotonic()
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "gait_runtime.telemetry._export_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        except OSError:
            self._child = None
            return
        assert child.stdin is not None
        try:
            _write_frame(child.stdin.fileno(), self._hello)
        except OSError:
            child.kill()
            child.wait()
            self._child = None
            return
        self._child = child

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        frame = _ENCODER.encode([span_values(span) for span in spans])
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            child = self._child
            if child is None or child.poll() is not None:
                if time.monotonic() - self._last_start < self._restart_s:
                    return SpanExportResult.FAILURE
                self._reap()
                self._start()
                child = self._child
                if child is None:
                    return SpanExportResult.FAILURE
            assert child.stdin is not None and child.stdout is not None
            try:
                _write_frame(child.stdin.fileno(), frame)
                answer = _read_exact(child.stdout.fileno(), 1, self._answer_timeout_s)
            except (OSError, TimeoutError):
                self._reap()
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if answer == ANSWER_OK else SpanExportResult.FAILURE

    def _reap(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        try:
            child.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def shutdown(self) -> None:
        self._closed = True
        if self._lock.acquire(timeout=0.1):
            try:
                self._reap()  # closing its stdin makes the child shut its exporter down
            finally:
                self._lock.release()
            return
        # A batch is in flight (the child may be retrying a dead collector): abandon it;
        # the export waiting on the child's answer sees the pipe close and fails.
        child = self._child
        if child is not None:
            child.kill()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export waits for the child's answer


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int, timeout_s: float | None = None) -> bytes:
    """Read exactly ``size`` bytes; ``b""`` at end of stream before any byte."""
    if timeout_s is not None:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            if not selector.select(timeout_s):
                raise TimeoutError("span exporter process did not answer")
    chunks = bytearray()
    while len(chunks) < size:
        data = os.read(fd, size - len(chunks))
        if not data:
            if chunks:
                raise OSError("span exporter process closed its pipe mid-frame")
            return b""
        chunks += data
    return bytes(chunks)


def read_frame(fd: int) -> bytes | None:
    """One length-prefixed frame; None at end of stream."""
    header = _read_exact(fd, _HEADER.size)
    if not header:
        return None
    (size,) = _HEADER.unpack(header)
    return _read_exact(fd, size)
