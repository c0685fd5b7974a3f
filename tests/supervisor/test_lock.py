"""The Go session lock protocol (sessions.md §7) and the state-directory lock."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gait_runtime.artifacts.timefmt import format_go_duration, parse_go_duration
from gait_runtime.errors import ContentionError, StateDirLockedError, exit_code_for
from gait_runtime.supervisor.journal.lock import (
    LockSettings,
    acquire_state_dir_lock,
    lock_settings_from_env,
    session_lock,
)

FAST = LockSettings(timeout_ns=150_000_000, retry_ns=10_000_000)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (2_000_000_000, "2s"),
        (2_013_000_000, "2.013s"),
        (202_000_000, "202ms"),
        (50_000_000, "50ms"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (1_500, "1.5µs"),
    ],
)
def test_go_duration_string(ns: int, text: str) -> None:
    """§7.3: durations print like Go's Duration.String()."""
    assert format_go_duration(ns) == text
    assert parse_go_duration(text) == ns


def test_env_settings_follow_go_rules() -> None:
    """§7.2: profiles, invalid values fall back, <=0 clamps, retry clamped to timeout."""
    assert lock_settings_from_env({}) == LockSettings()
    swarm = lock_settings_from_env({"GAIT_SESSION_LOCK_PROFILE": "SWARM"})
    assert (swarm.profile, swarm.timeout_ns, swarm.retry_ns) == ("swarm", 10**10, 20_000_000)
    odd = lock_settings_from_env(
        {
            "GAIT_SESSION_LOCK_PROFILE": "weird",
            "GAIT_SESSION_LOCK_TIMEOUT": "30ms",
            "GAIT_SESSION_LOCK_RETRY": "1s",
            "GAIT_SESSION_LOCK_STALE_AFTER": "nonsense",
        }
    )
    assert (odd.profile, odd.timeout_ns, odd.retry_ns, odd.stale_after_ns) == (
        "standard",
        30_000_000,
        30_000_000,
        300 * 10**9,
    )
    assert lock_settings_from_env({"GAIT_SESSION_LOCK_TIMEOUT": "-1s"}).timeout_ns == 2 * 10**9


def test_lock_file_body_and_release(tmp_path: Path) -> None:
    """§7.1: create-exclusive J.lock holding Go's JSON body, deleted on release."""
    journal = tmp_path / "j.jsonl"
    lock = Path(str(journal) + ".lock")
    with session_lock(journal, FAST):
        raw = lock.read_bytes()
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1
        body = json.loads(raw)
        assert list(body) == ["created_at", "pid", "schema_id", "schema_version"]
        assert body["pid"] == os.getpid()
        assert body["schema_id"] == "gait.runpack.session_lock"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["created_at"])
        assert oct(lock.stat().st_mode & 0o777) == "0o600"
    assert not lock.exists()


def _foreign_lock(journal: Path, created_at: str, pid: int | str) -> Path:
    lock = Path(str(journal) + ".lock")
    body = {"created_at": created_at, "pid": pid, "schema_id": "gait.runpack.session_lock"}
    lock.write_text(json.dumps(body) + "\n")
    return lock


def test_fresh_foreign_lock_of_a_live_process_times_out_with_go_message(tmp_path: Path) -> None:
    """§7.3: contention error text, exit 1, lock left in place."""
    journal = tmp_path / "j.jsonl"
    lock = _foreign_lock(journal, "2099-01-01T00:00:00Z", os.getppid())
    with pytest.raises(ContentionError) as info, session_lock(journal, FAST):
        pass
    assert re.fullmatch(
        rf"session state contention: lock timeout \(path={re.escape(str(lock))} "
        r"waited=[0-9.]+m?s attempts=\d+ timeout=150ms retry=10ms profile=standard\)",
        info.value.message,
    )
    assert exit_code_for(info.value) == 1
    assert lock.exists()


def test_unparseable_lock_blocks_until_timeout(tmp_path: Path) -> None:
    """§7.1: a lock without a parseable created_at and pid is never presumed stale."""
    journal = tmp_path / "j.jsonl"
    Path(str(journal) + ".lock").write_text("not json\n")
    with pytest.raises(ContentionError), session_lock(journal, FAST):
        pass


def test_empty_lock_left_by_a_killed_writer_is_reclaimed(tmp_path: Path) -> None:
    """Our improvement: an empty lock older than 1 s (writer killed between create and
    write) is reclaimed at once instead of blocking every append until the timeout."""
    journal = tmp_path / "j.jsonl"
    lock = Path(str(journal) + ".lock")
    lock.write_bytes(b"")
    past = lock.stat().st_mtime_ns - 5 * 10**9
    os.utime(lock, ns=(past, past))
    slow = LockSettings(timeout_ns=60 * 10**9, retry_ns=10**9)
    reasons: list[str] = []
    with session_lock(journal, slow, on_reclaim=reasons.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert len(reasons) == 1 and reasons[0].startswith("empty lock file abandoned")


def test_fresh_empty_lock_is_respected(tmp_path: Path) -> None:
    """A just-created empty lock may belong to a writer about to write its body: wait."""
    journal = tmp_path / "j.jsonl"
    Path(str(journal) + ".lock").write_bytes(b"")
    with pytest.raises(ContentionError), session_lock(journal, FAST):
        pass


def test_stale_lock_is_reclaimed(tmp_path: Path) -> None:
    """§7.1: created_at older than stale_after is deleted and the lock taken at once."""
    journal = tmp_path / "j.jsonl"
    _foreign_lock(journal, "2020-01-01T00:00:00Z", os.getppid())
    reasons: list[str] = []
    with session_lock(journal, FAST, on_reclaim=reasons.append):
        assert json.loads(Path(str(journal) + ".lock").read_text())["pid"] == os.getpid()
    assert reasons == ["stale (created_at=2020-01-01T00:00:00Z)"]


def test_lock_of_a_dead_process_is_reclaimed_at_once(tmp_path: Path) -> None:
    """Our improvement: a fresh lock whose pid is gone is reclaimed without waiting, and logged."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    journal = tmp_path / "j.jsonl"
    _foreign_lock(journal, "2099-01-01T00:00:00Z", child.pid)
    slow = LockSettings(timeout_ns=60 * 10**9, retry_ns=10**9)
    reasons: list[str] = []
    with capture_logs() as logs, session_lock(journal, slow, on_reclaim=reasons.append):
        pass
    assert reasons == [f"holder pid {child.pid} is gone"]
    assert "reclaimed session lock" in [e["event"] for e in logs if e["log_level"] == "warning"]


def test_second_state_dir_lock_fails_naming_the_holder(tmp_path: Path) -> None:
    """Two supervisors on one directory: the second fails fast with the holder's pid (exit 6)."""
    held = acquire_state_dir_lock(tmp_path)
    try:
        with pytest.raises(StateDirLockedError) as info:
            acquire_state_dir_lock(tmp_path)
        assert f"pid {os.getpid()}" in info.value.message
        assert exit_code_for(info.value) == 6
    finally:
        held.release()
    with acquire_state_dir_lock(tmp_path):
        pass


def test_state_dir_lock_held_by_another_process(tmp_path: Path) -> None:
    """The flock is held across processes and released by the kernel when the holder dies."""
    script = (
        "import sys; from pathlib import Path;"
        "from gait_runtime.supervisor.journal.lock import acquire_state_dir_lock as a;"
        "h = a(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "held"
            with pytest.raises(StateDirLockedError, match=f"pid {child.pid} holds"):
                acquire_state_dir_lock(tmp_path)
        finally:
            child.kill()
            child.wait()
    with acquire_state_dir_lock(tmp_path):
        pass
