"""The journal store: batch writes, faults (ENOSPC, fsync), recovery, foreign writers."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import anyio
import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.errors import IOFailure, SessionInputError
from gait_runtime.supervisor.journal.oneshot import session_append, session_status
from gait_runtime.supervisor.journal.records import EventFields, normalize_fields
from gait_runtime.supervisor.journal.scan import load_state, scan_journal
from gait_runtime.supervisor.journal.store import JournalStore, OsJournalFile, StoreOptions

FIELDS = normalize_fields(EventFields(tool_name="tool.x", verdict="allow"))


class FaultyFile(OsJournalFile):
    """A real descriptor whose writes hit a simulated full disk after ``budget`` bytes."""

    def __init__(self, path: Path, budget: int, fail_fsync: bool = False) -> None:
        super().__init__(path)
        self.budget = budget
        self.fail_fsync = fail_fsync

    def write(self, data: bytes) -> int:
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        chunk = data[: self.budget]
        self.budget -= len(chunk)
        return super().write(chunk)

    def fsync(self) -> None:
        if self.fail_fsync:
            raise OSError(errno.EIO, "Input/output error")
        super().fsync()


def _store(path: Path, **kw: object) -> JournalStore:
    options = StoreOptions(clock=FakeClock(step_ns=1000), **kw)  # type: ignore[arg-type]
    return JournalStore(path, options)


def _items(n: int) -> list[tuple[EventFields, int]]:
    return [(FIELDS, 1_790_000_000_000_000_000 + i) for i in range(n)]


def test_batch_is_one_write_and_one_fsync_and_state_is_exact(tmp_path: Path) -> None:
    """Group commit: a batch of 50 costs one fsync; the state's size equals the journal's."""
    store = _store(tmp_path / "j.jsonl")
    assert store.open("s", "r") is True
    fsyncs = store.disk.fsyncs
    records = store.append(_items(50))
    assert [r.sequence for r in records] == list(range(1, 51))
    assert store.disk.fsyncs == fsyncs + 1
    size = (tmp_path / "j.jsonl").stat().st_size
    state = load_state(Path(str(tmp_path / "j.jsonl") + ".state.json"), size)
    assert state is not None and (state.event_count, state.last_sequence) == (50, 50)
    store.close()
    assert scan_journal((tmp_path / "j.jsonl").read_bytes()).last_sequence == 50


@pytest.mark.parametrize("budget", [0, 100, 5000])
def test_disk_full_mid_batch_leaves_journal_intact(tmp_path: Path, budget: int) -> None:
    """ENOSPC: the partial batch is cut off, nothing is acknowledged, earlier records survive."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(3))
    before = path.read_bytes()
    store.disk.use_file(FaultyFile(path, budget))  # a full disk from here on
    with pytest.raises(IOFailure) as info:
        store.append(_items(40))
    assert info.value.error_code == "disk_full"
    assert path.read_bytes() == before
    assert store.position.last_sequence == 3
    store.disk.use_file(OsJournalFile(path))  # space freed
    assert [r.sequence for r in store.append(_items(2))] == [4, 5]
    store.close()
    assert scan_journal(path.read_bytes()).last_sequence == 5


