"""verify session-chain (sessions.md §8): linkage and per-checkpoint runpack checks."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from gait_runtime.artifacts.zipdet import write_zip
from gait_runtime.errors import SessionInputError
from gait_runtime.supervisor.journal.chain import verify_chain


@pytest.fixture
def demo(in_tmp: Path, vectors: Path) -> Path:
    for sub in ("journal", "checkpoints"):
        shutil.copytree(vectors / "sessions" / sub, in_tmp / sub)
    return in_tmp / "journal/demo.journal_chain.json"


def _edit(chain: Path, fn: object) -> Path:
    doc = json.loads(chain.read_text())
    fn(doc)  # type: ignore[operator]
    out = chain.with_name("edited_chain.json")
    out.write_text(json.dumps(doc))
    return out


def test_go_chain_verifies(demo: Path) -> None:
    """The Go chain and its runpacks verify (exit 0 in the CLI)."""
    report = verify_chain(demo)
    assert report.ok and report.checkpoints_checked == 2


def test_tampered_runpack_entry_is_an_integrity_failure(demo: Path) -> None:
    """A checkpoint runpack whose entry bytes changed fails with Go's text."""
    path = Path("checkpoints/cp_0001.zip")
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    entries["results.jsonl"] = entries["results.jsonl"].replace(b'"ok"', b'"error"')
    path.write_bytes(write_zip(entries))
    report = verify_chain(demo)
    assert report.checkpoint_errors == ["checkpoint 1 runpack integrity failure"]
    assert report.linkage_errors == []


def test_chain_pointing_to_a_missing_checkpoint(demo: Path) -> None:
    """A runpack_path that does not exist: a checkpoint verify error, not a crash."""
    Path("checkpoints/cp_0002.zip").unlink()
    report = verify_chain(demo)
    assert len(report.checkpoint_errors) == 1
    assert report.checkpoint_errors[0].startswith("checkpoint 2 verify error: ")


def test_reordered_and_overlapping_checkpoints_break_linkage(demo: Path) -> None:
    """Index, previous digest, overlap and digest checks, in Go's words."""

    def swap(doc: dict[str, list[object]]) -> None:
        doc["checkpoints"].reverse()

    report = verify_chain(_edit(demo, swap))
    assert report.linkage_errors == [
        "checkpoint index mismatch at position 0",
        "prev_checkpoint_digest mismatch at checkpoint 2",
        "checkpoint index mismatch at position 1",
        "sequence overlap at checkpoint 1",
    ]


def test_manifest_digest_mismatch(demo: Path) -> None:
    """A record whose manifest digest differs from its runpack's is flagged twice."""

    def bump(doc: dict[str, list[dict[str, object]]]) -> None:
        doc["checkpoints"][0]["manifest_digest"] = "0" * 64

    report = verify_chain(_edit(demo, bump))
    assert "checkpoint_digest mismatch at checkpoint 1" in report.linkage_errors
    assert report.checkpoint_errors == ["checkpoint 1 manifest digest mismatch"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schema_id": "other"}, "unsupported session chain schema"),
        ({"session_id": "", "run_id": "r"}, "requires session_id and run_id"),
        ({"session_id": "s", "run_id": "r", "checkpoints": []}, "has no checkpoints"),
    ],
)
def test_unusable_chain_files_are_input_errors(
    in_tmp: Path, doc: dict[str, object], message: str
) -> None:
    """§8 step 1: schema, ids and at least one checkpoint, else exit 6."""
    path = in_tmp / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SessionInputError, match=message):
        verify_chain(path)
    with pytest.raises(SessionInputError, match="read session chain"):
        verify_chain(in_tmp / "missing.json")
