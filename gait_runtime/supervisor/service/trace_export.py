"""Go-compatible trace files written from the server trace log, off the reply path.

Owns: :class:`TraceFileExporter`, the background task that runs
:func:`~gait_runtime.artifacts.tracelog.export_step` after each group commit of
the :class:`~.trace_log.TraceLog` (bounded hops in a worker thread, a retry
back-off after a failure, a final pass at drain, counters for ``/v1/health`` and
``/metrics``). ``gait trace export`` runs the same step. Does not own: the log
or decisions: the exporter never delays, fails or changes a decision; a
decision is durable once its log line is, and its file follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread

from ...artifacts.tracelog import (
    DEFAULT_EXPORT_HOP,
    ExportStep,
    cursor_reached,
    export_step,
    log_lag_bytes,
)
from ...errors import IOFailure
from .trace_log import TraceLog

__all__ = ["NO_EXPORT_STATS", "TraceFileExporter"]

NO_EXPORT_STATS: Final[dict[str, Any]] = {
    "exported": 0,
    "failures": 0,
    "last_error": "",
    "lag_bytes": 0,
}
"""The exporter's counters when ``--trace-files off`` runs none."""

_RETRY_S: Final = 1.0
_FINAL_PASS_S: Final = 5.0


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
        self._in_step = False  # a step's cursor can land on disk before its counts do
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
            if not self._in_step and cursor_reached(self._log.log_dir, target):
                return
            stepped = self._stepped
            await stepped.wait()

    async def failed(self) -> None:
        """Return once an export step has failed (callers bound it with a timeout)."""
        while not self.failures and not self._closed.is_set():
            await self._stepped.wait()

    def stats(self) -> dict[str, Any]:
        """Counters for ``/v1/health`` and ``/metrics`` (:data:`NO_EXPORT_STATS` when off)."""
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
            self._in_step = True
            try:
                step = await anyio.to_thread.run_sync(
                    _safe_step, self._log.log_dir, self._trace_dir, self._hop, self._log.durable()
                )
            finally:
                self._in_step = False
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


def _safe_step(
    log_dir: Path, trace_dir: Path, hop: int, durable: tuple[str, int] | None
) -> ExportStep:
    try:
        return export_step(log_dir, trace_dir, limit=hop, durable=durable)
    except IOFailure as exc:
        return ExportStep(error=exc.message)
