"""The actor's I/O thread, its one-shot replies, and the Go lock lease released off the loop.

Async tests run on asyncio and trio (``anyio_backend``). Threads are coordinated
with ``threading.Event`` gates and ``wait_all_tasks_blocked``, never with sleeps.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.errors import IOFailure
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor._journal_io.iothread import IoThread
from gait_runtime.supervisor.journal.scan import load_state
from gait_runtime.supervisor.journal.store import JournalStore, OsJournalFile, StoreOptions
from gait_runtime.supervisor.sessions.actor import SessionActor
from gait_runtime.supervisor.sessions.messages import ActorStats, AppendRequest, Message, Reply
from gait_runtime.supervisor.sessions.supervision import SessionSlot, answer_leftovers

pytestmark = pytest.mark.anyio

EV = EventFields(tool_name="tool.x", verdict="allow")


def _config(tmp_path: Path, **kw: Any) -> SessionConfig:
    kw.setdefault("clock", FakeClock(step_ns=1000))
    return SessionConfig(session_dir=tmp_path / "sessions", **kw)


def _exists(path: Path) -> bool:
    return path.exists()


def _state_matches(journal: Path) -> bool:
    state = load_state(Path(str(journal) + ".state.json"), journal.stat().st_size)
    return state is not None


async def _wait_thread_event(event: threading.Event) -> None:
    with anyio.fail_after(5):
        assert await anyio.to_thread.run_sync(event.wait, 5)


# ------------------------------------------------------------------ IoThread


async def test_io_thread_returns_results_and_reraises_errors() -> None:
    """Our decision: a job's value comes back, and what it raised is raised in the caller."""
    io = IoThread("test-io")
    io.start()
    try:
        names: list[str] = []

        def job(x: int) -> int:
            names.append(threading.current_thread().name)
            return x * 2

        def boom() -> None:
            raise IOFailure("disk on fire")

        with anyio.fail_after(5):
            assert await io.run(job, 21) == 42
            with pytest.raises(IOFailure, match="disk on fire"):
                await io.run(boom)
            assert await io.run(job, 1) == 2  # the thread survives a failed job
        assert names == ["test-io", "test-io"]
    finally:
        io.stop()
    io.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        await io.run(len, "x")


async def test_cancelled_io_call_waits_for_the_running_job() -> None:
    """Our decision (as ``to_thread.run_sync`` without abandon): cancelling the waiter
    never leaves a journal write running behind the actor's back."""
    io = IoThread("test-io")
    io.start()
    entered, gate = threading.Event(), threading.Event()
    order: list[str] = []

    def job() -> None:
        entered.set()
        gate.wait(5)
        order.append("job finished")

    async def caller(scope: anyio.CancelScope) -> None:
        with scope:
            await io.run(job)
        order.append("caller left" + (" (cancelled)" if scope.cancelled_caught else ""))

    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                scope = anyio.CancelScope()
                tg.start_soon(caller, scope)
                await _wait_thread_event(entered)
                scope.cancel()
                await anyio.wait_all_tasks_blocked()
                assert order == []  # still waiting for the job despite the cancel
                gate.set()
        assert order == ["job finished", "caller left (cancelled)"]
    finally:
        gate.set()
        io.stop()


# --------------------------------------------------------------------- Reply


async def test_reply_first_answer_wins_and_late_answers_are_harmless() -> None:
    """Our decision: a reply is one-shot; a second answer (or one nobody waits for) is ignored."""
    reply = Reply[int]()
    assert not reply.answered
    reply.set(1)
    reply.set(2)
    assert reply.answered
    with anyio.fail_after(5):
        assert await reply.wait() == 1
    abandoned = Reply[int]()
    abandoned.set(ValueError("nobody listens"))  # must not raise


async def test_reply_waiter_can_be_cancelled_and_the_actor_answers_later() -> None:
    """Our decision: a caller that gives up leaves; the actor's answer afterwards is harmless."""
    reply = Reply[str]()
    with anyio.move_on_after(0) as scope:
        await reply.wait()
    assert scope.cancelled_caught
    reply.set("late")
    assert reply.answered


