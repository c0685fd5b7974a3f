"""Checkpoint runpacks reproduce Go's entry bytes for the same journal prefix (sessions.md §4.2)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from gait_runtime.artifacts.signing import SigningKey
from gait_runtime.artifacts.timefmt import parse_rfc3339
from gait_runtime.runpack import verify_runpack, write_runpack
from gait_runtime.supervisor.journal.checkpoint import (
    build_checkpoint_record,
    build_checkpoint_runpack,
    checkpoint_file_name,
    go_journal_base,
    journal_base,
)
from gait_runtime.supervisor.journal.scan import scan_journal


@pytest.mark.parametrize(("index", "window"), [(1, (0, 2)), (2, (2, 4))])
def test_checkpoint_runpack_entries_equal_go_bytes(
    vectors: Path, index: int, window: tuple[int, int]
) -> None:
    """Rebuilt from the pre-compaction journal with Go's time, version and env: same bytes."""
    journal = vectors / "sessions/journal/precompact.journal.jsonl.txt"
    scan = scan_journal(journal.read_bytes(), keep_events=True)
    assert scan.events is not None
    events = scan.events[window[0] : window[1]]
    go_zip = zipfile.ZipFile(vectors / f"sessions/checkpoints/cp_{index:04d}.zip")
    cp = scan.checkpoints[index - 1]
    t_cp = parse_rfc3339(cp.created_at).unix_ns
    env = json.loads(go_zip.read("run.json"))["env"]
    runpack = build_checkpoint_runpack(
        "sess_demo",
        index,
        "run_sess_demo",
        events,
        created_at_ns=t_cp,
        producer_version="0.0.0-dev",
        env=env,
    )
    for name in go_zip.namelist():
        assert runpack.entries[name] == go_zip.read(name), name
    assert runpack.manifest_digest == cp.manifest_digest
    record = build_checkpoint_record(
        session_id="sess_demo",
        run_id="run_sess_demo",
        index=index,
        events=events,
        runpack_path=cp.runpack_path,
        manifest_digest=runpack.manifest_digest,
        prev_digest=cp.prev_checkpoint_digest,
        created_at_ns=t_cp,
        producer_version="0.0.0-dev",
    )
    assert record == cp


def test_first_result_digest_uses_null_lists(vectors: Path) -> None:
    """§4.2: absent reason_codes/violations digest as JSON null (0dcd62da...803c)."""
    scan = scan_journal(
        (vectors / "sessions/journal/precompact.journal.jsonl.txt").read_bytes(), keep_events=True
    )
    assert scan.events is not None
    runpack = build_checkpoint_runpack(
        "sess_demo", 1, "run_sess_demo", scan.events[:1], created_at_ns=0, producer_version="x"
    )
    first = json.loads(runpack.entries["results.jsonl"].splitlines()[0])
    assert first["result_digest"] == (
        "0dcd62daabc9284f4bdbe84598c85c79a113ee6532ccdfa8e562528ca922803c"
    )


def test_signed_checkpoint_runpack_verifies_with_the_key(vectors: Path, tmp_path: Path) -> None:
    """§4.5: an opt-in signing key signs the checkpoint manifest; records carry no signature."""
    scan = scan_journal(
        (vectors / "sessions/journal/precompact.journal.jsonl.txt").read_bytes(), keep_events=True
    )
    assert scan.events is not None
    key = SigningKey(bytes(range(32)))
    runpack = build_checkpoint_runpack(
        "sess_demo",
        1,
        "run_sess_demo",
        scan.events[:2],
        created_at_ns=1,
        producer_version="x",
        signing_key=key,
    )
    path = tmp_path / "cp.zip"
    write_runpack(path, runpack)
    report = verify_runpack(path, verify_key=key.public, require_signature=True)
    assert report.ok and report.signature_status == "verified"


@pytest.mark.parametrize(
    ("session_id", "base"),
    [("a/b\\c d:e", "a_b_c_d_e"), ("..x_", "x"), ("._", "session"), ("sess", "sess")],
)
def test_journal_base_follows_service_naming(session_id: str, base: str) -> None:
    """service.md §3.3: unsafe characters become _, leading/trailing . and _ are stripped;
    where that changed the id, a digest of the raw id keeps the name collision-free."""
    assert go_journal_base(session_id) == base
    ours = journal_base(session_id)
    if base == session_id:
        assert ours == base  # Go's name, unchanged, where the name is Go's
    else:
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:12]
        assert ours == f"{base}-{digest}"
    assert checkpoint_file_name(ours, 42) == f"{ours}_cp_000042.zip"


def test_ids_that_normalise_alike_get_distinct_journal_names() -> None:
    """Issue 13.5: x/y, x:y, x y, x\\y and x_y used to share x_y; now each has its own."""
    ids = ["x/y", "x:y", "x y", "x\\y", "x_y", "s" * 100, "s" * 101]
    bases = [journal_base(i) for i in ids]
    assert len(set(bases)) == len(ids)
    assert journal_base("x_y") == "x_y"
    assert all(len(b.encode()) <= 64 for b in bases)
