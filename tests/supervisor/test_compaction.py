"""Compaction (sessions.md §5): history covered by verified checkpoints goes, nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gait_runtime.clock import FakeClock
from gait_runtime.errors import VerificationError
from gait_runtime.supervisor.journal.chain import verify_chain
from gait_runtime.supervisor.journal.compaction import compact_bytes
from gait_runtime.supervisor.journal.records import EventFields, normalize_fields
from gait_runtime.supervisor.journal.scan import scan_journal
from gait_runtime.supervisor.journal.store import JournalStore, StoreOptions

EV = normalize_fields(EventFields(tool_name="tool.x", verdict="block", reason_codes=("r",)))
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.tuples(st.just("checkpoint"), st.just(0)),
        st.tuples(st.just("compact"), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


def _store(path: Path) -> JournalStore:
    return JournalStore(path, StoreOptions(clock=FakeClock(step_ns=7_000)))


def _verdict(chain: Path) -> tuple[bool, list[str], list[str], int] | None:
    if not chain.exists():
        return None
    report = verify_chain(chain)
    return report.ok, report.linkage_errors, report.checkpoint_errors, report.checkpoints_checked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_random_append_checkpoint_compact_sequences_keep_verification_identical(
    ops: list[tuple[str, int]],
) -> None:
    """Property: compaction never changes verify session-chain, never loses an uncheckpointed
    event, and the next sequence is always max(last event, last checkpoint end) + 1."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.jsonl"
        store = _store(path)
        store.open("s", "run_s")
        appended = 0
        checkpointed = 0
        n_cp = 0
        for op, n in ops:
            if op == "append":
                records = store.append([(EV, 1_790_000_000_000_000_000)] * n)
                assert [r.sequence for r in records] == list(range(appended + 1, appended + n + 1))
                appended += n
            elif op == "checkpoint":
                if appended == checkpointed:
                    continue
                n_cp += 1
                store.checkpoint(Path(tmp) / f"cp_{n_cp}.zip")
                checkpointed = appended
            else:
                before = _verdict(store.chain_path)
                report = store.compact()
                assert _verdict(store.chain_path) == before
                assert report.events_after == appended - checkpointed
            scan = scan_journal(path.read_bytes())
            assert scan.last_sequence == appended
            assert scan.event_count >= appended - checkpointed
        assert store.append([(EV, 1)])[0].sequence == appended + 1
        store.close()


def test_compacting_a_fully_checkpointed_journal_then_appending_works(tmp_path: Path) -> None:
    """The Go defect scenario (vectors/sessions/defect) does not happen here."""
    path = tmp_path / "defect.journal.jsonl"
    store = _store(path)
    store.open("sess_defect", "run_defect")
    store.append([(EV, 1), (EV, 2)])
    store.checkpoint(tmp_path / "cp_0001.zip")
    report = store.compact()
    assert (report.events_before, report.events_after, report.last_checkpoint_sequence) == (2, 0, 2)
    assert store.append([(EV, 3)])[0].sequence == 3
    record, _ = store.checkpoint(tmp_path / "cp_0002.zip")
    assert (record.sequence_start, record.sequence_end) == (3, 3)
    store.close()
    reopened = _store(path)
    reopened.open("sess_defect", "run_defect")
    assert reopened.position.last_sequence == 3
    reopened.close()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_compaction_refuses_when_a_covering_checkpoint_fails_verification(
    tmp_path: Path, damage: str
) -> None:
    """Bad input: a checkpoint runpack that is missing or corrupt stops compaction; the
    journal is left byte for byte as it was."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append([(EV, 1), (EV, 2)])
    runpack = tmp_path / "cp.zip"
    store.checkpoint(runpack)
    if damage == "missing":
        runpack.unlink()
    else:
        runpack.write_bytes(runpack.read_bytes()[:-40] + b"\0" * 40)
    before = path.read_bytes()
    with pytest.raises(VerificationError) as info:
        store.compact()
    assert info.value.error_code == "checkpoint_unverified"
    assert "checkpoint 1 runpack" in info.value.message
    assert path.read_bytes() == before
    # issue 13.6: the dry run answers what the real run would do, so it refuses too
    with pytest.raises(VerificationError) as dry:
        store.compact(dry_run=True)
    assert dry.value.error_code == "checkpoint_unverified"
    assert path.read_bytes() == before
    store.close()


def test_compact_to_another_file_leaves_the_journal(tmp_path: Path) -> None:
    """--out writes elsewhere; the live journal and its state are untouched."""
    path = tmp_path / "j.jsonl"
    store = _store(path)
    store.open("s", "r")
    store.append([(EV, 1)])
    store.checkpoint(tmp_path / "cp.zip")
    before = path.read_bytes()
    report = store.compact(tmp_path / "out.jsonl")
    assert report.output_path == str(tmp_path / "out.jsonl")
    assert path.read_bytes() == before
    assert (tmp_path / "out.jsonl").read_bytes() == compact_bytes(before).data
    store.close()
