"""The soak harness end to end: a real supervisor subprocess, real HTTP on 127.0.0.1, real files.

Every test here runs ``gait soak run`` (in-process ``main``; the supervisor it
starts is a real ``python -m gait_runtime serve`` subprocess on port 0) and then
reads what the run left behind. Runs are shortened with ``--duration`` and
``--agents`` overrides, except the ``smoke`` profile, which runs as shipped:
that is the CI smoke run of the issue. The harness bounds each of its own waits
(start-up line, drain, agents' deadline); pytest's per-test timeout bounds the rest.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.artifacts.schemas import validate
from gait_runtime.cli import main
from gait_runtime.harness import load_profile, verify_run


def _run(argv: list[str]) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    quiet = ["--quiet"] if argv[:2] == ["soak", "run"] else []
    code = main([*argv, *quiet, "--json"], out=out)
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    """One shortened chaos run (SIGKILL twice under load), shared by the chaos tests."""
    root = tmp_path_factory.mktemp("chaos") / "run"
    argv = ["soak", "run", "--profile", "chaos", "--out", str(root), "--no-plot"]
    argv += ["--duration", "6s", "--agents", "6", "--sessions", "3", "--restarts", "2"]
    code, doc = _run(argv)
    return code, doc, root


def test_smoke_profile_passes_against_a_real_supervisor(tmp_path: Path) -> None:
    """Issue: the shipped smoke profile runs in CI; journals verified, every ack present."""
    out = tmp_path / "smoke"
    code, doc = _run(["soak", "run", "--profile", "smoke", "--out", str(out)])
    assert code == 0, doc["failed"]
    assert doc["ok"] is True and doc["failed"] == []
    ver = doc["verification"]
    assert ver["ok"] is True and ver["failures"] == {}
    assert ver["journals"] == 4 and ver["chains_verified"] == 4
    assert ver["acknowledged"] == doc["totals"]["decisions"] > 0
    assert ver["acknowledged_missing"] == 0 and ver["malformed_lines"] == 0
    assert doc["server"]["exit_codes"] == [0]
    assert set(doc["totals"]["verdicts"]) == {"allow", "block", "require_approval"}
    assert {b["name"] for b in doc["budgets"]} >= {"p99_ms", "max_error_rate"}
    report = json.loads((out / "soak_report.json").read_text())
    validate("soak/soak_report", report)
    assert (out / "soak_plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_budget_exits_2_and_names_the_budget(tmp_path: Path) -> None:
    """Issue + docs/soak.md: a broken budget fails the run with exit 2 naming the budget."""
    argv = ["soak", "run", "--profile", "smoke", "--out", str(tmp_path / "r"), "--no-plot"]
    argv += ["--duration", "2s", "--agents", "2", "--sessions", "1", "--budget", "p99_ms=0.001"]
    code, doc = _run(argv)
    assert code == 2
    assert doc["ok"] is False
    assert any(line.startswith("budget p99_ms broken") for line in doc["failed"])
    row = next(b for b in doc["budgets"] if b["name"] == "p99_ms")
    assert row["ok"] is False and row["actual"] > row["limit"]
    assert doc["verification"]["ok"] is True


def test_a_broken_budget_is_named_in_the_text_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text mode prints the failing budget line and exits 2 as well."""
    argv = ["soak", "run", "--profile", "smoke", "--out", str(tmp_path / "r"), "--no-plot"]
    argv += ["--duration", "1s", "--agents", "1", "--sessions", "1", "--quiet"]
    argv += ["--budget", "min_throughput_rps=1000000"]
    assert main(argv) == 2
    text = capsys.readouterr().out
    assert "FAIL" in text and "budget min_throughput_rps broken" in text


def test_chaos_run_survives_sigkills_with_every_ack_present(
    chaos_run: tuple[int, dict[str, Any], Path],
) -> None:
    """Issue: SIGKILL and restart repeatedly; afterwards nothing acknowledged is missing."""
    code, doc, _ = chaos_run
    assert code == 0, doc["failed"]
    assert doc["server"]["kills"] == 2 and doc["server"]["starts"] == 3
    assert doc["server"]["exit_codes"][-1] == 0
    ver = doc["verification"]
    assert ver["acknowledged"] > 0 and ver["acknowledged_missing"] == 0
    assert ver["events"] >= ver["acknowledged"]


def _last_acked_line(root: Path) -> tuple[Path, int, int]:
    """(journal, sequence, byte offset of that event's line) of the newest acked event."""
    acks = [json.loads(line) for line in (root / "acks.jsonl").read_text().splitlines()]
    last = max(acks, key=lambda a: (a["sequence"], a["journal"]))
    journal = Path(last["journal"])
    offset = 0
    for line in journal.read_bytes().splitlines(keepends=True):
        record = json.loads(line)
        event = record.get("event") or {}
        if event.get("sequence") == last["sequence"]:
            return journal, last["sequence"], offset
        offset += len(line)
    raise AssertionError("acknowledged event not found before injection")


