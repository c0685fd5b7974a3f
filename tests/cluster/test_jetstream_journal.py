"""The JetStream journal backend against a real nats-server: records, sequences, recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gait_runtime.cli import main as gait
from gait_runtime.clock import FakeClock
from gait_runtime.cluster import JetStreamJournal, NatsLink, NatsSettings, export_session
from gait_runtime.cluster.local import LocalNats
from gait_runtime.errors import JournalConflictError, SessionInputError
from gait_runtime.supervisor.journal.records import EventFields, normalize_fields
from gait_runtime.supervisor.journal.store import JournalStore, StoreOptions

FIELDS = normalize_fields(EventFields("tool.write", "allow", reason_codes=("r1",)))
BLOCK = normalize_fields(EventFields("tool.exec", "block", trace_id="t-1"))


def _options(clock: FakeClock | None = None) -> StoreOptions:
    return StoreOptions(clock=clock or FakeClock(step_ns=1_000_000), producer_version="test")


def _journal(link: NatsLink, clock: FakeClock | None = None) -> JetStreamJournal:
    return JetStreamJournal(Path("label"), _options(clock), link)


def _subject_bytes(link: NatsLink, sid: str) -> bytes:
    subject = link.settings.subject(sid)
    return b"".join(m.data for m in link.run(lambda: link.read_subject(subject)))


def test_records_are_byte_identical_to_the_file_journal(
    link: NatsLink, sid: str, tmp_path: Path
) -> None:
    """The subject's payloads, concatenated, are exactly the file journal's bytes."""
    t0 = 1_790_000_000_000_000_000
    batches = [[(FIELDS, t0 + 1), (BLOCK, t0 + 2)], [(FIELDS, t0 + 3)]]
    file_store = JournalStore(tmp_path / "j.journal.jsonl", _options(FakeClock(t0)))
    file_store.open(sid, "run_1")
    stream = _journal(link, FakeClock(t0))
    assert stream.open(sid, "run_1") is True
    for batch in batches:
        file_store.append(batch)
        stream.commit(stream.prepare(batch))
    file_store.close()
    assert _subject_bytes(link, sid) == (tmp_path / "j.journal.jsonl").read_bytes()
    assert stream.last_sequence == 3 and stream.event_count == 3


def test_each_record_carries_its_id_and_a_batch_is_one_atomic_unit(
    link: NatsLink, sid: str
) -> None:
    """Nats-Msg-Id is the record id; one actor batch = one JetStream batch (one ack)."""
    j = _journal(link)
    j.open(sid, "run_1")
    before = link.batches
    j.commit(j.prepare([(FIELDS, 1)] * 4))
    assert link.batches == before + 1
    subject = link.settings.subject(sid)
    ids = [m.msg_id for m in link.run(lambda: link.read_subject(subject))]
    assert ids == [f"{sid}:run_1:header"] + [f"{sid}:run_1:{n}" for n in range(1, 5)]


def test_a_second_writer_gets_a_conflict_and_never_a_gap(link: NatsLink, sid: str) -> None:
    """Two writers on one session: the one behind gets JournalConflictError, nothing stored."""
    a, b = _journal(link), _journal(link)
    a.open(sid, "run_1")
    b.open(sid, "run_1")
    a.commit(a.prepare([(FIELDS, 1)]))
    with pytest.raises(JournalConflictError) as err:
        b.commit(b.prepare([(FIELDS, 2), (FIELDS, 3)]))
    assert err.value.error_code == "journal_conflict"
    # b re-reads the stream before its next batch and continues after a's record
    recs = b.commit(b.prepare([(BLOCK, 4)]))
    assert [r.sequence for r in recs] == [2]
    lines = _subject_bytes(link, sid).splitlines()
    seqs = [json.loads(x)["event"]["sequence"] for x in lines[1:]]
    assert seqs == [1, 2]


def test_a_retried_batch_is_never_stored_twice(link: NatsLink, sid: str) -> None:
    """Publishing a batch again whose first attempt landed (its ack lost) stores nothing new."""
    j = _journal(link)
    j.open(sid, "run_1")
    expected = j.subject_seq
    batch = j.prepare([(FIELDS, 1), (FIELDS, 2)])
    lines = batch.data.splitlines(keepends=True)
    ids = [f"{sid}:run_1:1", f"{sid}:run_1:2"]
    first = j._publish(lines, ids, expected=expected)
    again = j._publish(lines, ids, expected=expected)
    assert again == first
    assert len(_subject_bytes(link, sid).splitlines()) == 3


def test_recovery_reads_sequence_and_chain_head_from_the_stream(
    link: NatsLink, sid: str, tmp_path: Path
) -> None:
    """A new owner recovers last sequence, counts and the checkpoint digest."""
    a = _journal(link)
    a.open(sid, "run_1")
    a.commit(a.prepare([(FIELDS, 1)] * 3))
    record, _ = a.checkpoint(tmp_path / "x_cp_000003.zip")
    a.commit(a.prepare([(BLOCK, 2)]))
    b = _journal(link)
    assert b.open(sid, "run_1") is False
    assert (b.last_sequence, b.event_count, b.pending_events()) == (4, 4, 1)
    assert b.position.last_checkpoint_digest == record.checkpoint_digest
    assert b.subject_seq == a.subject_seq
    assert [e.sequence for e in b.events_from(2)] == [2, 3, 4]
    with pytest.raises(SessionInputError) as err:
        _journal(link).open(sid, "other_run")
    assert err.value.error_code == "session_identity_mismatch"


def test_checkpoints_export_and_verify_like_file_checkpoints(
    link: NatsLink, sid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Object-store runpacks + KV chain export to files that verify session-chain accepts."""
    j = _journal(link)
    j.open(sid, "run_1")
    j.commit(j.prepare([(FIELDS, 1), (BLOCK, 2)]))
    j.checkpoint(tmp_path / "a_cp_000002.zip")
    j.commit(j.prepare([(FIELDS, 3)]))
    j.checkpoint(tmp_path / "a_cp_000003.zip")
    j.commit(j.prepare([(FIELDS, 4)]))
    out = tmp_path / "export"
    result = export_session(link, sid, out)
    assert result.last_sequence == 4 and len(result.checkpoints) == 2
    assert result.journal_path.read_bytes() == _subject_bytes(link, sid)
    assert result.chain_path is not None
    monkeypatch.chdir(out)
    assert gait(["verify", "session-chain", result.chain_path.name]) == 0
    # the exported journal is an ordinary journal: the file backend continues it
    store = JournalStore(result.journal_path)
    store.open()
    assert store.position.last_sequence == 4 and store.position.checkpoint_count == 2


