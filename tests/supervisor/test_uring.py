"""Journal appends through io_uring: the ring itself, the store's direct-write seam, the manager.

Async tests run on asyncio and trio (``anyio_backend``). Real files, a real
ring, real kernel errors (``/dev/full`` gives ``ENOSPC``); a pipe whose buffer
is full holds a write in flight for as long as a test needs, without sleeps.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.errors import InternalError, IOFailure
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor._journal_io.uring import (
    JournalRing,
    RingBusy,
    RingLost,
    RingUnavailable,
)
from gait_runtime.supervisor.journal.records import EventFields as Fields
from gait_runtime.supervisor.journal.scan import scan_journal
from gait_runtime.supervisor.journal.store import JournalStore, StoreOptions, journal_opener
from tests.conftest import needs_ring

pytestmark = pytest.mark.anyio

EV = EventFields(tool_name="tool.x", verdict="allow")


def _config(tmp_path: Path, **kw: Any) -> SessionConfig:
    kw.setdefault("clock", FakeClock(step_ns=1000))
    return SessionConfig(session_dir=tmp_path / "sessions", idle_timeout_s=0, **kw)


def _journal(tmp_path: Path, sid: str = "s1") -> Path:
    return tmp_path / "sessions" / f"{sid}.journal.jsonl"


def _append_ignoring_the_lock(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


# ---------------------------------------------------------------- the ring


@needs_ring
async def test_ring_appends_to_a_file_and_reports_the_kernels_errors(tmp_path: Path) -> None:
    """Writes land in order on an O_APPEND file; ENOSPC and EBADF come back as OSError."""
    target = tmp_path / "f"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    full = os.open("/dev/full", os.O_WRONLY)
    read_only = os.open(target, os.O_RDONLY)
    ring = JournalRing.open(entries=8)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(ring.serve)
            with anyio.fail_after(10):
                assert await ring.write(fd, b"one\n", 0) == 4
                assert await ring.write(fd, b"two\n", 4) == 4
                with pytest.raises(OSError) as nospc:
                    await ring.write(full, b"x" * 100, 0)
                assert nospc.value.errno == errno.ENOSPC
                with pytest.raises(OSError) as badf:
                    await ring.write(read_only, b"x", 0)
                assert badf.value.errno == errno.EBADF
            assert ring.in_flight == 0
            assert ring.writes == 4
            tg.cancel_scope.cancel()
    finally:
        ring.close()
        ring.close()  # idempotent
        for d in (fd, full, read_only):
            os.close(d)
    assert target.read_bytes() == b"one\ntwo\n"
    assert not ring.usable


@needs_ring
async def test_cancelled_ring_write_waits_for_its_completion() -> None:
    """Our decision (as the I/O thread): a cancelled writer waits until the kernel is
    done with its buffer, then sees the cancellation."""
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        while True:  # fill the pipe: the next write stays in flight until we read
            os.write(w, b"f" * 65536)
    except BlockingIOError:
        pass
    ring = JournalRing.open(entries=8)
    outcome: list[str] = []
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(ring.serve)

            async def writer(scope_holder: list[anyio.CancelScope]) -> None:
                with anyio.CancelScope() as scope:
                    scope_holder.append(scope)
                    try:
                        await ring.write(w, b"payload", 0)
                    except anyio.get_cancelled_exc_class():
                        outcome.append(f"cancelled after completion, in flight={ring.in_flight}")
                        raise
                outcome.append("scope exited")

            holder: list[anyio.CancelScope] = []
            tg.start_soon(writer, holder)
            with anyio.fail_after(10):
                while ring.in_flight == 0:
                    await anyio.lowlevel.checkpoint()
                holder[0].cancel()
                await anyio.wait_all_tasks_blocked()
                assert outcome == []  # still waiting for the kernel, shielded
                assert ring.in_flight == 1
                drained = 0
                while drained < 65536:  # make room: the write completes
                    drained += len(os.read(r, 65536))
                while len(outcome) < 2:
                    await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
    finally:
        ring.close()
        os.close(r)
        os.close(w)
    assert outcome == ["cancelled after completion, in flight=0", "scope exited"]


# ------------------------------------------------------- the store's seam


def _leased_store(tmp_path: Path, *, sync_writes: bool = True) -> JournalStore:
    store = JournalStore(
        tmp_path / "s.journal.jsonl",
        StoreOptions(clock=FakeClock(step_ns=1000), opener=journal_opener(sync_writes=sync_writes)),
    )
    store.open("s", "r", create=True)
    store.lease.keep = True
    store.append([(Fields("tool.first", "allow"), 1)])  # takes the lock and keeps it
    assert store.lease.held
    return store


def _close(store: JournalStore) -> None:
    store.lease.keep = False
    store.lease.release()
    store.close()


def test_direct_fd_only_under_a_kept_lease_and_an_unchanged_journal(tmp_path: Path) -> None:
    """Our decision: a plain write is allowed only when the batch needs nothing else."""
    store = _leased_store(tmp_path)
    try:
        assert store.direct_fd() is not None
        store.lease.keep = False  # the lease ends with this batch: lock and state work due
        assert store.direct_fd() is None
        store.lease.keep = True
        _append_ignoring_the_lock(store.path, b"")
        assert store.direct_fd() is not None  # same size: nothing changed
        size = store.disk.size
        _append_ignoring_the_lock(store.path, b"\n")
        assert store.direct_fd() is None  # the commit path will notice and re-read
        os.truncate(store.path, size)
    finally:
        _close(store)


def test_direct_fd_needs_o_dsync_under_fsync_always(tmp_path: Path) -> None:
    """A page-cache descriptor is not as durable as write + fsync: no direct path."""
    store = _leased_store(tmp_path, sync_writes=False)
    try:
        assert store.direct_fd() is None
    finally:
        _close(store)


def test_direct_repair_finishes_a_short_write_and_undoes_a_failed_one(tmp_path: Path) -> None:
    """A short direct write is completed; a failed one is cut back and not counted."""
    store = _leased_store(tmp_path)
    try:
        fd = store.direct_fd()
        assert fd is not None
        batch = store.prepare([(Fields("tool.short", "allow"), 2)])
        os.write(fd, batch.data[:10])  # what a short write leaves
        records = store.direct_repair(batch, 10, None)
        assert [r.sequence for r in records] == [2]
        good_size = store.disk.size
        assert store.path.stat().st_size == good_size

        batch = store.prepare([(Fields("tool.fail", "allow"), 3)])
        os.write(fd, batch.data[:7])  # a torn piece, then the write failed
        with pytest.raises(IOFailure, match="append session journal"):
            store.direct_repair(batch, 7, OSError(errno.ENOSPC, "No space left on device"))
        assert store.path.stat().st_size == good_size
        assert store.position.last_sequence == 2

        batch = store.prepare([(Fields("tool.whole", "allow"), 4)])
        os.write(fd, batch.data)
        assert [r.sequence for r in store.direct_done(batch)] == [3]
    finally:
        _close(store)
    scan = scan_journal(store.path.read_bytes())
    assert (scan.event_count, scan.last_sequence) == (3, 3)


# ---------------------------------------------------------------- manager


@needs_ring
async def test_a_foreign_append_under_the_lease_is_noticed_on_the_ring_path(
    tmp_path: Path,
) -> None:
    """A writer that ignores the lock changes the journal: the next batch takes the
    commit path, re-reads, and gives the right sequence."""
    async with SessionManager(_config(tmp_path, journal_io="uring", lock_lease_s=60.0)) as m:
        for _ in range(3):
            await m.append("s1", "run_1", EV)
        journal = _journal(tmp_path)
        lines = journal.read_bytes().splitlines(keepends=True)
        foreign = lines[-1].replace(b'"sequence":3', b'"sequence":4')
        assert foreign != lines[-1]
        _append_ignoring_the_lock(journal, foreign)
        ack = await m.append("s1", "run_1", EV)
        assert ack.sequence == 5
    scan = scan_journal(_journal(tmp_path).read_bytes())
    assert scan.last_sequence == 5


async def test_auto_falls_back_to_threads_without_the_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine without the binding ``auto`` uses threads and ``uring`` refuses to start."""
    monkeypatch.setitem(sys.modules, "liburing", None)  # import fails, as where it is absent
    with pytest.raises(RingUnavailable, match="not installed"):
        JournalRing.open()
    async with SessionManager(_config(tmp_path / "a", journal_io="auto")) as manager:
        await manager.append("s1", "run_1", EV)
        await manager.append("s1", "run_1", EV)
        assert manager.stats()["journal_io"] == "thread"
        assert manager.stats()["ring_writes"] == 0
    with pytest.raises(InternalError) as refused:
        async with SessionManager(_config(tmp_path / "b", journal_io="uring")):
            pass
    assert refused.value.error_code == "journal_ring_unavailable"
    # the state-directory lock was released: a thread-mode manager starts there
    async with SessionManager(_config(tmp_path / "b", journal_io="thread")) as manager:
        assert (await manager.append("s1", "run_1", EV)).sequence == 1


