"""The bound on open sessions (issue 13.2): least recently used idle sessions close early,
a busy full house is refused with a retryable error, and closed sessions reopen intact.

Real journals in a temp dir on both anyio backends; the busy case holds a real write in a
thread with ``threading.Event`` gates, never with sleeps.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.errors import MailboxFull, SessionLimitReached
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.journal.store import OsJournalFile
from gait_runtime.supervisor.sessions.config import sessions_for_descriptor_limit

pytestmark = pytest.mark.anyio

EV = EventFields(tool_name="tool.x", verdict="allow")


def _config(tmp_path: Path, **kw: Any) -> SessionConfig:
    kw.setdefault("clock", FakeClock(step_ns=1000))
    return SessionConfig(session_dir=tmp_path / "sessions", idle_timeout_s=0, **kw)


async def test_least_recently_used_idle_sessions_close_to_make_room(tmp_path: Path) -> None:
    """max_sessions=3, five sessions: never more than 3 open, the two least recently used
    closed early, and a closed session reopens with its sequence intact."""
    async with SessionManager(_config(tmp_path, max_sessions=3)) as manager:
        for sid in ("a", "b", "c"):
            assert (await manager.append(sid, f"run_{sid}", EV)).sequence == 1
        await manager.append("a", "run_a", EV)  # a is now the most recently used
        for sid in ("d", "e"):
            await manager.append(sid, f"run_{sid}", EV)
            assert manager.stats()["sessions_open"] <= 3
        stats = manager.stats()
        assert stats["session_evictions"] == 2
        assert stats["max_sessions"] == 3
        # b and c were least recently used: a stayed open, b reopens at sequence 2
        assert (await manager.append("a", "run_a", EV)).sequence == 3
        assert manager.stats()["session_evictions"] == 2
        assert (await manager.append("b", "run_b", EV)).sequence == 2
        assert manager.stats()["sessions_open"] <= 3
    assert sorted(p.name for p in (tmp_path / "sessions").glob("*.journal.jsonl")) == [
        f"{s}.journal.jsonl" for s in "abcde"
    ]


async def test_concurrent_starts_of_distinct_sessions_keep_the_bound(tmp_path: Path) -> None:
    """max_sessions=4, three callers each starting new sessions at once (so an idle one
    can always be closed): a session being started counts against the bound, so open
    sessions never exceed it (they once overshot when two starts passed the room check
    before either was registered)."""
    seen: list[int] = []
    async with SessionManager(_config(tmp_path, max_sessions=4)) as manager:

        async def caller(k: int) -> None:
            for n in range(8):
                await manager.append(f"c{k}_{n}", f"run_{k}_{n}", EV)
                seen.append(manager.stats()["sessions_open"])

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for k in range(3):
                    tg.start_soon(caller, k)
    assert len(seen) == 24
    assert max(seen) <= 4
    assert len(list((tmp_path / "sessions").glob("c*.journal.jsonl"))) == 24


async def test_a_full_house_of_busy_sessions_refuses_a_new_one(tmp_path: Path) -> None:
    """Every open session has a call in flight: the new session gets SessionLimitReached
    (a retryable MailboxFull, so 503 + Retry-After at the HTTP edge); nothing is lost."""
    gate, entered = threading.Event(), threading.Event()

    class SlowFile(OsJournalFile):
        def write(self, data: bytes) -> int:
            if b'"event"' in data and not gate.is_set():
                entered.set()
                gate.wait(10)
            return super().write(data)

    gate.set()
    async with SessionManager(_config(tmp_path, max_sessions=1, opener=SlowFile)) as manager:
        await manager.append("busy", "run_1", EV)
        gate.clear()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(manager.append, "busy", "run_1", EV)
                await anyio.to_thread.run_sync(entered.wait, 10)
                with pytest.raises(SessionLimitReached) as refused:
                    await manager.append("other", "run_2", EV, wait=False)
                assert isinstance(refused.value, MailboxFull) and refused.value.retryable
                assert refused.value.error_code == "session_limit_reached"
                gate.set()
        # once the busy call is answered, the new session gets the room
        assert (await manager.append("other", "run_2", EV)).sequence == 1
        assert (await manager.append("busy", "run_1", EV)).sequence == 3


def test_the_default_bound_follows_the_descriptor_limit() -> None:
    """0 = derived: a quarter of RLIMIT_NOFILE (at least 64) stays free, 2 per session."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert sessions_for_descriptor_limit() == (1024 - 256) // 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        assert sessions_for_descriptor_limit() == (200 - 64) // 2
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