def test_compaction_rolls_the_subject_up_and_keeps_every_sequence(
    link: NatsLink, sid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction replaces the subject with header + checkpoints + uncovered events."""
    j = _journal(link)
    j.open(sid, "run_1")
    j.commit(j.prepare([(FIELDS, 1)] * 5))
    j.checkpoint(tmp_path / "c_cp_000005.zip")
    j.commit(j.prepare([(BLOCK, 2)]))
    report = j.compact()
    assert (report.compacted, report.events_before, report.events_after) == (True, 6, 1)
    assert len(link.run(lambda: link.read_subject(link.settings.subject(sid)))) == 1
    again = _journal(link)
    again.open(sid, "run_1")
    assert again.last_sequence == 6
    assert [r.sequence for r in again.commit(again.prepare([(FIELDS, 3)]))] == [7]
    out = tmp_path / "export"
    export_session(link, sid, out)
    monkeypatch.chdir(out)
    assert gait(["verify", "session-chain", f"{sid}.journal_chain.json"]) == 0


def test_export_command_writes_files_that_verify(
    link: NatsLink,
    sid: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`gait run session export --from nats://… --session ID --json` then verify in the out dir."""
    j = _journal(link)
    j.open(sid, "run_1")
    j.commit(j.prepare([(FIELDS, 1), (BLOCK, 2)]))
    j.checkpoint(tmp_path / "e_cp_000002.zip")
    out = tmp_path / "out"
    url = link.settings.display()
    code = gait(
        ["run", "session", "export", "--from", url, "--session", sid, "--out", str(out), "--json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"] is True
    assert doc["export"]["last_sequence"] == 2 and len(doc["export"]["checkpoints"]) == 1
    monkeypatch.chdir(out)
    assert gait(["verify", "session-chain", f"{sid}.journal_chain.json"]) == 0
    missing = gait(
        ["run", "session", "export", "--from", url, "--session", sid + "-none", "--json"]
    )
    assert missing == 6
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["error_detail"] == "session_unknown"
    bad = gait(["run", "session", "export", "--from", "nats://u:p@127.0.0.1:1", "--session", sid])
    assert bad == 6


def test_packed_batches_keep_the_bytes_ids_and_conflict_rules(
    nats: LocalNats, sid: str, tmp_path: Path
) -> None:
    """batch_mode=packed: one message per batch (id first-last), same journal bytes, same checks."""
    packed = NatsLink(NatsSettings.from_url(nats.url, timeout_s=3.0, batch_mode="packed"))
    packed.start()
    try:
        t0 = 1_790_000_000_000_000_000
        file_store = JournalStore(tmp_path / "p.journal.jsonl", _options(FakeClock(t0)))
        file_store.open(sid, "run_1")
        a, b = _journal(packed, FakeClock(t0)), _journal(packed)
        a.open(sid, "run_1")
        b.open(sid, "run_1")
        for batch in ([(FIELDS, t0 + 1), (BLOCK, t0 + 2), (FIELDS, t0 + 3)], [(FIELDS, t0 + 4)]):
            file_store.append(batch)
            a.commit(a.prepare(batch))
        file_store.close()
        assert _subject_bytes(packed, sid) == (tmp_path / "p.journal.jsonl").read_bytes()
        subject = packed.settings.subject(sid)
        ids = [m.msg_id for m in packed.run(lambda: packed.read_subject(subject))]
        assert ids == [f"{sid}:run_1:header", f"{sid}:run_1:1-3", f"{sid}:run_1:4"]
        with pytest.raises(JournalConflictError):
            b.commit(b.prepare([(FIELDS, 5), (FIELDS, 6)]))
        again = _journal(packed)
        again.open(sid, "run_1")
        assert again.last_sequence == 4
    finally:
        packed.close()


def test_checkpoints_cover_at_most_the_configured_events_like_the_file_journal(
    link: NatsLink, sid: str, tmp_path: Path
) -> None:
    """``checkpoint_max_events`` bounds a stream checkpoint exactly as it bounds a file one."""
    options = StoreOptions(
        clock=FakeClock(step_ns=1_000_000), producer_version="test", checkpoint_max_events=2
    )
    stream = JetStreamJournal(Path("label"), options, link)
    stream.open(sid, "run_1")
    stream.commit(stream.prepare([(FIELDS, 1)] * 5))
    file_store = JournalStore(tmp_path / "j.journal.jsonl", options)
    file_store.open(sid, "run_1")
    file_store.append([(FIELDS, 1)] * 5)
    covered: list[list[tuple[int, int]]] = [[], []]
    pair: list[JetStreamJournal | JournalStore] = [stream, file_store]
    for i, journal in enumerate(pair):
        while journal.position.pending_events():
            end = journal.position.next_checkpoint_end(2)
            record, _ = journal.checkpoint(tmp_path / f"{i}_cp_{end:06d}.zip")
            covered[i].append((record.sequence_start, record.sequence_end))
    file_store.close()
    assert covered[0] == covered[1] == [(1, 2), (3, 4), (5, 5)]


def test_a_new_owner_finds_the_events_a_bounded_checkpoint_left_uncovered(
    link: NatsLink, sid: str, tmp_path: Path
) -> None:
    """Recovery after a bounded checkpoint: the next checkpoint covers the rest, none lost."""
    options = StoreOptions(
        clock=FakeClock(step_ns=1_000_000), producer_version="test", checkpoint_max_events=2
    )
    a = JetStreamJournal(Path("a"), options, link)
    a.open(sid, "run_1")
    a.commit(a.prepare([(FIELDS, 1)] * 5))
    a.checkpoint(tmp_path / "a_cp_000002.zip")
    b = JetStreamJournal(Path("b"), options, link)
    assert b.open(sid, "run_1") is False
    assert b.position.pending_events() == 3
    record, _ = b.checkpoint(tmp_path / "a_cp_000004.zip")
    assert (record.sequence_start, record.sequence_end) == (3, 4)
    assert [e.sequence for e in b.events_from(5)] == [5]