class _FailingPeek:
    """The binding, with completions that cannot be read (a fault injected at the seam)."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def io_uring_peek_cqe(self, ring: Any, cqe: Any) -> None:
        raise RuntimeError("completion queue unreadable")


@needs_ring
async def test_a_ring_that_cannot_read_completions_answers_ring_lost(tmp_path: Path) -> None:
    """Our decision: when completions cannot be read, the waiter hears RingLost (its write's
    fate is unknown: the actor restarts and re-reads), and the ring takes no more writes."""
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    ring = JournalRing.open(entries=8)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(ring.serve)
            ring._lib = _FailingPeek(ring._lib)
            with anyio.fail_after(10), pytest.raises(RingLost, match="unreadable"):
                await ring.write(fd, b"x\n", 0)
            assert ring.broken and not ring.usable
            with pytest.raises(RingBusy):
                await ring.write(fd, b"y\n", 0)
            tg.cancel_scope.cancel()
    finally:
        ring.close()
        os.close(fd)


@needs_ring
async def test_a_lost_ring_crashes_the_actor_and_the_session_goes_on_in_threads(
    tmp_path: Path,
) -> None:
    """Fail closed: the caller whose write's fate is unknown gets an error, never an ack;
    the actor restarts, re-reads the journal, and later appends use the thread."""
    config = _config(tmp_path, journal_io="uring", lock_lease_s=60.0)
    async with SessionManager(config) as manager:
        for _ in range(3):
            await manager.append("s1", "run_1", EV)
        assert manager.stats()["ring_writes"] >= 1
        ring = manager._ring
        assert ring is not None
        ring._lib = _FailingPeek(ring._lib)
        with anyio.fail_after(10), pytest.raises(InternalError) as lost:
            await manager.append("s1", "run_1", EV)
        assert lost.value.error_code == "session_actor_crashed"
        with anyio.fail_after(10):
            ack = await manager.append("s1", "run_1", EV)
        stats = manager.stats()
        assert stats["restarts"] == 1
    scan = scan_journal(_journal(tmp_path).read_bytes())
    # the lost write reached the file (the kernel finished it) or not: either way the
    # sequence after it is the next one, and nothing is torn or duplicated
    assert ack.sequence == scan.last_sequence
    assert ack.sequence in (4, 5)


def test_a_binding_that_crashes_its_probe_is_reported_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled binding that dies of SIGILL on this processor must never be touched in
    the serving process: the probe child crashes, and the reason names the signal."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "liburing.py").write_text(
        "import os, signal\n"
        "class Ring:\n"
        "    def __init__(self):\n"
        "        os.kill(os.getpid(), signal.SIGILL)\n"
    )
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.delitem(sys.modules, "liburing", raising=False)
    from gait_runtime.supervisor._journal_io.uring import binding_probe

    reason = binding_probe.__wrapped__()
    assert "SIGILL" in reason and "crashed" in reason
