"""Checkpoints are bounded (issue 13.6): a long journal is covered by consecutive
checkpoints no larger than a reader accepts, each verifying, the chain verifying; a
compaction (also a dry run) refuses to drop history whose checkpoint does not verify.

The bound is lowered for the test (the module constant) so the journals stay small;
the benchmark ``soak/bench_checkpoint.py`` runs the real bound on 200,000 events.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import anyio
import pytest

from gait_runtime.cli import main
from gait_runtime.clock import FakeClock
from gait_runtime.runpack import verify_runpack
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.journal import store as store_module
from gait_runtime.supervisor.journal.records import EventFields as Fields
from gait_runtime.supervisor.journal.store import JournalStore, StoreOptions


def _json(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main([*argv, "--json"], out=out)
    return code, json.loads(out.getvalue())


def _journal_with(path: Path, events: int) -> None:
    store = JournalStore(path, StoreOptions(clock=FakeClock(step_ns=1000)))
    store.open("s", "r", create=True)
    fields = Fields("tool.x", "allow")
    for start in range(0, events, 100):
        end = min(start + 100, events)
        store.append([(fields, 1_790_000_000_000_000_000 + i) for i in range(start, end)])
    store.close()


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(store_module, "CHECKPOINT_MAX_EVENTS", 100)
    return 100


def test_a_long_journal_is_split_into_verifying_checkpoints(in_tmp: Path, small_bound: int) -> None:
    """250 pending events with a bound of 100: cp.zip, cp.2.zip, cp.3.zip covering
    1..100, 101..200, 201..250; each verifies, the chain verifies, later appends go on."""
    _journal_with(Path("j.jsonl"), 250)
    code, payload = _json("run", "session", "checkpoint", "--journal", "j.jsonl", "--out", "cp.zip")
    assert code == 0, payload
    ranges = [(c["sequence_start"], c["sequence_end"]) for c in payload["checkpoints"]]
    assert ranges == [(1, 100), (101, 200), (201, 250)]
    assert [c["runpack_path"] for c in payload["checkpoints"]] == ["cp.zip", "cp.2.zip", "cp.3.zip"]
    assert payload["checkpoint"] == payload["checkpoints"][-1]
    for name in ("cp.zip", "cp.2.zip", "cp.3.zip"):
        assert verify_runpack(Path(name)).ok
        with zipfile.ZipFile(name) as z:
            assert len(json.loads(z.read("run.json"))["timeline"]) <= small_bound + 2
    code, chain = _json("verify", "session-chain", "--chain", "j_chain.json")
    assert code == 0 and chain["ok"], chain
    code, more = _json("run", "session", "append", "--journal", "j.jsonl", "--tool", "t",
                       "--verdict", "allow")  # fmt: skip
    assert code == 0 and more["event"]["sequence"] == 251
    code, last = _json("run", "session", "checkpoint", "--journal", "j.jsonl", "--out", "cp4.zip")
    assert code == 0 and "checkpoints" not in last
    assert (last["checkpoint"]["sequence_start"], last["checkpoint"]["sequence_end"]) == (251, 251)


@pytest.mark.anyio
async def test_the_supervisor_covers_a_backlog_in_bounded_checkpoints(tmp_path: Path) -> None:
    """A session's checkpoint call covers every pending event, in bounded runpacks."""
    config = SessionConfig(
        session_dir=tmp_path / "s",
        idle_timeout_s=0,
        clock=FakeClock(step_ns=1000),
        checkpoint_max_events=100,
    )
    async with SessionManager(config) as manager:
        with anyio.fail_after(30):
            for _ in range(230):
                await manager.append("sess", "run_1", EventFields("tool.x", "allow"))
            record = await manager.checkpoint("sess")
        assert record is not None and record.sequence_end == 230
        status = await manager.status("sess")
        assert status["checkpoint_count"] == 3
    packs = sorted(p.name for p in (tmp_path / "s").glob("*_cp_*.zip"))
    assert packs == ["sess_cp_000100.zip", "sess_cp_000200.zip", "sess_cp_000230.zip"]
    assert all(verify_runpack(tmp_path / "s" / p).ok for p in packs)


def test_compact_dry_run_refuses_a_checkpoint_that_does_not_verify(in_tmp: Path) -> None:
    """A dry run used to report it would compact over a tampered checkpoint; now the dry
    run and the real run both refuse (verification failure), and nothing changes."""
    _journal_with(Path("j.jsonl"), 10)
    code, _ = _json("run", "session", "checkpoint", "--journal", "j.jsonl", "--out", "cp.zip")
    assert code == 0
    with zipfile.ZipFile("cp.zip") as z:
        entries = {name: z.read(name) for name in z.namelist()}
    entries["run.json"] = entries["run.json"].replace(b"tool.x", b"tool.y")
    with zipfile.ZipFile("cp.zip", "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    assert not verify_runpack(Path("cp.zip")).ok
    before = Path("j.jsonl").read_bytes()
    for extra in (["--dry-run"], []):
        code, payload = _json("run", "session", "compact", "--journal", "j.jsonl", *extra)
        assert code == 2, payload
        assert payload["ok"] is False
    assert Path("j.jsonl").read_bytes() == before
