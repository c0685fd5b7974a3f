"""``gait doctor adoption --from <log>``: milestones, timings, medians, blockers (spec §5)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from gait_runtime.cli import main

ENV = {"os": "linux", "arch": "amd64"}


def event(at: str, command: str, code: int, ms: int, *marks: str, **extra: Any) -> str:
    doc: dict[str, Any] = {
        "schema_id": "gait.scout.adoption_event",
        "schema_version": "1.0.0",
        "created_at": at,
        "producer_version": "t",
        "command": command,
        "success": code == 0,
        "exit_code": code,
        "elapsed_ms": ms,
        "environment": ENV,
        **extra,
    }
    if marks:
        doc["milestones"] = list(marks)
    return json.dumps(doc)


def report(path: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(["doctor", "adoption", "--from", str(path), "--json"], out=out)
    return code, json.loads(out.getvalue())


def test_full_activation_with_timings_medians_and_workflows(tmp_path: Path) -> None:
    """Four milestones reached: timings from the first event, medians, per-workflow figures."""
    log = tmp_path / "a.jsonl"
    log.write_text(
        "\n".join(
            [
                event("2026-02-11T10:00:00Z", "version", 0, 3),
                event("2026-02-11T10:00:01.5Z", "demo", 0, 40, "A1"),
                event("2026-02-11T10:00:02Z", "demo", 0, 60, "A1"),
                event("2026-02-11T10:00:03Z", "verify", 2, 10),
                event("2026-02-11T10:00:04Z", "verify", 0, 12, "A2"),
                "",
                event("2026-02-11T10:00:05Z", "regress init", 0, 30, "A3"),
                event("2026-02-11T10:00:09Z", "regress run", 5, 100),
                event("2026-02-11T10:00:10Z", "regress run", 0, 101, "A4"),
                event("2026-02-11T10:00:11Z", "regress run", 0, 200, "A4"),
            ]
        )
        + "\n"
    )
    code, doc = report(log)
    r = doc["report"]
    assert code == 0 and doc["ok"] is True
    assert (r["total_events"], r["success_events"], r["failed_events"]) == (9, 7, 2)
    assert (r["first_event_at"], r["last_event_at"]) == (
        "2026-02-11T10:00:00Z",
        "2026-02-11T10:00:11Z",
    )
    assert r["created_at"] == r["last_event_at"]
    assert r["activation_timing_ms"] == {"A1": 1500, "A2": 4000, "A3": 5000, "A4": 10000}
    assert r["activation_medians_ms"] == {
        "m1_demo_elapsed_ms": 50,
        "m2_regress_run_elapsed_ms": 150,
    }
    assert [m["name"] for m in r["milestones"]] == ["A1", "A2", "A3", "A4", "E1", "E2", "E3"]
    assert [m["achieved"] for m in r["milestones"]] == [True] * 4 + [False] * 3
    assert r["activation_complete"] is True and "blockers" not in r
    assert r["commands"][0] == {"command": "demo", "total": 2, "success": 2, "failure": 0}
    flows = {w["workflow"]: w for w in r["skill_workflows"]}
    assert list(flows) == ["gait-capture-runpack", "gait-incident-to-regression"]
    assert flows["gait-incident-to-regression"] == {
        "workflow": "gait-incident-to-regression",
        "total": 4,
        "success": 3,
        "failure": 1,
        "success_rate": 0.75,
        "median_runtime_ms": 100,
        "most_common_failure_code": 5,
    }


def test_garbage_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    """Bad lines are listed with their line numbers; the valid ones still count."""
    log = tmp_path / "a.jsonl"
    log.write_text(
        "\n".join(
            [
                "not json at all",
                event("2026-02-11T10:00:00Z", "demo", 0, 1, "A1"),
                json.dumps({"schema_id": "other", "created_at": "x"}),
                event("2026-02-11T10:00:01Z", "verify", 300, 1),
                '{"command":"demo","exit_code":0,"environment":{"os":"linux","arch":"amd64"}}',
                "[1,2,3]",
            ]
        )
    )
    code, doc = report(log)
    r = doc["report"]
    assert code == 0
    assert r["total_events"] == 1
    assert r["invalid_lines"] == 5
    assert [e["line"] for e in r["invalid_line_examples"]] == [1, 3, 4, 5, 6]
    assert "exit_code" in r["invalid_line_examples"][2]["reason"]
    assert r["blockers"] == [
        "missing A2: run `gait verify <run_id>`",
        "missing A3: run `gait regress init --from <run_id>`",
        "missing A4: run `gait regress run`",
    ]


def test_empty_log_is_deterministic(tmp_path: Path) -> None:
    """No events: the 1980 epoch, zero first/last times, every A-milestone a blocker."""
    log = tmp_path / "a.jsonl"
    log.write_text("\n\n")
    _, doc = report(log)
    r = doc["report"]
    assert r["created_at"] == "1980-01-01T00:00:00Z"
    assert r["first_event_at"] == r["last_event_at"] == "0001-01-01T00:00:00Z"
    assert len(r["blockers"]) == 4 and r["activation_complete"] is False


def test_text_and_missing_file(tmp_path: Path) -> None:
    """Text mode names source, count and blockers; a missing log is exit 6."""
    log = tmp_path / "a.jsonl"
    log.write_text(event("2026-02-11T10:00:00Z", "demo", 0, 1, "A1") + "\n")
    out = io.StringIO()
    assert main(["doctor", "adoption", "--from", str(log)], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"doctor adoption: source={log} total_events=1 activation_complete=false"
    assert lines[-1].startswith("blockers: missing A2")
    out = io.StringIO()
    assert main(["doctor", "adoption", "--from", str(tmp_path / "nope"), "--json"], out=out) == 6
    assert main(["doctor", "adoption"], out=io.StringIO()) == 6


def test_a_real_adoption_log_reaches_a1_and_a2(tmp_path: Path, monkeypatch: Any) -> None:
    """gait demo then gait verify with GAIT_ADOPTION_LOG set: A1 and A2 achieved."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GAIT_ADOPTION_LOG", str(tmp_path / "adoption.jsonl"))
    assert main(["demo"], out=io.StringIO()) == 0
    assert main(["verify", "run_demo"], out=io.StringIO()) == 0
    monkeypatch.delenv("GAIT_ADOPTION_LOG")
    _, doc = report(tmp_path / "adoption.jsonl")
    achieved = [m["name"] for m in doc["report"]["milestones"] if m["achieved"]]
    assert achieved == ["A1", "A2"]
    assert set(doc["report"]["activation_timing_ms"]) == {"A1", "A2"}
