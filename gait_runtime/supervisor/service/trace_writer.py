"""Durable trace writes with group commit, off the event loop.

Owns: :class:`TraceWriter`, the decision path's one trace sink. Given a
:class:`~.trace_log.TraceLog` and the server trace directory, a trace named into
that directory is made durable as one line of the log (group-committed; the
file itself is written later by :mod:`.trace_export`); any other path (a
client ``trace_path``) and every trace without a log take the file path below.

The file path is an actor (one task, one bounded mailbox) that takes
every trace file the decision path must write, drains whatever else is already
waiting (up to a batch limit), writes the whole batch in one worker-thread hop
(temp file, write, fsync, rename per file; one directory fsync per directory
per batch), then wakes every caller. A caller is told "written" only after its
file is durable. Does not own: trace content (the gate builds and signs it) or
file naming (the decision path).

The event loop never blocks on disk; throughput grows with concurrency because
one thread hop and one directory fsync serve a whole batch.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ...artifacts.fsutil import ensure_dir, fsync_dir
from ...errors import IOFailure
from ._mailbox import leftovers, take_batch
from .trace_log import TraceLog

__all__ = ["DEFAULT_TRACE_BATCH", "DEFAULT_TRACE_MAILBOX", "TraceWriter"]

DEFAULT_TRACE_MAILBOX: Final = 1024
"""Pending writes before callers wait for room (backpressure, never unbounded)."""

DEFAULT_TRACE_BATCH: Final = 128
"""Most files written in one worker-thread hop."""


@dataclass(slots=True)
class _Job:
    path: Path
    data: bytes
    done: anyio.Event = field(default_factory=anyio.Event)
    error: str = ""


def _write_one(job: _Job) -> None:
    tmp = job.path.parent / f".{job.path.name}.tmp-{secrets.token_hex(6)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(job.data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # Exclusive: a name that exists already is an error, never overwritten.
        os.link(tmp, job.path)
    except OSError as exc:
        job.error = f"write trace {job.path}: {exc.strerror or exc}"
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def _write_batch(jobs: Sequence[_Job]) -> None:
    """Write every job's file durably; record failures on the job (runs in a thread)."""
    directories: set[Path] = set()
    for job in jobs:
        try:
            ensure_dir(job.path.parent)
        except IOFailure as exc:
            job.error = str(exc)
            continue
        _write_one(job)
        if not job.error:
            directories.add(job.path.parent)
    for directory in directories:
        fsync_dir(directory)


class TraceWriter:
    """Group-committing writer of trace files.

    Start with ``await tg.start(writer.run)``; call :meth:`write` from any task;
    :meth:`close` lets :meth:`run` finish the queued writes and return.

    Args:
        mailbox_size: bounded queue of pending writes.
        batch_limit: most files per worker-thread hop.
        log: the server trace log, or ``None`` to write every trace as a file.
        log_trace_dir: traces named directly in this directory go to ``log``.
    """

    def __init__(
        self,
        *,
        mailbox_size: int = DEFAULT_TRACE_MAILBOX,
        batch_limit: int = DEFAULT_TRACE_BATCH,
        log: TraceLog | None = None,
        log_trace_dir: Path | None = None,
    ) -> None:
        self._log = log
        self._log_dir = log_trace_dir
        send, receive = anyio.create_memory_object_stream[_Job](mailbox_size)
        self._send: MemoryObjectSendStream[_Job] = send
        self._receive: MemoryObjectReceiveStream[_Job] = receive
        self._batch_limit = batch_limit
        self.written = 0
        self.batches = 0

    async def write(self, path: Path, data: bytes) -> None:
        """Make the trace ``data`` for ``path`` durable; return once it is on disk.

        With a log, a path in the server trace directory returns once its log line is
        durable (the file follows from the exporter); otherwise once the file is.

        Raises:
            IOFailure: the trace could not be made durable, or the writer is stopped.
        """
        if self._log is not None and path.parent == self._log_dir:
            await self._log.append(path.name, data)
            return
        job = _Job(path, data)
        try:
            await self._send.send(job)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise IOFailure(f"write trace {path}: trace writer is stopped") from None
        await job.done.wait()
        if job.error:
            raise IOFailure(job.error)

    def close(self) -> None:
        """Accept no more writes; :meth:`run` finishes the queue and returns."""
        self._send.close()

    def pending(self) -> int:
        """Writes waiting in the mailbox."""
        return self._send.statistics().current_buffer_used

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The actor loop: batch, write in a worker thread, wake the callers.

        Args:
            task_status: reports readiness to ``TaskGroup.start``.
        """
        with self._receive:
            task_status.started()
            try:
                async for first in self._receive:
                    batch = take_batch(self._receive, first, self._batch_limit)
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(_write_batch, batch)
                    self.batches += 1
                    self.written += sum(1 for job in batch if not job.error)
                    for job in batch:
                        job.done.set()
            finally:
                self._fail_pending()

    def _fail_pending(self) -> None:
        for job in leftovers(self._receive):
            job.error = f"write trace {job.path}: trace writer is stopped"
            job.done.set()