def test_fsync_failure_fails_the_batch_and_truncates(tmp_path: Path) -> None:
    """An fsync error means the batch is not durable: cut back, error, no sequence consumed."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    before = path.read_bytes()
    store.disk.use_file(FaultyFile(path, 10**9, fail_fsync=True))
    with pytest.raises(IOFailure, match="Input/output error"):
        store.append(_items(5))
    assert path.read_bytes() == before
    store.disk.use_file(OsJournalFile(path))
    assert store.append(_items(1))[0].sequence == 1
    store.close()


def test_torn_tail_is_quarantined_and_reported(tmp_path: Path) -> None:
    """Crash recovery: the bytes after the last newline go to a quarantine file, never parsed."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(4))
    store.close()
    good = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"record_type":"event","event":{"sequ')
    again = _store(path)
    again.open("s", "r")
    assert path.read_bytes() == good
    assert len(again.disk.quarantined) == 1
    assert again.disk.quarantined[0].read_bytes() == b'{"record_type":"event","event":{"sequ'
    assert again.disk.quarantined[0].name == f"j.jsonl.quarantine.{len(good)}"
    assert again.append(_items(1))[0].sequence == 5
    again.close()


def test_two_garbage_lines_are_refused_once_and_for_all(tmp_path: Path) -> None:
    """Issue 13.4: two garbage lines at the end were peeled one per open (the first open
    quarantined the last line and failed, the second quarantined the next and worked).
    Only a torn final line is repaired: here every open fails the same way, and the
    journal and the directory stay exactly as they were."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(3))
    store.close()
    with open(path, "ab") as fh:
        fh.write(b"garbage one\ngarbage two\n")
    before = path.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    messages = []
    for _ in range(3):
        with pytest.raises(SessionInputError) as refused:
            _store(path).open("s", "r")
        messages.append(refused.value.message)
    assert len(set(messages)) == 1 and "line 5" in messages[0]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no quarantine file


def test_hand_edited_gap_is_not_repaired(tmp_path: Path) -> None:
    """A sequence gap fails the open with line, got and expected; the file is untouched."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(4))
    store.close()
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[2]
    edited = b"".join(lines)
    path.write_bytes(edited)
    with pytest.raises(SessionInputError) as info:
        _store(path).open("s", "r")
    assert info.value.error_code == "session_journal_invalid"
    assert info.value.message == "session event sequence mismatch line 3: got 3 want 2"
    assert path.read_bytes() == edited


def test_foreign_append_between_batches_is_noticed(tmp_path: Path) -> None:
    """A Go-style CLI append between two of our batches: we re-sync, no duplicate sequence."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(2))
    record = anyio.run(session_append, path, EventFields(tool_name="cli.tool", verdict="block"))
    assert record.sequence == 3
    assert [r.sequence for r in store.append(_items(2))] == [4, 5]
    assert store.disk.foreign_writes == 1
    store.close()
    scan = scan_journal(path.read_bytes())
    assert (scan.event_count, scan.last_sequence) == (5, 5)
    status = anyio.run(session_status, path)
    assert status["last_sequence"] == 5


def test_stale_state_file_is_rebuilt_by_the_cli(tmp_path: Path) -> None:
    """§6: a state whose journal_size_bytes is wrong is rebuilt before use (Go's drift test)."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(1))
    store.close()
    state_path = Path(str(path) + ".state.json")
    doc = json.loads(state_path.read_text())
    doc["journal_size_bytes"] += 7
    doc["last_sequence"] = 99
    state_path.write_text(json.dumps(doc))
    record = anyio.run(session_append, path, EventFields(tool_name="t", verdict="allow"))
    assert record.sequence == 2
    doc = json.loads(state_path.read_text())
    assert doc["journal_size_bytes"] == path.stat().st_size
    assert (doc["event_count"], doc["last_sequence"]) == (2, 2)


def test_journal_replaced_by_compaction_elsewhere_is_reopened(tmp_path: Path) -> None:
    """A rename-replace of the journal (another process compacting) is detected by inode."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append(_items(2))
    other = _store(path)
    other.open("s", "r", full=False)
    other.checkpoint(tmp_path / "cp.zip")
    old_inode = os.stat(path).st_ino
    report = other.compact()
    other.close()
    assert report.events_after == 0 and os.stat(path).st_ino != old_inode
    records = store.append(_items(1))
    assert records[0].sequence == 3
    store.close()
    scan = scan_journal(path.read_bytes())
    assert (scan.event_count, scan.last_sequence, len(scan.checkpoints)) == (1, 3, 1)


def test_open_refuses_other_ids_and_missing_journal(tmp_path: Path) -> None:
    """The journal belongs to one session/run; reading a missing one is an error."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.close()
    with pytest.raises(SessionInputError, match="different session/run"):
        _store(path).open("s", "r2")
    with pytest.raises(SessionInputError) as info:
        _store(tmp_path / "none.jsonl").open(create=False)
    assert info.value.error_code == "session_journal_missing"
