"""Go-compatible trace files written from the server trace log, off the reply path.

Owns: :func:`export_step` (write the next lines of the log as ``trace_<id>.json``
files, durable, then persist the cursor ``<log>/export.cursor``), and
:class:`TraceFileExporter`, the background task that runs it after each
group commit (bounded hops, a retry back-off after a failure, counters for
``/v1/health`` and ``/metrics``). ``gait trace export`` runs the same step.
Does not own: the log (:mod:`.trace_log`) or decisions: the exporter never
delays, fails or changes a decision; a decision is durable once its log line is.

An export is idempotent: a file that already exists with the same bytes counts
as exported (a kill between the files and the cursor), one with other bytes is
a failure and the cursor does not pass it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc
import anyio.to_thread

from ...artifacts.fsutil import ensure_dir, fsync_dir, write_atomic
from ...errors import IOFailure
from .trace_log import TraceLog, decode_line, read_lines, segment_paths

__all__ = [
    "CURSOR_NAME",
    "ExportStep",
    "TraceFileExporter",
    "export_cursor_segment",
    "export_step",
    "log_lag_bytes",
]

CURSOR_NAME: Final = "export.cursor"
"""The exporter's persisted position: ``{"segment": "<name>", "offset": <bytes>}``."""

DEFAULT_EXPORT_HOP: Final = 256
"""Most trace files written per worker-thread hop."""

_RETRY_S: Final = 1.0
_FINAL_PASS_S: Final = 5.0


@dataclass(slots=True)
class ExportStep:
    """What one export step did."""

    exported: int = 0
    existing: int = 0
    more: bool = False
    error: str = ""


def _read_cursor(log_dir: Path) -> tuple[str, int]:
    try:
        doc = json.loads((log_dir / CURSOR_NAME).read_bytes())
        return str(doc["segment"]), int(doc["offset"])
    except FileNotFoundError:
        return "", 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IOFailure(f"read export cursor in {log_dir}: {exc}") from None


def export_cursor_segment(log_dir: Path) -> str:
    """The segment name the export cursor is in (``""`` before any export or unreadable)."""
    try:
        return _read_cursor(log_dir)[0]
    except IOFailure:
        return ""


def log_lag_bytes(log_dir: Path) -> int:
    """Bytes of the log after the export cursor (0 when everything is exported)."""
    try:
        name, offset = _read_cursor(log_dir)
        lag = 0
        for segment in segment_paths(log_dir):
            if name and segment.name < name:
                continue
            size = segment.stat().st_size
            lag += size - offset if segment.name == name else size
        return max(lag, 0)
    except (OSError, IOFailure):
        return 0


def _write_file(path: Path, data: bytes) -> bool:
    """Write ``path`` exclusively and durably; ``False`` when it exists with these bytes.

    Raises:
        OSError: the write failed, or the name holds other bytes.
    """
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(6)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            if path.read_bytes() == data:
                return False
            raise OSError(f"{path} exists with other bytes") from None
        return True
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def export_step(
    log_dir: Path,
    trace_dir: Path,
    *,
    limit: int = DEFAULT_EXPORT_HOP,
    durable: tuple[str, int] | None = None,
) -> ExportStep:
    """Export up to ``limit`` lines after the cursor, then persist the cursor (blocking).

    Args:
        log_dir: the trace log directory.
        trace_dir: where the trace files go.
        limit: most lines exported in this step.
        durable: the live log's durable end ``(segment, size)``; nothing past it is read
            (``None``: the log is not being written, read every complete line).

    Raises:
        IOFailure: the log or cursor cannot be read.
    """
    step = ExportStep()
    name, offset = _read_cursor(log_dir)
    segments = [s for s in segment_paths(log_dir) if not name or s.name >= name]
    if durable is not None:
        segments = [s for s in segments if s.name <= durable[0]]
    position: tuple[str, int] | None = None
    try:
        ensure_dir(trace_dir)
        for index, segment in enumerate(segments):
            start = offset if segment.name == name else 0
            for end, raw in read_lines(segment, start):
                if durable is not None and segment.name == durable[0] and end > durable[1]:
                    break
                if step.exported + step.existing >= limit:
                    step.more = True
                    break
                line = decode_line(raw)
                if _write_file(trace_dir / line.name, line.data):
                    step.exported += 1
                else:
                    step.existing += 1
                position = (segment.name, end)
            if step.more:
                break
            if index + 1 < len(segments):
                # A finished segment: the cursor moves to the start of the next one.
                position = (segments[index + 1].name, 0)
    except (OSError, ValueError, IOFailure) as exc:
        step.error = f"export trace: {exc}"
    if position is not None and (step.exported or step.existing or position != (name, offset)):
        if step.exported:
            fsync_dir(trace_dir)
        cursor = {"segment": position[0], "offset": position[1]}
        try:
            write_atomic(log_dir / CURSOR_NAME, json.dumps(cursor).encode() + b"\n")
        except IOFailure as exc:
            step.error = step.error or exc.message
    return step


