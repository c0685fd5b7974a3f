"""SIGKILL at random points: after every restart the journal verifies and holds every ack.

A real subprocess appends in a loop (8 concurrent appenders, a checkpoint every
25 events) and prints each acknowledged sequence; the parent kills it with
SIGKILL after a seeded-random number of acknowledgements, 50 times. Each new
child recovers the journal (torn tail quarantined) before appending again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gait_runtime.runpack import verify_runpack
from gait_runtime.supervisor.journal.scan import scan_journal, split_torn_tail
from gait_runtime.supervisor.journal.store import JournalStore
from tests.conftest import JOURNAL_IO_PATHS

HELPER = Path(__file__).with_name("crash_appender.py")
ROUNDS = 50


def _child(session_dir: Path, journal_io: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(HELPER), str(session_dir), "8", journal_io],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=session_dir.parent,
    )


@pytest.mark.timeout(600)  # 50 child processes: each start costs seconds on a loaded machine
@pytest.mark.parametrize("journal_io", JOURNAL_IO_PATHS)
def test_sigkill_at_random_points_never_loses_an_acknowledged_record(
    tmp_path: Path, journal_io: str
) -> None:
    """No acknowledged record is ever lost or corrupted, whatever instant the kill lands
    on, whether the batches go through the io_uring or the actor's thread."""
    rng = random.Random(20261121)
    session_dir = tmp_path / "sessions"
    journal = session_dir / "crash.journal.jsonl"
    acked: set[int] = set()
    for round_no in range(ROUNDS):
        wanted = rng.randint(1, 120)
        with _child(session_dir, journal_io) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", f"round {round_no}"
            got = 0
            while got < wanted:
                line = child.stdout.readline()
                assert line, f"child exited early in round {round_no}"
                acked.add(int(line))
                got += 1
            child.send_signal(signal.SIGKILL)
            child.wait()
            acked.update(int(x) for x in child.stdout.read().split())
        data = journal.read_bytes()
        good, _torn = split_torn_tail(data)
        scan = scan_journal(data[:good])
        assert scan.event_count == scan.last_event_sequence
        missing = {s for s in acked if s > scan.last_event_sequence}
        assert not missing, f"round {round_no}: acknowledged but lost: {sorted(missing)[:5]}"
    assert len(acked) >= ROUNDS
    # a final recovery (as an actor start does) leaves a fully valid journal; every
    # checkpoint record points to a runpack that verifies
    store = JournalStore(journal)
    store.open("crash", "run_crash")
    store.close()
    data = journal.read_bytes()
    assert split_torn_tail(data)[1] == b""
    scan = scan_journal(data)
    assert scan.last_event_sequence >= max(acked)
    assert scan.checkpoints
    for cp in scan.checkpoints:
        assert verify_runpack(cp.runpack_path).ok, cp.runpack_path