async def test_cancelled_appender_does_not_break_the_actor(tmp_path: Path) -> None:
    """docs/sessions.md: a caller cancelled while its batch is being written gets no answer,
    its record may still be durable, and the session keeps serving everyone else."""
    gate, entered = threading.Event(), threading.Event()

    class SlowFile(OsJournalFile):
        def write(self, data: bytes) -> int:
            if b'"tool.slow"' in data and not gate.is_set():
                entered.set()
                gate.wait(5)
            return super().write(data)

    async with SessionManager(_config(tmp_path, opener=SlowFile)) as manager:
        await manager.append("s1", "run_1", EV)
        try:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    scope = anyio.CancelScope()

                    async def slow() -> None:
                        with scope:
                            await manager.append("s1", "run_1", EventFields("tool.slow", "allow"))

                    tg.start_soon(slow)
                    await _wait_thread_event(entered)
                    scope.cancel()
                    await anyio.wait_all_tasks_blocked()
                    gate.set()
                assert scope.cancelled_caught
                ack = await manager.append("s1", "run_1", EV)
        finally:
            gate.set()
        assert ack.sequence == 3  # the cancelled caller's record was written as sequence 2
        assert (await manager.status("s1"))["event_count"] == 3


async def test_messages_left_by_a_stopped_actor_are_answered(tmp_path: Path) -> None:
    """Our decision: a caller whose message is still queued when its actor is gone for
    good gets ``session_actor_crashed`` instead of waiting forever."""
    send, receive = anyio.create_memory_object_stream[Message](4)
    config = _config(tmp_path, offload_io=False)
    actor = SessionActor(
        "s1", "run_1", tmp_path / "s1.journal.jsonl", config, receive, ActorStats()
    )
    reply = Reply[Any]()
    send.send_nowait(AppendRequest(EV, 1, reply))
    session = SessionSlot(("s1", "run_1"), actor.journal_path, send, receive)
    answer_leftovers(session)
    with anyio.fail_after(5):
        answer = await reply.wait()
    assert isinstance(answer, Exception) and "stopped before answering" in str(answer)
    send.close()
    receive.close()


# ------------------------------------------------------------- lock lease


async def test_expired_lock_lease_is_released_in_the_io_thread(tmp_path: Path) -> None:
    """spec/sessions.md §7 lease (docs/sessions.md): once the lease ends the Go lock file is
    deleted, and the delete runs in the actor's I/O thread, not on the event loop."""
    send, receive = anyio.create_memory_object_stream[Message](4)
    config = _config(tmp_path, lock_lease_s=60.0, idle_timeout_s=0)
    journal = tmp_path / "sessions" / "s1.journal.jsonl"
    actor = SessionActor("s1", "run_1", journal, config, receive, ActorStats())
    lock = Path(str(journal) + ".lock")
    threads: list[str] = []
    release = actor.store.lease.release

    def spy_release() -> None:
        threads.append(threading.current_thread().name)
        release()

    actor.store.lease.release = spy_release  # type: ignore[method-assign]  # test spy
    with anyio.fail_after(5):
        await actor.open()
        try:
            reply = Reply[Any]()
            await actor._commit([AppendRequest(EV, 1, reply)])
            assert not isinstance(await reply.wait(), BaseException)
            assert actor.store.lease.held and _exists(lock)  # the lease keeps it
            await actor._timers(anyio.current_time() + 61.0)  # the lease has ended
            assert not actor.store.lease.held and not _exists(lock)
            assert threads == ["gait-session-io:s1"]
            # whoever takes the lock next finds an exact state file
            assert _state_matches(journal)
        finally:
            send.close()
            await actor.serve()  # mailbox closed: drains and closes the store
    assert not _exists(lock)
    receive.close()


# ------------------------------------------------------------- state file


def test_state_file_is_exact_whenever_the_lock_is_free(tmp_path: Path) -> None:
    """spec/sessions.md §6/§7: readers read J.state.json under the lock, so under a lease
    it is written once, before the lock is released, not after every batch."""
    journal = tmp_path / "j.journal.jsonl"
    store = JournalStore(journal, StoreOptions(state_updates="batch"))
    store.open("s1", "run_1")
    try:
        store.append([(EV, 1)])
        assert _state_matches(journal)  # no lease: written with the batch
        store.lease.keep = True
        store.append([(EV, 2)])
        store.append([(EV, 3)])
        assert store.lease.held
        assert not _state_matches(journal)  # under our lease nobody else may read it
        store.lease.keep = False
        store.lease.release()
        assert _state_matches(journal)
        state = load_state(Path(str(journal) + ".state.json"), journal.stat().st_size)
        assert state is not None and state.last_sequence == 3
    finally:
        store.close()


