"""SessionManager and SessionActor: group commit, supervision, backpressure, timers, drain.

Async tests run on asyncio and trio (``anyio_backend``). Timer tests run on trio
with ``MockClock(autojump_threshold=0)`` and journal I/O inline
(``offload_io=False``): a task waiting on a worker thread looks blocked to an
autojumping clock, which would jump straight to the next deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

from gait_runtime.clock import FakeClock
from gait_runtime.errors import (
    InternalError,
    MailboxFull,
    SessionFailedError,
    SessionInputError,
    StateDirLockedError,
)
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager, journal_path_for
from gait_runtime.supervisor.journal.chain import verify_chain
from gait_runtime.supervisor.journal.scan import load_state, scan_journal
from gait_runtime.supervisor.journal.store import OsJournalFile
from tests.conftest import JOURNAL_IO_PATHS

pytestmark = pytest.mark.anyio

EV = EventFields(tool_name="tool.x", verdict="allow")


def _config(tmp_path: Path, **kw: Any) -> SessionConfig:
    kw.setdefault("clock", FakeClock(step_ns=1000))
    return SessionConfig(session_dir=tmp_path / "sessions", **kw)


def _journal(tmp_path: Path, sid: str = "s1") -> Path:
    return tmp_path / "sessions" / f"{sid}.journal.jsonl"


def _exists(path: Path) -> bool:
    return path.exists()


def _on_trio(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)})


@pytest.mark.parametrize("journal_io", JOURNAL_IO_PATHS)
async def test_64_concurrent_appenders_are_gap_free_and_survive_restart(
    tmp_path: Path, journal_io: str
) -> None:
    """64 appenders x 20: zero errors, unique gap-free sequences, all present after restart,
    whether batches under the lock lease go through the io_uring or the actor's thread."""
    acks: list[int] = []
    config = _config(tmp_path, journal_io=journal_io, lock_lease_s=60.0)
    async with SessionManager(config) as manager:

        async def appender(k: int) -> None:
            for _ in range(20):
                ack = await manager.append("s1", "run_1", EventFields(f"tool.{k}", "allow"))
                acks.append(ack.sequence)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for k in range(64):
                    tg.start_soon(appender, k)
        stats = manager.stats()
        assert stats["appends"] == 1280
        assert stats["batches"] < 1280  # group commit happened
        assert stats["fsyncs"] == stats["batches"] + 1  # + the header
        assert stats["journal_io"] == journal_io
        if journal_io == "uring":
            # the first batch takes the lock in the thread; the rest ride the lease
            assert stats["ring_writes"] == stats["batches"] - 1
        else:
            assert stats["ring_writes"] == 0
    assert sorted(acks) == list(range(1, 1281))
    scan = scan_journal(_journal(tmp_path).read_bytes())
    assert (scan.event_count, scan.last_sequence) == (1280, 1280)
    async with SessionManager(_config(tmp_path, journal_io=journal_io)) as manager:
        ack = await manager.append("s1", "run_1", EV)
        assert ack.sequence == 1281


async def test_state_file_is_exact_after_drain(tmp_path: Path) -> None:
    """§6: after the manager exits, J.state.json matches the journal size and counters."""
    async with SessionManager(_config(tmp_path)) as manager:
        for _ in range(5):
            await manager.append("s1", "run_1", EV)
    path = _journal(tmp_path)
    state = load_state(Path(str(path) + ".state.json"), path.stat().st_size)
    assert state is not None and (state.event_count, state.last_sequence) == (5, 5)


class CrashingFile(OsJournalFile):
    """A real journal descriptor whose writes raise an unexpected error (a bug, not I/O)."""

    crashes = 0

    def write(self, data: bytes) -> int:
        if CrashingFile.crashes > 0:
            CrashingFile.crashes -= 1
            raise RuntimeError("injected actor crash")
        return super().write(data)


def _opener_for(target: str) -> Callable[[Path], OsJournalFile]:
    def opener(path: Path) -> OsJournalFile:
        return CrashingFile(path) if path.name.startswith(target) else OsJournalFile(path)

    return opener


