"""The adoption log and telemetry health counters (spec scout-doctor §4).

Real CLI invocations in-process (``main``) and real concurrent writers (threads in
several processes) on real files.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gait_runtime.cli import main
from gait_runtime.usage import adoption_event, normalize_command, read_health

WRITERS = """
import sys, threading
from gait_runtime.usage import record_invocation
log, threads = sys.argv[1], int(sys.argv[2])
env = {"GAIT_ADOPTION_LOG": log, "GAIT_TELEMETRY_HEALTH_PATH": sys.argv[3]}
start = threading.Barrier(threads)
def go(i):
    start.wait(timeout=60)
    assert record_invocation(["regress", "run", str(i)], 0, i, producer_version="t", environ=env)
ts = [threading.Thread(target=go, args=(i,)) for i in range(threads)]
for t in ts: t.start()
for t in ts: t.join(timeout=120)
"""


@pytest.fixture
def adoption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GAIT_ADOPTION_LOG and the health snapshot in a temp dir; cwd = that dir."""
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "logs" / "adoption.jsonl"
    monkeypatch.setenv("GAIT_ADOPTION_LOG", str(log))
    monkeypatch.setenv("GAIT_TELEMETRY_HEALTH_PATH", str(tmp_path / "health.json"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GAIT_ADOPTION_WORKFLOW", raising=False)
    monkeypatch.delenv("GAIT_TELEMETRY_WARN", raising=False)
    return log


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], "version"),
        (["--help"], "help"),
        (["-v"], "version"),
        (["--explain"], "explain"),
        (["regress", "init", "--from", "x"], "regress init"),
        (["run", "record", "--input", "x"], "run record"),
        (["doctor", "adoption", "--from", "l"], "doctor adoption"),
        (["doctor", "--json"], "doctor"),
        (["verify", "session-chain", "x"], "verify"),
        (["demo"], "demo"),
        (["scout", "signal"], "scout signal"),
    ],
)
def test_command_normalisation(argv: list[str], command: str) -> None:
    """argv → the command the adoption log records (§4.1)."""
    assert normalize_command(argv) == command


def test_events_carry_milestones_only_on_success() -> None:
    """demo/verify/regress init/regress run earn A1–A4 when they exit 0."""
    ok = adoption_event(
        command="demo", exit_code=0, elapsed_ms=5, finished_ns=1, producer_version="v"
    )
    assert ok["milestones"] == ["A1"] and ok["success"] is True
    assert list(ok) == [
        "schema_id",
        "schema_version",
        "created_at",
        "producer_version",
        "command",
        "success",
        "exit_code",
        "elapsed_ms",
        "milestones",
        "environment",
    ]
    failed = adoption_event(
        command="verify", exit_code=2, elapsed_ms=-3, finished_ns=1, producer_version="v"
    )
    assert "milestones" not in failed and failed["elapsed_ms"] == 0
    assert (
        adoption_event(
            command="regress bootstrap",
            exit_code=0,
            elapsed_ms=1,
            finished_ns=1,
            producer_version="v",
        ).get("milestones")
        is None
    )


def test_every_cli_invocation_appends_one_event(adoption: Path) -> None:
    """gait demo, gait verify and a failing command each append one line (A1, A2, failure)."""
    assert main(["demo"], out=io.StringIO()) == 0
    assert main(["verify", "run_demo"], out=io.StringIO()) == 0
    assert main(["verify", "nope"], out=io.StringIO()) == 6
    events = [json.loads(line) for line in adoption.read_text().splitlines()]
    assert [(e["command"], e["exit_code"], e.get("milestones")) for e in events] == [
        ("demo", 0, ["A1"]),
        ("verify", 0, ["A2"]),
        ("verify", 6, None),
    ]
    assert all(e["schema_id"] == "gait.scout.adoption_event" for e in events)
    assert events[0]["environment"]["os"] == sys.platform.replace("win32", "windows")
    health = read_health(adoption.parent.parent / "health.json")
    assert health == {"adoption": {"attempts": 3, "success": 3, "failed": 0}}


def test_a_failed_write_is_counted_warned_and_never_changes_the_exit_code(
    adoption: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log path is a directory: the command still exits 0, stderr warns, doctor shows it."""
    adoption.mkdir(parents=True)
    assert main(["version"], out=io.StringIO()) == 0
    assert "gait warning: telemetry stream=adoption write failed:" in capsys.readouterr().err
    monkeypatch.setenv("GAIT_TELEMETRY_WARN", "off")
    assert main(["version"], out=io.StringIO()) == 0
    assert capsys.readouterr().err == ""
    health = read_health(adoption.parent.parent / "health.json")
    assert health == {"adoption": {"attempts": 2, "success": 0, "failed": 2}}
    out = io.StringIO()
    monkeypatch.delenv("GAIT_ADOPTION_LOG")
    assert main(["doctor", "--json"], out=out) == 0
    check = json.loads(out.getvalue())["checks"][-1]
    assert (check["name"], check["status"]) == ("telemetry_health", "warn")
    assert "adoption=2" in check["message"]


def test_200_concurrent_appenders_write_200_whole_lines(tmp_path: Path) -> None:
    """8 processes × 25 threads append to one log: zero malformed lines, none lost, counted."""
    log = tmp_path / "adoption.jsonl"
    health = tmp_path / "health.json"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITERS, str(log), "25", str(health)], env=env)
        for _ in range(8)
    ]
    assert [p.wait(timeout=240) for p in procs] == [0] * 8
    raw = log.read_bytes()
    assert raw.endswith(b"\n")
    events = [json.loads(line) for line in raw.split(b"\n")[:-1]]
    assert len(events) == 200
    assert all(e["command"] == "regress run" and e["milestones"] == ["A4"] for e in events)
    assert sorted(e["elapsed_ms"] for e in events) == sorted(list(range(25)) * 8)
    assert read_health(health) == {"adoption": {"attempts": 200, "success": 200, "failed": 0}}
