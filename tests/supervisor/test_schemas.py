"""The session JSON Schemas (schemas/v1/sessions) accept Go's files and everything we write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gait_runtime.artifacts.schemas import validate
from gait_runtime.clock import FakeClock
from gait_runtime.errors import ArtifactInputError
from gait_runtime.supervisor.journal.lock import LockSettings, session_lock
from gait_runtime.supervisor.journal.records import EventFields, normalize_fields
from gait_runtime.supervisor.journal.store import JournalStore, StoreOptions


def test_go_session_files_validate(vectors: Path) -> None:
    """Every Go journal line, the chain and the state validate."""
    base = vectors / "sessions/journal"
    for name in ("precompact.journal.jsonl.txt", "demo.journal.jsonl"):
        for line in (base / name).read_text().splitlines():
            validate("sessions/session_record", json.loads(line))
    validate("sessions/session_chain", json.loads((base / "demo.journal_chain.json").read_text()))
    validate(
        "sessions/session_state", json.loads((base / "demo.journal.jsonl.state.json").read_text())
    )


def test_files_we_write_validate(tmp_path: Path) -> None:
    """Our journal records, state, chain and lock body match the schemas."""
    path = tmp_path / "j.jsonl"
    store = JournalStore(path, StoreOptions(clock=FakeClock(step_ns=1)))
    store.open("s", "run_s")
    fields = EventFields(
        tool_name="t", verdict="dry_run", policy_id="p", matched_rule_ids=("r1",), trace_id="x"
    )
    store.append([(normalize_fields(fields), 5)])
    store.checkpoint(tmp_path / "cp.zip")
    store.append([(normalize_fields(fields), 6)])
    with session_lock(path, LockSettings()):
        validate("sessions/session_lock", json.loads(Path(str(path) + ".lock").read_text()))
    store.close()
    for line in path.read_text().splitlines():
        validate("sessions/session_record", json.loads(line))
    validate("sessions/session_state", json.loads(Path(str(path) + ".state.json").read_text()))
    validate("sessions/session_chain", json.loads(store.chain_path.read_text()))


def test_schema_rejects_two_payloads_in_one_record(vectors: Path) -> None:
    """A record carries exactly the payload its record_type names."""
    lines = (vectors / "sessions/journal/precompact.journal.jsonl.txt").read_text().splitlines()
    doc = json.loads(lines[1])
    doc["header"] = json.loads(lines[0])["header"]
    with pytest.raises(ArtifactInputError):
        validate("sessions/session_record", doc)
