"""JournalRing: journal appends through one io_uring, without a Python thread per batch.

Owns: one io_uring instance per :class:`~.sessions.SessionManager` (created and
closed by it), submitting ``write`` operations from the event loop thread,
reaping their completions when the ring's ``eventfd`` turns readable, and
waking the task that waits for each one. It does not own what is written or
what a failed or short write means for the journal (the
:class:`~.store.JournalStore` does: :meth:`~.store.JournalStore.direct_fd`,
:meth:`~.store.JournalStore.direct_done`, :meth:`~.store.JournalStore.direct_repair`).

Why: a session batch handed to a worker thread costs the event loop about as
much as the batch itself (queue, wake-up, completion hand-over) and the thread
must take the interpreter lock twice (to call ``write`` and to report back)
while the loop is busy with the other sessions; with 16 sessions of 4 appenders
each that hand-over, not the disk, bounded throughput. With a ring the loop
submits the write (one ``io_uring_enter``), the kernel runs it, ``O_DSYNC``
included, in its own workers, and one ``eventfd`` wake-up hands back every
write that finished meanwhile. Figures in ``docs/performance.md``.

Only the hot path uses the ring: appends while the session holds its Go lock
lease and the state file is not due. Everything else (lock files, state
files, checkpoints, recovery, the rare short or failed write) stays on the
actor's :class:`~.iothread.IoThread`. When io_uring is not available (another
OS, a kernel or sandbox that refuses it, the optional binding missing)
:meth:`JournalRing.open` raises :class:`RingUnavailable` and the manager uses
threads only.

A write waits for its completion even when cancelled (then re-raises the
cancellation), like :meth:`.iothread.IoThread.run`: a cancelled actor never
leaves a journal write in flight behind its back, and its buffer stays alive
until the kernel is done with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.abc
import structlog
import trio

from .loop import OneShot, loop_primitives, wait_through_cancel

__all__ = ["JournalRing", "RingBusy", "RingLost", "RingUnavailable", "binding_probe"]

_U64_MASK: Final = (1 << 64) - 1
_log = structlog.get_logger("gait_runtime.supervisor._journal_io.uring")

_ORPHANS: list[bytes] = []
"""Buffers of writes a closed or broken ring may still read: kept for the process's life."""


class RingUnavailable(Exception):
    """io_uring cannot be used here; the reason is the message."""


class RingBusy(Exception):
    """Nothing was submitted (the ring is full or was given up on): write another way."""


class RingLost(RuntimeError):
    """The ring failed with this write in flight: whether it reached the file is unknown.

    The owner must not undo or retry it (the kernel may still complete it); a
    session actor treats it as a crash, and its restart re-reads the journal.
    """


_PROBE: Final = """
import liburing
ring = liburing.Ring()
liburing.io_uring_queue_init(8, ring)
liburing.io_uring_queue_exit(ring)
"""


@functools.cache
def binding_probe() -> str:
    """Why the installed binding cannot be used in this process ("" when it can).

    The binding is a compiled wheel: on a processor it was not built for, its
    first ring set-up dies of ``SIGILL``, which no ``except`` can catch. So the
    first use in a process sets up and tears down a ring in a child process;
    only if that child exits cleanly does this process touch the binding. The
    answer is kept for the process's life (one probe, about 0.1 s).
    """
    try:
        import importlib.util

        if importlib.util.find_spec("liburing") is None:
            return "the io_uring binding is not installed"
    except (ImportError, ValueError) as exc:
        return f"the io_uring binding is not installed ({exc})"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the io_uring probe process failed ({exc})"
    if done.returncode == 0:
        return ""
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return f"the io_uring binding crashed a probe process ({name}) on this machine"
    last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
    return f"io_uring refused in a probe process: {last}"


@dataclass(slots=True, eq=False)
class _Pending:
    data: bytes
    done: OneShot
    result: int | None = None


