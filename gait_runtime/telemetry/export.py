"""Go-compatible decision export files and the service that writes them.

Owns:

* the two JSONL line formats of ``spec/otel.md``: the plain decision log
  (§4: Go struct field order, ``omitempty`` rules, ``created_at`` in Go
  RFC3339Nano, the observed time when the caller gave none) and the OTEL-style record (§3: sorted keys, every attribute
  present, ``time_unix_nano`` from the deterministic ``created_at``), both
  encoded the way Go's ``encoding/json`` does (compact, ``<``, ``>``, ``&``,
  U+2028 and U+2029 escaped);
* :class:`DecisionExporter`, an anyio service fed through a bounded memory
  object stream. :meth:`DecisionExporter.submit_nowait` never blocks: when the
  queue is full the record is dropped and counted. The service appends each
  line with :func:`append_line_locked` in a worker thread.

Divergence from the Go implementation (documented in ``docs/observability.md``):
Go turns an export write failure into an error of the whole call; here exports
are best-effort. A failure is logged and counted and never changes or delays a
decision. Does not own: the span export (``otel.py``) or metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final, TypedDict

import anyio
import anyio.abc
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..artifacts.fsutil import reject_parent_traversal
from ..artifacts.gojson import go_json
from ..artifacts.timefmt import format_ns, parse_rfc3339
from ..errors import GaitError
from ._append import (
    LOCK_RETRY_S,
    LOCK_STALE_AFTER_S,
    LOCK_TIMEOUT_S,
    append_line_locked,
)
from ._record import (
    DECISION_EVENT_NAME,
    DecisionAttributes,
    created_at_unix_ns,
    export_attributes,
    operational_time,
)

__all__ = [
    "DEFAULT_DRAIN_TIMEOUT_S",
    "DEFAULT_EXPORT_QUEUE_SIZE",
    "DecisionExporter",
    "ExporterStats",
    "append_line_locked",
    "decision_log_line",
    "decision_otel_line",
]

DEFAULT_EXPORT_QUEUE_SIZE: Final = 1024
"""Records waiting to be written; one more is dropped and counted."""
DEFAULT_DRAIN_TIMEOUT_S: Final = 5.0
"""On shutdown, queued records are written for at most this long, then dropped."""

_log = structlog.get_logger("gait_runtime.telemetry.export")


def decision_log_line(record: DecisionAttributes, *, producer_version: str) -> bytes:
    """One plain decision-log record (``spec/otel.md`` §4), without the newline.

    ``created_at`` is an operational time here: the caller's ``created_at`` when
    it gave one, else the observed decision time (``record.observed_at``), and
    the Go default 1980 timestamp only when neither is known. The OTEL-style
    record keeps the deterministic time (its locked contract).

    Raises:
        ArtifactInputError: ``record.created_at`` is not RFC 3339 text.
    """
    when = parse_rfc3339(operational_time(record), field="created_at").unix_ns
    doc: dict[str, object] = {
        "created_at": format_ns(when),
        "producer_version": producer_version,
        "run_id": record.run_id,
    }
    if record.session_id:
        doc["session_id"] = record.session_id
    doc["trace_id"] = record.trace_id
    if record.trace_path:
        doc["trace_path"] = record.trace_path
    doc["tool_name"] = record.tool_name
    doc["verdict"] = record.verdict
    if record.reason_codes:
        doc["reason_codes"] = sorted(record.reason_codes)
    doc["policy_digest"] = record.policy_digest
    doc["intent_digest"] = record.intent_digest
    if record.decision_latency_ms:
        doc["decision_latency_ms"] = int(record.decision_latency_ms)
    if record.delegation_ref:
        doc["delegation_ref"] = record.delegation_ref
    if record.delegation_depth:
        doc["delegation_depth"] = int(record.delegation_depth)
    return go_json(doc)


def decision_otel_line(record: DecisionAttributes) -> bytes:
    """One OTEL-style decision record (``spec/otel.md`` §3), without the newline.

    Raises:
        ArtifactInputError: ``record.created_at`` is not RFC 3339 text.
    """
    doc = {
        "attributes": export_attributes(record),
        "body": DECISION_EVENT_NAME,
        "severity_text": "INFO",
        "time_unix_nano": created_at_unix_ns(record),
        "trace_id": record.trace_id,
    }
    return go_json(doc)


class ExporterStats(TypedDict):
    """Counters of a :class:`DecisionExporter`.

    Attributes:
        queued: records waiting in the queue now.
        written: lines appended successfully (a record makes one per stream).
        dropped: records refused because the queue was full or closed, or left
            unwritten when the shutdown drain ran out of time.
        errors: lines that could not be written (lock timeout, I/O error,
            unencodable record).
    """

    queued: int
    written: int
    dropped: int
    errors: int


class DecisionExporter:
    """Writes decision records to the plain-log and OTEL-style JSONL files.

    Start it in a task group with ``await tg.start(exporter.run)``; feed it with
    :meth:`submit_nowait`; stop it with :meth:`close` (drains the queue, then
    :meth:`run` returns) or by cancelling the task group (drains for at most
    ``drain_timeout`` seconds, shielded).

    Args:
        log_path: plain decision log (``--export-log-out``), or None.
        otel_path: OTEL-style JSONL (``--export-otel-out``), or None.
        producer_version: ``producer_version`` of plain-log records.
        max_queue: records buffered before :meth:`submit_nowait` drops.
        drain_timeout: seconds allowed to write queued records on cancellation.
        lock_timeout: seconds to wait for a file lock before counting an error.
        lock_retry: seconds between lock attempts.
        lock_stale_after: lock files older than this (mtime) are removed.

    Raises:
        ArtifactInputError: a relative path traverses ``..``.
    """

    def __init__(
        self,
        *,
        log_path: Path | str | None = None,
        otel_path: Path | str | None = None,
        producer_version: str,
        max_queue: int = DEFAULT_EXPORT_QUEUE_SIZE,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT_S,
        lock_timeout: float = LOCK_TIMEOUT_S,
        lock_retry: float = LOCK_RETRY_S,
        lock_stale_after: float = LOCK_STALE_AFTER_S,
    ) -> None:
        for path in (log_path, otel_path):
            if path is not None:
                reject_parent_traversal(str(path), "export path")
        self.log_path = Path(log_path) if log_path is not None else None
        self.otel_path = Path(otel_path) if otel_path is not None else None
        self.producer_version = producer_version
        self._drain_timeout = drain_timeout
        self._lock_timeout = lock_timeout
        self._lock_retry = lock_retry
        self._lock_stale_after = lock_stale_after
        send, receive = anyio.create_memory_object_stream[DecisionAttributes](max_queue)
        self._send: MemoryObjectSendStream[DecisionAttributes] = send
        self._receive: MemoryObjectReceiveStream[DecisionAttributes] = receive
        self._written = 0
        self._dropped = 0
        self._errors = 0

    def submit_nowait(self, record: DecisionAttributes) -> bool:
        """Queue ``record`` for writing; never blocks and never raises.

        Call it from the event loop's thread (any task); from a worker thread
        use ``anyio.from_thread.run_sync(exporter.submit_nowait, record)``.

        Returns:
            True when queued; False when dropped (queue full or exporter closed).
        """
        try:
            self._send.send_nowait(record)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._dropped += 1
            return False
        return True

    def stats(self) -> ExporterStats:
        """Current counters; cheap and safe to call from any task of this event loop."""
        return ExporterStats(
            queued=self._send.statistics().current_buffer_used,
            written=self._written,
            dropped=self._dropped,
            errors=self._errors,
        )

    def close(self) -> None:
        """Stop accepting records; :meth:`run` writes what is queued and returns."""
        self._send.close()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Write queued records until :meth:`close` or cancellation.

        Args:
            task_status: reports readiness to ``TaskGroup.start``.
        """
        with self._receive:
            task_status.started()
            try:
                async for record in self._receive:
                    await self._write(record)
            finally:
                self._send.close()
                await self._drain()

    async def _drain(self) -> None:
        with anyio.move_on_after(self._drain_timeout, shield=True):
            while True:
                try:
                    record = self._receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    return
                await self._write(record)
        leftover = self._receive.statistics().current_buffer_used
        self._dropped += leftover
        if leftover:
            _log.warning("export_drain_incomplete", dropped=leftover)

    async def _write(self, record: DecisionAttributes) -> None:
        try:
            lines = self._lines(record)
        except GaitError as exc:
            self._errors += len(self._targets())
            _log.warning("export_record_invalid", error=str(exc), run_id=record.run_id)
            return
        # A record taken off the queue is written even if cancellation arrives
        # now: the thread could not be interrupted anyway, and the wait is
        # bounded by the lock timeout.
        with anyio.CancelScope(shield=True):
            ok, failed = await anyio.to_thread.run_sync(self._append_all, lines)
        self._written += ok
        self._errors += failed

    def _targets(self) -> list[Path]:
        return [p for p in (self.log_path, self.otel_path) if p is not None]

    def _lines(self, record: DecisionAttributes) -> list[tuple[Path, bytes]]:
        lines: list[tuple[Path, bytes]] = []
        if self.log_path is not None:
            lines.append(
                (self.log_path, decision_log_line(record, producer_version=self.producer_version))
            )
        if self.otel_path is not None:
            lines.append((self.otel_path, decision_otel_line(record)))
        return lines

    def _append_all(self, lines: Sequence[tuple[Path, bytes]]) -> tuple[int, int]:
        ok = failed = 0
        for path, line in lines:
            try:
                append_line_locked(
                    path,
                    line,
                    timeout=self._lock_timeout,
                    retry=self._lock_retry,
                    stale_after=self._lock_stale_after,
                )
            except GaitError as exc:
                failed += 1
                _log.warning(
                    "export_write_failed", path=str(path), error=str(exc), code=exc.error_code
                )
            except (OSError, ValueError) as exc:
                failed += 1
                _log.warning("export_write_failed", path=str(path), error=str(exc))
            else:
                ok += 1
        return ok, failed