async def test_actor_crash_restarts_only_that_session(tmp_path: Path) -> None:
    """one_for_one: a crash fails the in-flight append, restarts A; B never notices."""
    config = _config(tmp_path, opener=_opener_for("a."), restart_intensity=(3, 10.0))
    async with SessionManager(config) as manager:
        await manager.append("a", "run_a", EV)
        await manager.append("b", "run_b", EV)
        CrashingFile.crashes = 1
        with pytest.raises(Exception, match="injected actor crash"):
            await manager.append("a", "run_a", EV)
        assert (await manager.append("a", "run_a", EV)).sequence == 2
        assert (await manager.append("b", "run_b", EV)).sequence == 2
        assert manager.stats()["restarts"] == 1
        assert manager.stats()["failed_sessions"] == []


async def test_restart_intensity_exceeded_marks_session_failed(tmp_path: Path) -> None:
    """After 3 restarts within the window the 4th crash marks A failed; B carries on."""
    config = _config(tmp_path, opener=_opener_for("a."), restart_intensity=(3, 10.0))
    async with SessionManager(config) as manager:
        await manager.append("a", "run_a", EV)
        CrashingFile.crashes = 4
        for _ in range(4):
            with pytest.raises(Exception, match="crash"):
                await manager.append("a", "run_a", EV)
        with pytest.raises(SessionFailedError) as info:
            await manager.append("a", "run_a", EV)
        assert info.value.error_code == "session_failed"
        assert "restart intensity 3 in 10s" in info.value.message
        assert (await manager.append("b", "run_b", EV)).sequence == 1
        stats = manager.stats()
        assert (stats["failed_sessions"], stats["restarts"]) == (["a"], 3)
    CrashingFile.crashes = 0
    assert scan_journal(_journal(tmp_path, "a").read_bytes()).last_sequence == 1


def test_crashes_spread_beyond_the_window_do_not_fail_the_session(tmp_path: Path) -> None:
    """Restart intensity counts only crashes inside the window (virtual time)."""

    async def main() -> None:
        config = _config(
            tmp_path, opener=_opener_for("a."), restart_intensity=(1, 10.0), offload_io=False
        )
        async with SessionManager(config) as manager:
            await manager.append("a", "run_a", EV)
            for _ in range(3):
                CrashingFile.crashes = 1
                with pytest.raises(Exception, match="crash"):
                    await manager.append("a", "run_a", EV)
                await anyio.sleep(11)
            assert (await manager.append("a", "run_a", EV)).sequence == 2
            assert manager.stats()["restarts"] == 3

    _on_trio(main)


async def test_full_mailbox_sheds_load_with_mailbox_full(tmp_path: Path) -> None:
    """wait=False on a full mailbox raises MailboxFull (retryable); wait=True waits; none lost."""
    gate = threading.Event()
    entered = threading.Event()

    class SlowFile(OsJournalFile):
        def write(self, data: bytes) -> int:
            if b'"event"' in data and not gate.is_set():
                entered.set()
                gate.wait(10)
            return super().write(data)

    gate.set()
    config = _config(tmp_path, mailbox_size=2, opener=SlowFile)
    async with SessionManager(config) as manager:
        await manager.append("s1", "run_1", EventFields("warmup", "allow", created_at_ns=1))
        sequences: list[int] = []

        async def one(wait: bool) -> None:
            sequences.append((await manager.append("s1", "run_1", EV, wait=wait)).sequence)

        gate.clear()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(one, True)  # taken by the actor, stuck in write
                await anyio.to_thread.run_sync(entered.wait, 10)
                tg.start_soon(one, False)
                tg.start_soon(one, False)  # mailbox now holds 2
                await anyio.wait_all_tasks_blocked()
                with pytest.raises(MailboxFull) as info:
                    await manager.append("s1", "run_1", EV, wait=False)
                assert info.value.retryable and info.value.error_code == "mailbox_full"
                assert manager.stats()["mailbox_depths"] == {"s1": 2}
                gate.set()
        gate.set()
        assert sorted(sequences) == [2, 3, 4]


