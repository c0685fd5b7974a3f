"""The server trace log: every decision's signed trace made durable by group commit.

Owns: :class:`TraceLog`, an actor (one task, one bounded mailbox) that takes the
signed trace of each decision, drains whatever else is already waiting (up to a
batch limit), appends the whole batch to the current log segment with one
``write`` and one ``fdatasync`` in one worker-thread hop, then wakes every
caller: a caller is told "durable" only once its line is on disk. A failed
write or sync cuts the batch back off the segment and fails every caller in
it (nothing is acknowledged that is not durable). Segments rotate by size. On
open, a torn tail (a partial last line left by a kill) is cut from the segment
and kept in a ``.torn-<offset>`` quarantine file; no complete line is lost.
Does not own: the line format and reading (:mod:`gait_runtime.artifacts.tracelog`),
trace content (the gate), trace-file naming (the decision path) or the trace
files (:mod:`.trace_export` writes them from the log).

One log serves every decision, with or without a session: one durability point
per batch across all sessions, independent of the session journals (which
keep their own batches).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ...artifacts.fsutil import ensure_dir, fsync_dir
from ...artifacts.tracelog import (
    DEFAULT_SEGMENT_BYTES,
    cut_torn_tail,
    encode_line,
    segment_name,
    segment_number,
    segment_paths,
)
from ...errors import IOFailure
from ._mailbox import leftovers, take_batch

__all__ = ["TraceLog"]


class _Job:
    """One line waiting; its caller waits on the log's commit event until ``done``."""

    __slots__ = ("done", "error", "line")

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.done = False
        self.error = ""


class _Segments:
    """The open tail segment (worker-thread side; one thread at a time)."""

    def __init__(self, log_dir: Path, segment_bytes: int, sync: bool = True) -> None:
        self.log_dir = log_dir
        self.segment_bytes = segment_bytes
        self.sync = sync
        self.torn = 0
        ensure_dir(log_dir)
        existing = segment_paths(log_dir)
        if existing:
            self.path = existing[-1]
            self.number = segment_number(self.path)
            before = self.path.stat().st_size
            self.size = cut_torn_tail(self.path)
            self.torn = int(self.size != before)
        else:
            self.number, self.size = 1, 0
            self.path = log_dir / segment_name(1)
        self.fd = self._open(self.path)
        self.durable = (self.path.name, self.size)

    def _open(self, path: Path) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_dir(self.log_dir)
        return fd

    def append(self, jobs: Sequence[_Job]) -> None:
        """One write and one fdatasync for the whole batch; on failure cut it back off."""
        if self.size >= self.segment_bytes:
            os.close(self.fd)
            self.number += 1
            self.path = self.log_dir / segment_name(self.number)
            self.size = 0
            self.fd = self._open(self.path)
            self.durable = (self.path.name, 0)
        payload = b"".join(job.line for job in jobs)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(self.fd, view) :]
            if self.sync:
                os.fdatasync(self.fd)
        except OSError as exc:
            message = f"append trace log {self.path}: {exc.strerror or exc}"
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                pass
            for job in jobs:
                job.error = message
            return
        self.size += len(payload)
        self.durable = (self.path.name, self.size)

    def close(self) -> None:
        os.close(self.fd)


class TraceLog:
    """Group-committing appender of signed traces to the server trace log.

    Start with ``await tg.start(log.run)``; call :meth:`append` from any task;
    :meth:`close` lets :meth:`run` finish the queued lines and return.

    Args:
        log_dir: the log directory (created if missing).
        mailbox_size: bounded queue of pending lines (callers wait for room).
        batch_limit: most lines per write.
        segment_bytes: rotate to a new segment once the current one reaches this size.
        fsync: the journal's policy; every batch is synced before its callers return
            unless it is ``never`` (writeback left to the OS).
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        mailbox_size: int = 1024,
        batch_limit: int = 256,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: str = "always",
    ) -> None:
        self._sync = fsync != "never"
        send, receive = anyio.create_memory_object_stream[_Job](mailbox_size)
        self._send: MemoryObjectSendStream[_Job] = send
        self._receive: MemoryObjectReceiveStream[_Job] = receive
        self.log_dir = log_dir
        self._batch_limit = batch_limit
        self._segment_bytes = segment_bytes
        self._segments: _Segments | None = None
        self.committed = anyio.Event()
        """Set after each durable batch (the exporter waits on it, then re-arms)."""
        self.written = 0
        self.batches = 0
        self.failures = 0
        self.torn_tails = 0

    async def append(self, name: str, data: bytes) -> None:
        """Make trace file ``name`` with bytes ``data`` durable in the log; return once it is.

        Raises:
            IOFailure: the line could not be made durable, or the log is stopped.
        """
        job = _Job(encode_line(name, data))
        try:
            await self._send.send(job)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise IOFailure(f"append trace log {name}: trace log is stopped") from None
        # One event per commit wakes every caller of the batch (an event per line
        # costs more than the line's write); a caller whose line is not in it waits on.
        while not job.done:
            await self.committed.wait()
        if job.error:
            raise IOFailure(job.error)

    def close(self) -> None:
        """Accept no more lines; :meth:`run` finishes the queue and returns."""
        self._send.close()

    def durable(self) -> tuple[str, int] | None:
        """``(segment name, size)`` of the durable end of the log; ``None`` before open.

        Bytes past it may be a batch being written (or cut back after a failed sync):
        the exporter never reads past this point.
        """
        return self._segments.durable if self._segments is not None else None

    def pending(self) -> int:
        """Lines waiting in the mailbox."""
        return self._send.statistics().current_buffer_used

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the log (cutting a torn tail), then batch, append, wake the callers.

        Raises:
            IOFailure: the log directory or tail segment cannot be opened.
        """
        try:
            segments = await anyio.to_thread.run_sync(
                _Segments, self.log_dir, self._segment_bytes, self._sync
            )
        except OSError as exc:
            raise IOFailure(f"open trace log {self.log_dir}: {exc.strerror or exc}") from None
        self._segments = segments
        self.torn_tails = segments.torn
        batch: list[_Job] = []
        with self._receive:
            task_status.started()
            try:
                async for first in self._receive:
                    batch = take_batch(self._receive, first, self._batch_limit)
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(segments.append, batch)
                    self.batches += 1
                    failed = sum(1 for job in batch if job.error)
                    self.failures += failed
                    self.written += len(batch) - failed
                    for job in batch:
                        job.done = True
                    self.committed.set()
                    self.committed = anyio.Event()
            finally:
                for job in batch:  # a batch cut short by an error: never acknowledged
                    if not job.done:
                        job.error = job.error or "append trace log: trace log is stopped"
                        job.done = True
                self._fail_pending()
                segments.close()
                self.committed.set()

    def _fail_pending(self) -> None:
        for job in leftovers(self._receive):
            job.error = "append trace log: trace log is stopped"
            job.done = True
