"""Go-compatible trace files written from the server trace log, off the reply path.

Owns: :class:`TraceFileExporter`, the background task that runs
:func:`~gait_runtime.artifacts.tracelog.export_step` after each group commit of
the :class:`~.trace_log.TraceLog` (bounded hops in a worker process, so the
files' CPU is not the event loop's and holds no lock it needs; a retry back-off
after a failure, a final pass at drain, counters for ``/v1/health`` and
``/metrics``). ``gait trace export`` runs the same step. Does not own: the log
or decisions: the exporter never delays, fails or changes a decision; a
decision is durable once its log line is, and its file follows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import msgspec
from anyio.streams.buffered import BufferedByteReceiveStream

from ...artifacts.tracelog import (
    DEFAULT_EXPORT_HOP,
    ExportStep,
    cursor_reached,
    export_step_or_error,
    log_lag_bytes,
)
from .trace_log import TraceLog

__all__ = ["EXPORT_PROCESS_ENV", "NO_EXPORT_STATS", "TraceFileExporter"]

EXPORT_PROCESS_ENV: Final = "GAIT_TRACE_EXPORT_PROCESS"
"""``0`` runs the export hops in a worker thread of the server instead of a process."""

NO_EXPORT_STATS: Final[dict[str, Any]] = {
    "exported": 0,
    "failures": 0,
    "last_error": "",
    "lag_bytes": 0,
    "worker": "",
    "worker_pid": 0,
}
"""The exporter's counters when ``--trace-files off`` runs none."""

_RETRY_S: Final = 1.0
_FINAL_PASS_S: Final = 5.0


class TraceFileExporter:
    """The background task that keeps ``trace_<id>.json`` files up with the log.

    Args:
        log: the trace log (the exporter wakes after each of its commits).
        trace_dir: where the files are written.
        hop: most files per hop.
        in_process: run the hops in a worker thread (default: a worker process unless
            ``GAIT_TRACE_EXPORT_PROCESS=0``).
    """

    def __init__(
        self,
        log: TraceLog,
        trace_dir: Path,
        *,
        hop: int = DEFAULT_EXPORT_HOP,
        in_process: bool | None = None,
    ) -> None:
        self._log = log
        self._trace_dir = trace_dir
        self._hop = hop
        if in_process is None:
            in_process = os.environ.get(EXPORT_PROCESS_ENV, "1").strip() == "0"
        self.in_process = in_process
        self._worker: _ExportWorker | None = None
        self._closed = anyio.Event()
        self._stepped = anyio.Event()
        self._in_step = False  # a step's cursor can land on disk before its counts do
        self.exported = 0
        self.failures = 0
        self.last_error = ""
        self.worker_pid = 0

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
            "worker": "thread" if self.in_process else "process",
            "worker_pid": self.worker_pid,
        }

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Export whatever the log holds, then again after each commit, until closed."""
        task_status.started()
        try:
            await self._export_until_closed()
            await self._final_pass()
        finally:
            if self._worker is not None:
                await self._worker.aclose()

    async def _export_until_closed(self) -> None:
        while not self._closed.is_set():
            committed = self._log.committed
            self._in_step = True
            try:
                step = await self._step()
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

    async def _final_pass(self) -> None:
        """After close: export what the log holds (bounded; the cursor keeps any rest)."""
        with anyio.move_on_after(_FINAL_PASS_S):
            while True:
                step = await self._step()
                self.exported += step.exported
                if step.error:
                    self.failures += 1
                    self.last_error = step.error
                    return
                if not step.more:
                    return

    async def _step(self) -> ExportStep:
        """One hop, in the worker process (or thread); a dead worker is a failed step."""
        args = (self._log.log_dir, self._trace_dir, self._hop, self._log.durable())
        if self.in_process:
            step = await anyio.to_thread.run_sync(export_step_or_error, *args)
        else:
            if self._worker is None:
                self._worker = _ExportWorker()
            step = await self._worker.step(*args)
        self.worker_pid = step.pid
        return step


_WORKER_ARGV: Final = (sys.executable, "-m", "gait_runtime.artifacts._export_worker")
_ANSWER_MAX: Final = 1 << 16
_WORKER_EXIT_S: Final = 5.0
_WORKER_GONE: Final = (
    OSError,
    ValueError,  # msgspec's decode and validation errors among them
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.IncompleteRead,
    anyio.DelimiterNotFound,
)


class _ExportWorker:
    """The server's side of ``python -m gait_runtime.artifacts._export_worker``:
    one JSON line out, one back, per hop; started on first use and again after a death."""

    def __init__(self) -> None:
        self._process: anyio.abc.Process | None = None
        self._answers: BufferedByteReceiveStream | None = None

    async def step(
        self, log_dir: Path, trace_dir: Path, hop: int, durable: tuple[str, int] | None
    ) -> ExportStep:
        request = {
            "log_dir": str(log_dir),
            "trace_dir": str(trace_dir),
            "hop": hop,
            "durable": list(durable) if durable is not None else None,
        }
        # Shielded like a worker-thread hop: a half-read answer would desynchronise the pipe.
        with anyio.CancelScope(shield=True):
            try:
                process, answers = await self._started()
                assert process.stdin is not None
                await process.stdin.send(json.dumps(request).encode() + b"\n")
                reply = await answers.receive_until(b"\n", _ANSWER_MAX)
                step = msgspec.json.decode(reply, type=ExportStep)
            except _WORKER_GONE as exc:
                await self.aclose(kill=True)
                step = ExportStep(error=f"trace export process failed: {exc!r}")
        return step

    async def _started(self) -> tuple[anyio.abc.Process, BufferedByteReceiveStream]:
        if self._process is None or self._answers is None:  # set and cleared together
            process = await anyio.open_process(
                list(_WORKER_ARGV), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
            )
            assert process.stdout is not None
            self._process, self._answers = process, BufferedByteReceiveStream(process.stdout)
        return self._process, self._answers

    async def aclose(self, *, kill: bool = False) -> None:
        """End the worker: close its input (it exits at EOF), or kill it; then reap it."""
        process, self._process, self._answers = self._process, None, None
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            if kill:
                _kill(process)
            elif process.stdin is not None:
                await process.stdin.aclose()
            with anyio.move_on_after(_WORKER_EXIT_S):
                await process.wait()
            if process.returncode is None:
                _kill(process)
                await process.wait()
            await process.aclose()


def _kill(process: anyio.abc.Process) -> None:
    try:
        process.kill()
    except ProcessLookupError:
        pass