async def test_no_new_session_starts_while_the_manager_drains(tmp_path: Path) -> None:
    """Our decision: during drain a new session is refused at once (manager_draining).

    Without the guard the new actor would join the exiting task group and wait on a
    mailbox nobody closes. The drain is held open by a write stuck in a worker thread.
    """
    gate, entered = threading.Event(), threading.Event()

    class SlowFile(OsJournalFile):
        def write(self, data: bytes) -> int:
            if b'"event"' in data and not gate.is_set():
                entered.set()
                gate.wait(10)
            return super().write(data)

    acks: list[int] = []
    refused: list[str] = []

    with anyio.fail_after(10):
        async with (
            anyio.create_task_group() as tg,
            SessionManager(_config(tmp_path, opener=SlowFile)) as manager,
        ):

            async def busy() -> None:
                acks.append((await manager.append("s1", "run_1", EV)).sequence)

            async def late() -> None:
                await anyio.wait_all_tasks_blocked()  # the manager is now draining
                try:
                    await manager.append("s2", "run_2", EV)
                except InternalError as exc:
                    refused.append(exc.error_code)
                finally:
                    gate.set()

            tg.start_soon(busy)
            await anyio.to_thread.run_sync(entered.wait, 10)
            tg.start_soon(late)
    assert refused == ["manager_draining"]
    assert acks == [1]
    assert not _journal(tmp_path, "s2").exists()


async def test_two_managers_on_one_directory_fail_fast(tmp_path: Path) -> None:
    """The state-directory lock: the second manager fails naming the holder pid."""
    async with SessionManager(_config(tmp_path)):
        with pytest.raises(StateDirLockedError, match="in use by another supervisor"):
            async with SessionManager(_config(tmp_path)):
                pass


async def test_invalid_journal_fails_to_start_and_others_carry_on(tmp_path: Path) -> None:
    """A hand-edited gap: that session refuses to start with a clear error; B works."""
    async with SessionManager(_config(tmp_path)) as manager:
        for _ in range(3):
            await manager.append("a", "run_a", EV)
    path = _journal(tmp_path, "a")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[3:]))
    async with SessionManager(_config(tmp_path)) as manager:
        with pytest.raises(SessionInputError) as info:
            await manager.append("a", "run_a", EV)
        assert info.value.error_code == "session_journal_invalid"
        assert info.value.details == {"line": 3, "got": 3, "expected": 2}
        assert (await manager.append("b", "run_b", EV)).sequence == 1


async def test_torn_tail_is_quarantined_on_start_and_counted(tmp_path: Path) -> None:
    """Recovery on actor start: torn bytes move to a quarantine file; stats count them."""
    async with SessionManager(_config(tmp_path)) as manager:
        await manager.append("s1", "run_1", EV)
    async with await anyio.open_file(_journal(tmp_path), "ab") as fh:
        await fh.write(b'{"record_type":"event","ev')
    async with SessionManager(_config(tmp_path)) as manager:
        assert (await manager.append("s1", "run_1", EV)).sequence == 2
        assert manager.stats()["quarantined_tails"] == 1
    assert len(list((tmp_path / "sessions").glob("s1.journal.jsonl.quarantine.*"))) == 1


async def test_checkpoint_compact_then_append_keeps_the_sequence(tmp_path: Path) -> None:
    """§5 fix: compacting a fully checkpointed journal, then appending, continues the sequence."""
    async with SessionManager(_config(tmp_path)) as manager:
        for _ in range(3):
            await manager.append("s1", "run_1", EV)
        record = await manager.checkpoint("s1")
        assert record is not None and (record.sequence_start, record.sequence_end) == (1, 3)
        assert await manager.checkpoint("s1") is None
        report = await manager.compact("s1")
        assert (report.events_before, report.events_after) == (3, 0)
        assert (await manager.append("s1", "run_1", EV)).sequence == 4
        assert (await manager.status("s1"))["last_sequence"] == 4
        record = await manager.checkpoint("s1")
        assert record is not None and record.sequence_start == 4
    chain = tmp_path / "sessions" / "s1.journal_chain.json"
    assert verify_chain(chain).ok
    assert scan_journal(_journal(tmp_path).read_bytes()).last_sequence == 4


async def test_checkpoint_every_n_events_and_final_checkpoint_on_drain(tmp_path: Path) -> None:
    """Checkpoints every N events, and one for the remainder when the manager drains."""
    config = _config(tmp_path, checkpoint_every_events=5, checkpoint_dir=tmp_path / "cps")
    async with SessionManager(config) as manager:
        for _ in range(7):
            await manager.append("s1", "run_1", EV)
        assert manager.stats()["checkpoints"] == 1
    scan = scan_journal(_journal(tmp_path).read_bytes())
    assert [(c.sequence_start, c.sequence_end) for c in scan.checkpoints] == [(1, 5), (6, 7)]
    assert sorted(p.name for p in (tmp_path / "cps").iterdir()) == [
        "s1_cp_000005.zip",
        "s1_cp_000007.zip",
    ]
    assert verify_chain(tmp_path / "sessions" / "s1.journal_chain.json").ok


