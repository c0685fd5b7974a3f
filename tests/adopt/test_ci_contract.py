"""``gait ci regress``: the CI contract on fixture repositories (docs/ci.md).

Real ``gait`` child processes in temp directories: a passing fixture, the documented
failing fixture (exit 5), the restore path of an empty repository, and an invalid
config whose exit 6 is passed through unchanged.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .runner import break_fixture, gait, json_line, make_fixture_repo, parse_outputs

ROOT = "gait-out/adoption_regress"


def test_passing_fixture_exits_0_with_the_documented_summary(tmp_path: Path) -> None:
    repo = make_fixture_repo(tmp_path / "repo")
    proc = gait("ci", "regress", "--json", cwd=repo, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json_line(proc)
    assert out["ok"] is True and out["status"] == "pass" and out["exit_code"] == 0
    assert out["restored"] is False  # gait.yaml was there
    assert out["graders"] == 4 and out["failed"] == 0
    assert "top_failure_reason" not in out and "next_command" not in out
    assert out["artifact_paths"] == [
        f"{ROOT}/regress_result.json",
        f"{ROOT}/junit.xml",
        f"{ROOT}/summary.json",
        f"{ROOT}/summary.md",
    ]
    summary = json.loads((repo / ROOT / "summary.json").read_text())
    assert summary["schema_id"] == "gait.ci.regress_summary"
    assert summary["schema_version"] == "1.0.0"
    assert summary["status"] == "pass"
    result = json.loads((repo / ROOT / "regress_result.json").read_text())
    assert result["schema_id"] == "gait.regress.result" and result["status"] == "pass"
    suite = ET.parse(repo / ROOT / "junit.xml").getroot()
    assert suite.tag == "testsuites" and suite.get("tests") == "4" and suite.get("failures") == "0"
    page = (repo / ROOT / "summary.md").read_text()
    assert page.startswith("### gait regress: pass (exit 0)\n")
    text = gait("ci", "regress", cwd=repo).stdout.splitlines()
    assert text[0] == "ci regress: status=pass exit_code=0"
    assert text[1] == f"summary: {ROOT}/summary.json"


def test_failing_fixture_exits_5_naming_the_reason_and_the_next_command(tmp_path: Path) -> None:
    repo = make_fixture_repo(tmp_path / "repo")
    break_fixture(repo)
    proc = gait("ci", "regress", "--json", cwd=repo, check=False)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    out = json_line(proc)
    assert out["ok"] is False and out["status"] == "fail" and out["exit_code"] == 5
    assert out["failed"] == 1
    assert out["top_failure_reason"] == "unexpected_exit_code"
    assert out["next_command"] == "gait regress run --json"
    assert out["failing_graders"] == [
        {"name": "run_demo/expected_exit_code", "reason_codes": ["unexpected_exit_code"]}
    ]
    assert "error" not in out  # a regression is an outcome, not an error
    suite = ET.parse(repo / ROOT / "junit.xml").getroot()
    assert suite.get("failures") == "1"
    page = (repo / ROOT / "summary.md").read_text()
    assert page.startswith("### gait regress: fail (exit 5)\n")
    assert "| top failure reason | `unexpected_exit_code` |" in page
    assert "- `run_demo/expected_exit_code`: unexpected_exit_code" in page
    text = gait("ci", "regress", cwd=repo, check=False).stdout.splitlines()
    assert text[:3] == [
        "ci regress: status=fail exit_code=5",
        "top_failure_reason: unexpected_exit_code",
        "next: gait regress run --json",
    ]


def test_empty_repository_is_restored_from_the_demo(tmp_path: Path) -> None:
    proc = gait("ci", "regress", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json_line(proc)
    assert out["restored"] is True and out["status"] == "pass"
    assert [s["command"] for s in out["steps"]] == [
        "gait demo --json",
        "gait regress init --from run_demo --json",
        f"gait regress run --config gait.yaml --output {ROOT}/regress_result.json "
        f"--junit {ROOT}/junit.xml --json",
    ]
    assert (tmp_path / "gait.yaml").is_file()
    assert (tmp_path / "fixtures" / "run_demo" / "runpack.zip").is_file()


def test_other_exit_codes_pass_through_with_an_error_summary(tmp_path: Path) -> None:
    (tmp_path / "gait.yaml").write_text("fixtures: [not json\n")
    proc = gait("ci", "regress", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    out = json_line(proc)
    assert out["ok"] is False and out["status"] == "error" and out["exit_code"] == 6
    assert out["error"] and out["error_code"] == "invalid_input"
    assert out["restored"] is False  # the config exists: never overwritten
    assert (tmp_path / "gait.yaml").read_text() == "fixtures: [not json\n"
    summary = json.loads((tmp_path / ROOT / "summary.json").read_text())
    assert summary["status"] == "error" and summary["exit_code"] == 6
    assert "regress_result.json" not in " ".join(summary["artifact_paths"])


def test_no_restore_passes_the_missing_config_through(tmp_path: Path) -> None:
    proc = gait("ci", "regress", "--no-restore", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 6
    assert json_line(proc)["status"] == "error"
    assert not (tmp_path / "gait.yaml").exists()


def test_github_flag_writes_step_outputs_and_the_job_summary(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    repo = make_fixture_repo(tmp_path / "repo")
    outputs, page = tmp_path / "out.txt", tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(page)}
    proc = subprocess.run(
        [sys.executable, "-m", "gait_runtime", "ci", "regress", "--github"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = parse_outputs(outputs)
    assert got["exit_code"] == "0"
    assert got["artifact_path"] == str((repo / ROOT).resolve())
    assert got["summary_path"] == str((repo / ROOT / "summary.md").resolve())
    assert page.read_text() == (repo / ROOT / "summary.md").read_text()


def test_a_missing_work_directory_is_invalid_input(tmp_path: Path) -> None:
    proc = gait("ci", "regress", "--workdir", "absent", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 6
    out = json_line(proc)
    assert out["status"] == "error" and out["error"] == "work directory not found: absent"
    assert out["error_code"] == "invalid_input"
    assert list(tmp_path.iterdir()) == []  # nothing created