class JournalRing:
    """One io_uring for the journal writes of one event loop.

    Create with :meth:`open` (from the event loop thread), run :meth:`serve`
    in a task for as long as writes may be submitted, :meth:`close` after it
    ended. All methods run on the event loop thread.

    Args:
        lib: the io_uring binding module.
        ring: the binding's ring, initialised.
        efd: the eventfd registered with it.
        entries: its submission queue size (also the bound on writes in flight).
    """

    def __init__(self, lib: Any, ring: Any, efd: int, entries: int) -> None:
        self._lib = lib
        self._ring = ring
        self._efd = efd
        self._cqe = lib.Cqe()
        self.entries = entries
        self._pending: dict[int, _Pending] = {}
        self._next = 0
        self._new_event = loop_primitives().event
        self._closed = False
        self._dead = False  # completions can no longer be read
        self.writes = 0
        self.broken = ""

    @classmethod
    def open(cls, entries: int = 256) -> JournalRing:
        """Set up a ring and its eventfd.

        Raises:
            RingUnavailable: no binding, or the kernel refused (``ENOSYS``,
                ``EPERM`` from a sandbox, ``io_uring_disabled``) or has no
                write operation.
        """
        try:
            import liburing  # type: ignore[import-untyped]  # optional, Linux only
        except ImportError as exc:
            raise RingUnavailable(
                f"the io_uring binding is not installed ({exc}; pip install 'gait-runtime[uring]')"
            ) from exc
        reason = binding_probe()
        if reason:
            raise RingUnavailable(reason)
        ring = liburing.Ring()
        try:
            liburing.io_uring_queue_init(entries, ring)
        except OSError as exc:
            raise RingUnavailable(f"io_uring refused: {exc}") from exc
        try:
            probe = liburing.io_uring_get_probe_ring(ring)
            try:
                write_op = liburing.io_uring_op.IORING_OP_WRITE
                supported = bool(liburing.io_uring_opcode_supported(probe, write_op))
            finally:
                liburing.io_uring_free_probe(probe)
        except OSError as exc:
            liburing.io_uring_queue_exit(ring)
            raise RingUnavailable(f"io_uring probe refused: {exc}") from exc
        if not supported:  # kernels before 5.6 have rings but no plain write
            liburing.io_uring_queue_exit(ring)
            raise RingUnavailable("this kernel's io_uring has no write operation")
        try:
            efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError as exc:
            liburing.io_uring_queue_exit(ring)
            raise RingUnavailable(f"eventfd refused: {exc}") from exc
        try:
            liburing.io_uring_register_eventfd(ring, efd)
        except OSError as exc:
            os.close(efd)
            liburing.io_uring_queue_exit(ring)
            raise RingUnavailable(f"io_uring eventfd registration refused: {exc}") from exc
        return cls(liburing, ring, efd, entries)

    @property
    def usable(self) -> bool:
        """True while writes may be submitted (open, not broken, room for one more)."""
        return not self._closed and not self.broken and len(self._pending) < self.entries

    async def write(self, fd: int, data: bytes, offset: int) -> int:
        """Write ``data`` to ``fd`` (``offset`` is ignored for ``O_APPEND`` descriptors).

        Returns:
            The byte count written (may be short, like ``os.write``).

        Raises:
            RingBusy: nothing was submitted (full, closed, or given up on).
            OSError: the kernel's error for this write (``ENOSPC``, ``EIO``...).
            RingLost: the ring failed while this write was in flight.
        """
        if not self.usable:
            raise RingBusy("journal ring is full, closed or given up on")
        lib = self._lib
        sqe = lib.io_uring_get_sqe(self._ring)
        if sqe is None:
            raise RingBusy("journal ring submission queue is full")
        self._next = (self._next + 1) & _U64_MASK
        key = self._next
        lib.io_uring_prep_write(sqe, fd, data, offset)
        lib.io_uring_sqe_set_data64(sqe, key)
        # The kernel reads ``data`` until the completion: keep it referenced.
        pending = _Pending(data, self._new_event())
        self._pending[key] = pending
        try:
            lib.io_uring_submit(self._ring)
        except OSError as exc:
            # A failed submit consumed nothing, but the entry still sits in the
            # submission queue: submit nothing more on this ring (writes in
            # flight still complete), keep the buffer alive, and let the caller
            # write another way.
            del self._pending[key]
            _ORPHANS.append(data)
            self.broken = f"io_uring submit failed: {exc}"
            raise RingBusy(f"journal ring given up on: {exc}") from exc
        await wait_through_cancel(pending.done)
        self.writes += 1
        result = pending.result
        if result is None:
            raise RingLost(f"journal write of {len(data)} bytes lost track of: {self.broken}")
        if result < 0:
            raise OSError(-result, os.strerror(-result))
        return result

    def _reap(self) -> None:
        """Hand every finished write to its waiter (runs when the eventfd is readable).

        Never raises: if reading completions fails, nothing in flight can be
        trusted any more, so every waiter gets :class:`RingLost` and the ring
        takes no new writes (the sessions go on through their threads).
        """
        if self._dead:
            with contextlib.suppress(OSError):
                os.eventfd_read(self._efd)
            return
        try:
            self._reap_ready()
        except Exception as exc:
            self._dead = True
            _log.error("journal ring failed; sessions fall back to I/O threads", error=repr(exc))
            self._fail_all(f"io_uring completion failed: {exc!r}")

    def _reap_ready(self) -> None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass
        lib, ring, cqe = self._lib, self._ring, self._cqe
        pending = self._pending
        while True:
            try:
                lib.io_uring_peek_cqe(ring, cqe)
            except BlockingIOError:
                return
            entry = cqe[0]
            key = entry.user_data
            try:
                got = entry.res
                res = got if isinstance(got, int) else -errno.EIO
            except OSError as exc:  # the binding raises a negative result as OSError
                res = -(exc.errno or errno.EIO)
            lib.io_uring_cqe_seen(ring, entry)
            waiter = pending.pop(key, None)
            if waiter is not None:
                waiter.result = res
                waiter.done.set()

    def _fail_all(self, reason: str) -> None:
        self.broken = reason
        for waiter in self._pending.values():
            _ORPHANS.append(waiter.data)
            waiter.result = None
            waiter.done.set()
        self._pending.clear()

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Reap completions until cancelled (run in a task from :meth:`open` to :meth:`close`)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.add_reader(self._efd, self._reap)
            try:
                task_status.started()
                await anyio.sleep_forever()
            finally:
                loop.remove_reader(self._efd)
        else:
            task_status.started()
            while not self._dead:
                await trio.lowlevel.wait_readable(self._efd)
                self._reap()
            await anyio.sleep_forever()

    @property
    def in_flight(self) -> int:
        """Writes submitted and not yet reaped."""
        return len(self._pending)

    def close(self) -> None:
        """Release the ring and its eventfd (after :meth:`serve` ended; idempotent).

        Writes still in flight (their waiters wait even when cancelled, so only
        after :meth:`serve` failed) are answered with :class:`RingLost` first;
        their buffers stay alive, as the kernel may still read them.
        """
        if self._closed:
            return
        self._closed = True
        if self._pending:
            self._fail_all("journal ring closed with writes in flight")
        self._lib.io_uring_queue_exit(self._ring)
        os.close(self._efd)
