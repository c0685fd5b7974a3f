"""IoThread: one long-lived worker thread that runs a session actor's blocking journal calls.

Owns: the thread, its job queue (``queue.SimpleQueue``) and the way a finished
job wakes the waiting task (an :class:`anyio.Event` set on the loop through
``call_soon_threadsafe`` on asyncio or ``TrioToken.run_sync_soon`` on trio; one
wake-up covers every job of every I/O thread that finished meanwhile). It does
not own what the jobs do (:class:`~.store.JournalStore` does) nor when the
thread starts and stops (the :class:`~.actor.SessionActor` does: it starts one
in ``open`` and stops it after closing its store).

Why not ``anyio.to_thread.run_sync`` per batch: with many small batches (16
sessions x 4 appenders) the hop is a large share of the event loop's CPU; the
thread pool's capacity limiter, cancel scope, context copy, future and
condition-variable queue cost about a third more per call than a queue put
plus an event (a micro-benchmark of 16 tasks hopping to threads on the 2-vCPU
development VM: 83 vs 62 us of CPU per call on asyncio, 118 vs 96 us on trio;
the end-to-end effect is in ``docs/performance.md``). Only one job runs at a
time per thread, as only the actor submits and it waits for each result, so
the store is still touched by one thread at a time.

A call waits for its job even when cancelled (then re-raises the
cancellation), like ``to_thread.run_sync`` with ``abandon_on_cancel=False``: a
cancelled actor never leaves a journal write running behind its back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
from anyio.lowlevel import RunVar

from .loop import OneShot, Waker, loop_primitives, wait_through_cancel

__all__ = ["IoThread"]

_T = TypeVar("_T")


class _Completions:
    """Finished jobs of every I/O thread of one event loop, handed over in bulk.

    A thread that finishes a job while an earlier hand-over is still pending
    only appends to the list: one loop wake-up (a syscall in the thread, a
    selector round on the loop) then covers every job finished meanwhile.
    """

    __slots__ = ("_guard", "_pending", "_wake")

    def __init__(self, wake: Waker) -> None:
        self._wake = wake
        self._guard = threading.Lock()
        self._pending: list[Callable[[], object]] = []

    def push(self, done: Callable[[], object]) -> None:
        """Called in a worker thread: run ``done`` on the loop soon."""
        with self._guard:
            self._pending.append(done)
            if len(self._pending) > 1:
                return
        self._wake(self._run)

    def _run(self) -> None:
        with self._guard:
            pending, self._pending = self._pending, []
        for done in pending:
            done()


_COMPLETIONS: RunVar[_Completions] = RunVar("gait_session_io_completions")


def _completions() -> _Completions:
    try:
        return _COMPLETIONS.get()
    except LookupError:
        completions = _Completions(loop_primitives().wake)
        _COMPLETIONS.set(completions)
        return completions


class _Job(Generic[_T]):
    __slots__ = ("args", "done", "error", "fn", "result")

    def __init__(self, fn: Callable[..., _T], args: tuple[object, ...], done: OneShot) -> None:
        self.fn = fn
        self.args = args
        self.result: _T | None = None
        self.error: BaseException | None = None
        self.done = done


class IoThread:
    """A worker thread running one blocking call at a time for its owner task.

    Create and :meth:`start` it from the event loop thread; :meth:`run` jobs;
    :meth:`stop` it (idempotent) when done. The thread is a daemon so a
    process that exits without stopping it is not held up.

    Args:
        name: the thread's name (shows in debuggers and profilers).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Job[object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._completions: _Completions | None = None
        self._new_event: Callable[[], OneShot] = anyio.Event

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (call from the event loop thread, once)."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._completions = _completions()
        self._new_event = loop_primitives().event
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Let the thread finish its queued jobs and exit (does not wait for it)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread = None

    async def run(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn(*args)`` in the thread; re-raise what it raised.

        Cancellation takes effect once the call has returned.
        """
        if self._thread is None:
            raise RuntimeError(f"{self._name} is not running")
        job: _Job[_T] = _Job(fn, args, self._new_event())
        self._queue.put(job)  # type: ignore[arg-type]  # the queue is invariant in its job type
        await wait_through_cancel(job.done)
        if job.error is not None:
            error, job.error = job.error, None
            raise error
        return job.result  # type: ignore[return-value]  # set by _serve when error is None

    def _serve(self) -> None:
        completions = self._completions
        assert completions is not None
        get = self._queue.get
        while True:
            job = get()
            if job is None:
                return
            try:
                job.result = job.fn(*job.args)
            except BaseException as exc:  # handed to the waiting task, which re-raises it
                job.error = exc
            try:
                completions.push(job.done.set)
            except RuntimeError:  # pragma: no cover - the event loop closed under us
                return