async def test_other_run_id_gets_its_own_journal(tmp_path: Path) -> None:
    """service.md §3.3: a journal owned by another run sends us to <base>_<run>.journal.jsonl."""
    async with SessionManager(_config(tmp_path)) as manager:
        await manager.append("s1", "run_1", EV)
    async with SessionManager(_config(tmp_path)) as manager:
        ack = await manager.append("s1", "run_2", EV)
        assert ack.journal_path.name == "s1_run_2.journal.jsonl"
        assert ack.sequence == 1
    assert journal_path_for(tmp_path / "sessions", "s1", "run_1").name == "s1.journal.jsonl"


def test_idle_session_stops_and_restarts_transparently(tmp_path: Path) -> None:
    """Idle timeout (virtual time): the actor stops, writes an exact state, restarts on use."""

    async def main() -> None:
        config = _config(tmp_path, idle_timeout_s=60, offload_io=False)
        async with SessionManager(config) as manager:
            await manager.append("s1", "run_1", EV)
            assert manager.stats()["sessions_active"] == 1
            await anyio.sleep(59)
            assert manager.stats()["sessions_active"] == 1
            await anyio.sleep(2)
            assert manager.stats()["sessions_active"] == 0
            path = _journal(tmp_path)
            state = load_state(Path(str(path) + ".state.json"), path.stat().st_size)
            assert state is not None and state.last_sequence == 1
            assert (await manager.append("s1", "run_1", EV)).sequence == 2
            assert manager.stats()["sessions_active"] == 1

    _on_trio(main)


def test_checkpoint_every_t_seconds(tmp_path: Path) -> None:
    """A time-based checkpoint fires T seconds after the last one when events are pending."""

    async def main() -> None:
        config = _config(tmp_path, checkpoint_every_s=30, idle_timeout_s=0, offload_io=False)
        async with SessionManager(config) as manager:
            await manager.append("s1", "run_1", EV)
            await anyio.sleep(29)
            assert manager.stats()["checkpoints"] == 0
            await anyio.sleep(2)
            assert manager.stats()["checkpoints"] == 1
            await anyio.sleep(120)  # nothing pending: no empty checkpoints
            assert manager.stats()["checkpoints"] == 1

    _on_trio(main)


def test_fsync_interval_policy_syncs_after_the_interval(tmp_path: Path) -> None:
    """fsync=interval: appends are answered after the write; the fsync follows within T."""

    async def main() -> None:
        config = _config(
            tmp_path, fsync="interval", fsync_interval_s=0.5, idle_timeout_s=0, offload_io=False
        )
        async with SessionManager(config) as manager:
            await manager.append("s1", "run_1", EV)
            base = manager.stats()["fsyncs"]
            for _ in range(3):
                await manager.append("s1", "run_1", EV)
            assert manager.stats()["fsyncs"] == base
            await anyio.sleep(1)
            assert manager.stats()["fsyncs"] == base + 1

    _on_trio(main)


async def test_go_style_cli_appends_interleave_safely_with_a_busy_session(tmp_path: Path) -> None:
    """§7: the Go lock is honoured for every batch, so one-shot CLI appends (which take the
    lock file like Go) interleave with a loaded session without a duplicate or a gap."""
    from gait_runtime.supervisor.journal.oneshot import session_append

    path = _journal(tmp_path)
    async with SessionManager(_config(tmp_path)) as manager:
        await manager.append("s1", "run_1", EV)

        async def appender() -> None:
            for _ in range(40):
                await manager.append("s1", "run_1", EV)

        cli_sequences: list[int] = []
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(appender)
                for _ in range(5):
                    record = await session_append(path, EventFields("cli.tool", "block"))
                    cli_sequences.append(record.sequence)
        stats = manager.stats()
    scan = scan_journal(path.read_bytes())
    assert (scan.event_count, scan.last_sequence) == (326, 326)
    assert len(set(cli_sequences)) == 5
    assert stats["appends"] == 321