def test_chaos_verification_catches_a_lost_acknowledged_record(
    chaos_run: tuple[int, dict[str, Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: inject the loss of an acknowledged record; verification names it and exits 2."""
    _, _, root = chaos_run
    journal, sequence, offset = _last_acked_line(root)
    with open(journal, "r+b") as handle:
        handle.truncate(offset)
    result = verify_run(root / "sessions", root / "acks.jsonl")
    assert result.ok is False
    assert result.acknowledged_missing == 1
    problem = next(p for p in result.problems if p.check == "ack_present")
    assert f"sequence {sequence} " in problem.detail and problem.journal == str(journal)
    assert main(["soak", "verify", str(root)]) == 2
    text = capsys.readouterr().out
    assert "check ack_present failed 1 time(s)" in text


def test_soak_profile_compacts_at_restarts_and_finds_acks_in_checkpoints(tmp_path: Path) -> None:
    """Profile soak: graceful restarts with compaction; compacted acks are found in checkpoints."""
    argv = ["soak", "run", "--profile", "soak", "--out", str(tmp_path / "r"), "--no-plot"]
    argv += ["--duration", "5s", "--agents", "4", "--sessions", "2", "--restarts", "1"]
    argv += ["--budget", "p50_ms=100000", "--budget", "p95_ms=100000", "--budget", "p99_ms=100000"]
    argv += ["--budget", "max_drift_ratio=1000"]
    code, doc = _run(argv)
    assert code == 0, doc["failed"]
    server = doc["server"]
    assert server["graceful_restarts"] == 1 and server["exit_codes"] == [0, 0]
    assert server["compactions"] >= 1
    ver = doc["verification"]
    assert ver["acknowledged_in_checkpoints"] > 0
    assert (
        ver["acknowledged_in_checkpoints"] + ver["acknowledged_in_journal"] == ver["acknowledged"]
    )


def test_capacity_ramp_stops_at_the_first_step_over_budget(tmp_path: Path) -> None:
    """Capacity: the ramp stops when p99 crosses; with no step within budget the knee is 0."""
    argv = ["soak", "run", "--profile", "capacity", "--out", str(tmp_path / "r"), "--no-plot"]
    argv += ["--duration", "4s", "--max-agents", "4", "--budget", "p99_ms=0.001"]
    code, doc = _run(argv)
    capacity = doc["capacity"]
    assert code == 2
    assert len(capacity["steps"]) == 1 and capacity["crossed"] is True
    assert capacity["knee_agents"] == 0
    assert capacity["statement"].startswith("no step met p99")


def test_capacity_ramp_reports_the_knee(tmp_path: Path) -> None:
    """Capacity: every step within budget ⇒ the knee is the largest step, stated in words."""
    argv = ["soak", "run", "--profile", "capacity", "--out", str(tmp_path / "r"), "--no-plot"]
    argv += ["--duration", "4s", "--max-agents", "4", "--budget", "p99_ms=60000"]
    code, doc = _run(argv)
    capacity = doc["capacity"]
    assert code == 0, doc["failed"]
    assert [s["agents"] for s in capacity["steps"]] == [4]
    assert capacity["knee_agents"] == 4 and capacity["crossed"] is False
    assert capacity["statement"].startswith("this machine holds 4 agents at p99 <= 60000 ms")


def test_compare_puts_an_asyncio_and_a_trio_run_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: compare two reports (asyncio vs trio backend), figure by figure."""
    paths = []
    for backend in ("asyncio", "trio"):
        out = tmp_path / backend
        argv = ["soak", "run", "--profile", "smoke", "--out", str(out), "--no-plot"]
        argv += ["--duration", "2s", "--agents", "2", "--sessions", "2", "--backend", backend]
        code, doc = _run(argv)
        assert code == 0, doc["failed"]
        assert doc["profile"]["backend"] == backend
        paths.append(str(out / "soak_report.json"))
    code, doc = _run(["soak", "compare", *paths])
    assert code == 0
    figures = {row["figure"]: row for row in doc["figures"]}
    assert {"throughput_rps", "p99_ms", "drift_ratio", "acknowledged_missing"} <= set(figures)
    assert figures["acknowledged_missing"]["a"] == figures["acknowledged_missing"]["b"] == 0
    assert main(["soak", "compare", *paths]) == 0
    text = capsys.readouterr().out
    assert "A smoke/asyncio" in text and "B smoke/trio" in text


def test_an_output_directory_holding_a_run_is_refused(
    chaos_run: tuple[int, dict[str, Any], Path],
) -> None:
    """Decision: a run never mixes its journals with an earlier run's (exit 6)."""
    _, _, root = chaos_run
    code, doc = _run(["soak", "run", "--profile", "smoke", "--out", str(root)])
    assert code == 6
    assert doc["error_detail"] == "soak_out_not_empty"


def test_oss_prod_posture_runs_with_token_auth_prod_key_and_strict_statuses(
    tmp_path: Path,
) -> None:
    """Posture oss-prod: the harness supplies token and prod key; 403/409 count as decisions."""
    source = Path(load_profile("smoke").source).read_text()
    profile = tmp_path / "prod.yaml"
    profile.write_text(
        source.replace("name: smoke", "name: smoke-prod").replace(
            "posture: dev", "posture: oss-prod"
        )
    )
    argv = ["soak", "run", "--profile", str(profile), "--out", str(tmp_path / "r"), "--no-plot"]
    argv += ["--duration", "2s", "--agents", "2", "--sessions", "1"]
    code, doc = _run(argv)
    assert code == 0, doc["failed"]
    assert doc["server"]["posture"] == "oss-prod"
    assert "--auth-mode" in doc["server"]["command"]
    assert set(doc["totals"]["verdicts"]) == {"allow", "block", "require_approval"}
    assert doc["verification"]["acknowledged"] == doc["totals"]["decisions"] > 0