class TraceFileExporter:
    """The background task that keeps ``trace_<id>.json`` files up with the log.

    Args:
        log: the trace log (the exporter wakes after each of its commits).
        trace_dir: where the files are written.
        hop: most files per worker-thread hop.
    """

    def __init__(self, log: TraceLog, trace_dir: Path, *, hop: int = DEFAULT_EXPORT_HOP) -> None:
        self._log = log
        self._trace_dir = trace_dir
        self._hop = hop
        self._closed = anyio.Event()
        self._stepped = anyio.Event()
        self.exported = 0
        self.failures = 0
        self.last_error = ""

    def close(self) -> None:
        """Stop after the current hop (the cursor keeps the rest for the next start)."""
        self._closed.set()

    async def caught_up(self) -> None:
        """Return once every line durable now has its trace file (or the exporter stopped).

        Waits for the exporter's own steps; callers bound it with a timeout.
        """
        target = self._log.durable()
        while target is not None and not self._closed.is_set():
            if _cursor_reached(self._log.log_dir, target):
                return
            stepped = self._stepped
            await stepped.wait()

    def stats(self) -> dict[str, Any]:
        """Counters for ``/v1/health`` and ``/metrics``."""
        return {
            "exported": self.exported,
            "failures": self.failures,
            "last_error": self.last_error,
            "lag_bytes": log_lag_bytes(self._log.log_dir),
        }

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Export whatever the log holds, then again after each commit, until closed."""
        task_status.started()
        while not self._closed.is_set():
            committed = self._log.committed
            step = await anyio.to_thread.run_sync(
                _safe_step, self._log.log_dir, self._trace_dir, self._hop, self._log.durable()
            )
            self.exported += step.exported
            self._stepped.set()
            self._stepped = anyio.Event()
            if step.error:
                self.failures += 1
                self.last_error = step.error
                with anyio.move_on_after(_RETRY_S):
                    await self._closed.wait()
                continue
            if step.more:
                await anyio.lowlevel.checkpoint()
                continue
            async with anyio.create_task_group() as wait:

                async def until(event: anyio.Event) -> None:
                    await event.wait()
                    wait.cancel_scope.cancel()

                wait.start_soon(until, committed)
                wait.start_soon(until, self._closed)
        await self._final_pass()

    async def _final_pass(self) -> None:
        """After close: export what the log holds (bounded; the cursor keeps any rest)."""
        with anyio.move_on_after(_FINAL_PASS_S):
            while True:
                step = await anyio.to_thread.run_sync(
                    _safe_step, self._log.log_dir, self._trace_dir, self._hop, self._log.durable()
                )
                self.exported += step.exported
                if step.error:
                    self.failures += 1
                    self.last_error = step.error
                    return
                if not step.more:
                    return


def _cursor_reached(log_dir: Path, target: tuple[str, int]) -> bool:
    try:
        name, offset = _read_cursor(log_dir)
    except IOFailure:
        return False
    if target[1] == 0:
        return not name or name >= target[0]
    return (name, offset) >= target


def _safe_step(
    log_dir: Path, trace_dir: Path, hop: int, durable: tuple[str, int] | None
) -> ExportStep:
    try:
        return export_step(log_dir, trace_dir, limit=hop, durable=durable)
    except IOFailure as exc:
        return ExportStep(error=exc.message)
