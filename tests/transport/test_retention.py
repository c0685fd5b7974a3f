"""Retention sweeps (``spec/service.md`` §9) and ``gait guard retain`` (``spec/sessions.md`` §11.1).

File ages are set with ``os.utime`` against an injected "now"; nothing sleeps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gait_runtime.artifacts.jcs import canonicalize
from gait_runtime.cli import main
from gait_runtime.supervisor.service.config import RetentionRule
from gait_runtime.supervisor.service.retention import (
    LIVE_SESSION_WINDOW_S,
    guard_retain,
    matches_class,
    sweep_class,
)

NOW = 2_000_000_000.0


def _file(path: Path, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


@pytest.mark.parametrize(
    ("kind", "name", "matched"),
    [
        ("trace", "trace_run_x_1.json", True),
        ("trace", "TRACE.JSON", True),
        ("trace", "notes.json", False),
        ("runpack", "runpack_run_1.zip", True),
        ("runpack", "sess_cp_000001.zip", True),
        ("runpack", "other.zip", False),
        ("session", "s.journal.jsonl", True),
        ("session", "s.journal.jsonl.state.json", True),
        ("session", "x.state", True),
        ("session", "s.journal.jsonl.lock", False),
    ],
)
def test_class_file_name_rules(kind: str, name: str, matched: bool) -> None:
    """Spec §9: which names each class considers (case-insensitive)."""
    assert matches_class(kind, name) is matched


def test_count_cap_keeps_the_newest(tmp_path: Path) -> None:
    """Spec: newest first; files beyond ``max_count`` are removed."""
    files = [_file(tmp_path / f"trace_{i}.json", age_s=100 * i) for i in range(5)]
    _file(tmp_path / "unrelated.txt", age_s=10_000)
    (tmp_path / "sub").mkdir()
    report = sweep_class("trace", tmp_path, RetentionRule(max_count=2), now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sub",
        "trace_0.json",
        "trace_1.json",
        "unrelated.txt",
    ]
    assert (report.scanned, report.removed_count, report.removed_age) == (5, 3, 0)
    assert sorted(report.removed) == sorted(str(p) for p in files[2:])
    assert report.warning() == "retention_trace_removed_age=0 removed_count=3"


def test_age_cap_removes_older_files(tmp_path: Path) -> None:
    """Spec: a file older than ``max_age`` is removed even inside the count."""
    _file(tmp_path / "trace_new.json", age_s=10)
    _file(tmp_path / "trace_old.json", age_s=7200)
    report = sweep_class("trace", tmp_path, RetentionRule(max_age_s=3600, max_count=10), now=NOW)
    assert [p.name for p in tmp_path.iterdir()] == ["trace_new.json"]
    assert (report.removed_age, report.removed_count) == (1, 0)


def test_dry_run_and_disabled_rule_delete_nothing(tmp_path: Path) -> None:
    """A dry run reports; a disabled rule does not even scan."""
    _file(tmp_path / "trace_a.json", age_s=7200)
    dry = sweep_class("trace", tmp_path, RetentionRule(max_age_s=60), now=NOW, dry_run=True)
    assert dry.removed == [str(tmp_path / "trace_a.json")]
    off = sweep_class("trace", tmp_path, RetentionRule(), now=NOW)
    assert off.scanned == 0 and off.warning() is None
    assert (tmp_path / "trace_a.json").exists()


def test_session_class_spares_live_and_open_journals(tmp_path: Path) -> None:
    """Our rule (divergence): never delete open journals or files inside the stale window."""
    recent = _file(tmp_path / "recent.journal.jsonl", age_s=LIVE_SESSION_WINDOW_S / 2)
    open_one = _file(tmp_path / "open.journal.jsonl", age_s=10_000)
    old = _file(tmp_path / "old.journal.jsonl", age_s=10_000)
    report = sweep_class(
        "session",
        tmp_path,
        RetentionRule(max_age_s=60),
        now=NOW,
        protected=lambda p: p == open_one,
    )
    assert recent.exists() and open_one.exists() and not old.exists()
    assert (report.protected, report.removed_age) == (2, 1)


def test_missing_directory_is_an_empty_sweep(tmp_path: Path) -> None:
    """A class directory that does not exist yet is not an error."""
    report = sweep_class("runpack", tmp_path / "absent", RetentionRule(max_count=1), now=NOW)
    assert (report.scanned, report.errors) == (0, [])


def test_guard_retain_prunes_by_ttl_and_writes_the_go_report(tmp_path: Path) -> None:
    """Spec §11.1: recursive walk, strict ``age > ttl``, JCS report with the Go fields."""
    root = tmp_path / "gait-out"
    _file(root / "trace_old.json", age_s=700_000)
    _file(root / "nested" / "trace_new.json", age_s=10)
    _file(root / "evidence_pack_a.zip", age_s=3_000_000)
    _file(root / "incident_pack_b.gaitenc", age_s=10)
    _file(root / "s.journal.jsonl", age_s=9_000_000)
    report = guard_retain(
        str(root),
        trace_ttl_s=604800,
        pack_ttl_s=2592000,
        dry_run=False,
        producer_version="0.1.0",
        now_ns=int(NOW * 1e9),
    )
    assert [e.path for e in report.deleted] == [
        str(root / "evidence_pack_a.zip"),
        str(root / "trace_old.json"),
    ]
    assert {e.kind for e in report.deleted} == {"pack", "trace"}
    assert report.scanned_files == 4
    assert not (root / "trace_old.json").exists()
    assert (root / "s.journal.jsonl").exists()
    doc = json.loads(report.report_bytes())
    assert report.report_bytes() == canonicalize(doc)
    assert doc["schema_id"] == "gait.guard.retention_report"
    assert (doc["trace_ttl_seconds"], doc["pack_ttl_seconds"]) == (604800, 2592000)
    assert doc["deleted_files"][1]["age_seconds"] == 700_000
    assert doc["deleted_files"][1]["action"] == "deleted"


def test_guard_retain_cli_dry_run_reports_without_deleting(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spec §11.1: ``--dry-run`` deletes nothing; ``--report-out`` writes the JCS report."""
    old = in_tmp / "gait-out" / "trace_x.json"
    old.parent.mkdir()
    old.write_text("{}")
    os.utime(old, (1_000_000, 1_000_000))
    code = main(
        ["guard", "retain", "--root", "gait-out", "--dry-run", "--report-out", "r.json", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and old.exists()
    assert out["ok"] is True and out["dry_run"] is True and out["scanned_files"] == 1
    assert out["deleted_files"][0]["path"] == "gait-out/trace_x.json"
    report = json.loads((in_tmp / "r.json").read_bytes())
    assert report["dry_run"] is True and report["root_path"] == "gait-out"
    assert main(["guard", "retain", "--root", "gait-out"]) == 0
    assert capsys.readouterr().out == "guard retain ok: scanned=1 deleted=1\n"
    assert not old.exists()


def test_guard_retain_cli_rejects_bad_ttl(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Spec: Go duration syntax (no ``d``); invalid input exits 6."""
    assert main(["guard", "retain", "--trace-ttl", "7d", "--json"]) == 6
    assert json.loads(capsys.readouterr().out)["ok"] is False