async def test_call_queued_behind_a_crashing_batch_is_answered(tmp_path: Path) -> None:
    """Our decision: a control call the actor already took from its mailbox when its batch
    crashed gets ``session_actor_crashed`` rather than waiting forever; the session restarts."""
    gate, entered = threading.Event(), threading.Event()

    class CrashingFile(OsJournalFile):
        def write(self, data: bytes) -> int:
            if b'"tool.slow"' in data and not gate.is_set():
                entered.set()
                gate.wait(5)
            if b'"tool.crash"' in data:
                raise RuntimeError("injected crash")
            return super().write(data)

    outcomes: dict[str, str] = {}

    async def run(name: str, call: Any) -> None:
        try:
            await call()
            outcomes[name] = "ok"
        except Exception as exc:
            outcomes[name] = getattr(exc, "error_code", type(exc).__name__)

    async with SessionManager(_config(tmp_path, opener=CrashingFile)) as manager:
        await manager.append("s1", "run_1", EV)
        try:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    slow = EventFields("tool.slow", "allow")
                    crash = EventFields("tool.crash", "allow")
                    tg.start_soon(run, "slow", lambda: manager.append("s1", "run_1", slow))
                    await _wait_thread_event(entered)
                    tg.start_soon(run, "crash", lambda: manager.append("s1", "run_1", crash))
                    await anyio.wait_all_tasks_blocked()
                    tg.start_soon(run, "status", lambda: manager.status("s1"))
                    await anyio.wait_all_tasks_blocked()
                    gate.set()
        finally:
            gate.set()
        assert outcomes == {
            "slow": "ok",
            "crash": "session_actor_crashed",
            "status": "session_actor_crashed",
        }
        assert (await manager.append("s1", "run_1", EV)).sequence == 3
        assert manager.stats()["restarts"] == 1


# ------------------------------------------------------------ durable writes


def _open_flags(path: Path) -> list[int]:
    """``fcntl(F_GETFL)`` of every descriptor of this process open on ``path``."""
    import fcntl
    import os

    flags: list[int] = []
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target == str(path.resolve()):
            flags.append(fcntl.fcntl(int(entry.name), fcntl.F_GETFL))
    return flags


@pytest.mark.parametrize(("policy", "dsync"), [("always", True), ("interval", False)])
async def test_journal_writes_are_synchronous_only_under_fsync_always(
    tmp_path: Path, policy: str, dsync: bool
) -> None:
    """Our decision: ``fsync=always`` opens journals ``O_DSYNC`` (a batch is durable when
    its one ``write`` returns); ``interval``/``never`` keep page-cache writes."""
    import os

    async with SessionManager(_config(tmp_path, fsync=policy)) as manager:
        ack = await manager.append("s1", "r1", EV)
        flags = _open_flags(ack.journal_path)
        assert flags, "the actor keeps its journal open"
        assert all(bool(f & os.O_DSYNC) is dsync for f in flags)
        stats = manager.stats()
    assert stats["fsyncs"] >= (1 if dsync else 0)


def test_sync_writes_file_is_opened_o_dsync(tmp_path: Path) -> None:
    """Our decision: ``sync_writes`` asks the kernel for durable writes (``O_DSYNC``)."""
    import os

    path = tmp_path / "j.jsonl"
    plain, synced = OsJournalFile(tmp_path / "p.jsonl"), OsJournalFile(path, sync_writes=True)
    try:
        assert synced.write(b"x\n") == 2
        synced.fsync()
        assert [bool(f & os.O_DSYNC) for f in _open_flags(path)] == [True]
        assert [bool(f & os.O_DSYNC) for f in _open_flags(tmp_path / "p.jsonl")] == [False]
        assert path.read_bytes() == b"x\n"
    finally:
        synced.close()
        plain.close()