def test_lock_lease_is_released_when_the_session_goes_quiet(tmp_path: Path) -> None:
    """The Go lock held across batches is dropped once the lease ends (virtual time)."""

    async def main() -> None:
        config = _config(tmp_path, lock_lease_s=0.05, idle_timeout_s=0, offload_io=False)
        lock = Path(str(_journal(tmp_path)) + ".lock")
        async with SessionManager(config) as manager:
            await manager.append("s1", "run_1", EV)
            await manager.append("s1", "run_1", EV)
            assert _exists(lock)  # checked inline: a thread hop would let the clock jump
            await anyio.sleep(0.1)
            assert not _exists(lock)
        assert not _exists(lock)

    _on_trio(main)


async def test_checkpoints_are_signed_when_a_key_is_configured(tmp_path: Path) -> None:
    """§4.5: with a signing key the chain passes strict (signature-required) verification."""
    from gait_runtime.artifacts.signing import SigningKey

    key = SigningKey(bytes(range(32)))
    async with SessionManager(_config(tmp_path, signing_key=key)) as manager:
        await manager.append("s1", "run_1", EV)
        assert await manager.checkpoint("s1") is not None
    chain = tmp_path / "sessions" / "s1.journal_chain.json"
    assert verify_chain(chain, verify_key=key.public, require_signature=True).ok
    unsigned = verify_chain(chain, require_signature=True)
    assert unsigned.checkpoint_errors == ["checkpoint 1 signature verification failed"]


async def test_concurrent_first_use_by_two_runs_never_shares_a_journal(tmp_path: Path) -> None:
    """Starts are serialised per session id: two runs starting at once get two journals."""
    names: dict[str, str] = {}
    async with SessionManager(_config(tmp_path)) as manager:

        async def first(run: str) -> None:
            ack = await manager.append("s1", run, EV)
            assert ack.sequence == 1
            names[run] = ack.journal_path.name

        async with anyio.create_task_group() as tg:
            tg.start_soon(first, "run_1")
            tg.start_soon(first, "run_2")
    owner = next(run for run, name in names.items() if name == "s1.journal.jsonl")
    other = "run_2" if owner == "run_1" else "run_1"
    assert names[other] == f"s1_{other}.journal.jsonl"


@pytest.mark.parametrize("trust", [True, False])
async def test_same_size_hand_edit_is_caught_at_start_or_first_checkpoint(
    tmp_path: Path, trust: bool
) -> None:
    """trust_state_on_start=False validates every start; True (Go's trust rule) defers a
    size-preserving edit to the first full read, the next checkpoint."""
    async with SessionManager(_config(tmp_path)) as manager:
        for _ in range(3):
            await manager.append("s1", "run_1", EV)
    path = _journal(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"sequence":2,', b'"sequence":7,', 1))
    config = _config(tmp_path, trust_state_on_start=trust)
    async with SessionManager(config) as manager:
        if not trust:
            with pytest.raises(SessionInputError, match="got 7 want 2"):
                await manager.append("s1", "run_1", EV)
            return
        assert (await manager.append("s1", "run_1", EV)).sequence == 4
        with pytest.raises(SessionInputError, match="got 7 want 2"):
            await manager.checkpoint("s1")


async def test_drain_flushes_everything_queued_when_the_manager_exits(tmp_path: Path) -> None:
    """__aexit__ closes the mailboxes and the actor still writes and acknowledges every
    message already queued; nothing accepted is dropped."""
    gate = threading.Event()
    gate.set()

    class SlowFile(OsJournalFile):
        def write(self, data: bytes) -> int:
            gate.wait(10)
            return super().write(data)

    acks: list[int] = []
    config = _config(tmp_path, opener=SlowFile, batch_limit=4)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as outer, SessionManager(config) as manager:
            await manager.append("s1", "run_1", EV)
            gate.clear()

            async def one() -> None:
                acks.append((await manager.append("s1", "run_1", EV)).sequence)

            for _ in range(12):
                outer.start_soon(one)
            await anyio.wait_all_tasks_blocked()
            assert manager.stats()["mailbox_depths"]["s1"] > 0

            async def release() -> None:
                await anyio.wait_all_tasks_blocked()
                gate.set()

            outer.start_soon(release)
    assert sorted(acks) == list(range(2, 14))
    assert scan_journal(_journal(tmp_path).read_bytes()).last_sequence == 13
