"""``gait regress init|run|bootstrap`` against the Go implementation's regress vectors.

Each test works in a temp copy of a vector workspace (``tests/vectors/regress/<case>``)
with the working directory set to it, as the Go runs were. Same argv gives the same
correlation id, so stdout JSON is compared whole; ``regress_result.json`` differs
from Go's only in ``producer_version`` (ours is the package version).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gait_runtime import __version__
from gait_runtime.cli import main

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
REGRESS = VECTORS / "regress"
GO_VERSION = '"producer_version": "0.0.0-dev"'
OUR_VERSION = f'"producer_version": "{__version__}"'


def run(*argv: str) -> tuple[int, str]:
    """``gait argv...`` in-process: exit code and stdout."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    """Exactly one line of JSON on stdout."""
    code, text = run(*argv)
    assert text.endswith("\n") and text.count("\n") == 1, text
    payload: dict[str, Any] = json.loads(text)
    return code, payload


def go_result(case: str) -> str:
    """Go's ``regress_result.json`` with our producer version."""
    return (REGRESS / case / "regress_result.json").read_text().replace(GO_VERSION, OUR_VERSION)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """An empty workspace holding only Go's demo runpack in ``gait-out/`` (cwd set to it)."""
    (tmp_path / "gait-out").mkdir()
    shutil.copy(REGRESS / "pass/gait-out/runpack_run_demo.zip", tmp_path / "gait-out")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


@pytest.fixture
def go_case(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A copy of a whole Go-made workspace (cwd set to it); results removed first."""
    root = tmp_path / request.param
    shutil.copytree(REGRESS / request.param, root)
    for name in ("regress_result.json", "junit.xml"):
        (root / name).unlink()
    old = Path.cwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(old)


def test_init_reproduces_go_workspace(workspace: Path) -> None:
    """regress.md §2: same stdout, gait.yaml, fixture.json as Go; runpack copied byte for byte."""
    code, payload = run_json("regress", "init", "--from", "run_demo", "--json")
    assert code == 0
    assert payload == json.loads((REGRESS / "pass/out_init.json").read_text())
    assert (workspace / "gait.yaml").read_bytes() == (REGRESS / "pass/gait.yaml").read_bytes()
    fixture = workspace / "fixtures/run_demo"
    assert (fixture / "fixture.json").read_bytes() == (
        REGRESS / "pass/fixtures/run_demo/fixture.json"
    ).read_bytes()
    assert (fixture / "runpack.zip").read_bytes() == (
        workspace / "gait-out/runpack_run_demo.zip"
    ).read_bytes()
    for path in (fixture / "fixture.json", fixture / "runpack.zip", workspace / "gait.yaml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(fixture.stat().st_mode) == 0o750


def test_init_text_output(workspace: Path) -> None:
    """regress.md §2: the four text lines."""
    code, text = run("regress", "init", "--from", "run_demo")
    assert code == 0
    assert text.splitlines() == [
        "regress init ok: fixture=run_demo run_id=run_demo",
        "config: gait.yaml",
        "runpack: fixtures/run_demo/runpack.zip",
        "next: gait regress run --json",
    ]


def test_pass_run_reproduces_go(workspace: Path) -> None:
    """vectors/regress/pass: stdout JSON, result bytes, JUnit bytes, then the text run."""
    assert run_json("regress", "init", "--from", "run_demo", "--json")[0] == 0
    argv = ["regress", "run", "--json", "--output", "regress_result.json", "--junit", "junit.xml"]
    code, payload = run_json(*argv)
    assert code == 0
    assert payload == json.loads((REGRESS / "pass/out_run.json").read_text())
    result = workspace / "regress_result.json"
    assert result.read_text() == go_result("pass")
    assert (workspace / "junit.xml").read_bytes() == (REGRESS / "pass/junit.xml").read_bytes()
    first = result.read_bytes()
    code, text = run("regress", "run")
    assert (code, text) == (0, (REGRESS / "pass/out_run.txt").read_text())
    assert result.read_bytes() == first


def test_forced_failure_exits_5_naming_fixture_and_reason(workspace: Path) -> None:
    """regress.md §5 / vectors fail_exit_code: exit 5, Go's JSON, result and JUnit; text names it."""
    assert run_json("regress", "init", "--from", "run_demo", "--json")[0] == 0
    fixture = workspace / "fixtures/run_demo/fixture.json"
    fixture.write_text(
        fixture.read_text().replace(
            '"expected_replay_exit_code": 0', '"expected_replay_exit_code": 2'
        )
    )
    code, payload = run_json("regress", "run", "--json", "--junit", "junit.xml")
    assert code == 5
    assert payload == json.loads((REGRESS / "fail_exit_code/out_run.json").read_text())
    assert "error" not in payload and "error_code" not in payload
    assert (workspace / "regress_result.json").read_text() == go_result("fail_exit_code")
    assert (workspace / "junit.xml").read_bytes() == (
        REGRESS / "fail_exit_code/junit.xml"
    ).read_bytes()
    code, text = run("regress", "run", "--output", "regress_result_text_mode.json")
    assert code == 5
    go_lines = (REGRESS / "fail_exit_code/out_run.txt").read_text().splitlines()
    lines = text.splitlines()
    assert lines[: len(go_lines)] == go_lines
    assert lines[len(go_lines) :] == [
        "FAIL run_demo/expected_exit_code: unexpected_exit_code: expected replay exit 2, got 0"
    ]
    assert (workspace / "regress_result_text_mode.json").read_text() == go_result("fail_exit_code")


def test_trajectory_failure_from_our_recorded_candidate(workspace: Path) -> None:
    """vectors fail_trajectory: a candidate recorded here from Go's input gives Go's result."""
    assert run_json("regress", "init", "--from", "run_demo", "--json")[0] == 0
    shutil.copy(REGRESS / "fail_trajectory/candidate_input.json", workspace)
    record = ["run", "record", "--input", "candidate_input.json", "--out-dir", "candidates"]
    assert run_json(*record, "--json")[0] == 0
    fixture = workspace / "fixtures/run_demo/fixture.json"
    doc = json.loads(fixture.read_text())
    doc["candidate_runpack"] = "../../candidates/runpack_run_demo.zip"
    doc["diff_allow_changed_files"] = ["refs.json"]
    fixture.write_text(json.dumps(doc, indent=2))
    code, payload = run_json("regress", "run", "--json", "--junit", "junit.xml")
    assert code == 5
    assert payload == json.loads((REGRESS / "fail_trajectory/out_run.json").read_text())
    assert (workspace / "regress_result.json").read_text() == go_result("fail_trajectory")
    assert (workspace / "junit.xml").read_bytes() == (
        REGRESS / "fail_trajectory/junit.xml"
    ).read_bytes()
    code, text = run("regress", "run")
    assert (
        "FAIL run_demo/trajectory: unexpected_tool_sequence,unexpected_verdict_sequence: " in text
    )
    assert "tool #1: expected tool.fetch, got tool.delete" in text
    assert "FAIL run_demo/diff: unexpected_diff: changed intents.jsonl,results.jsonl" in text


@pytest.mark.parametrize(
    ("go_case", "exit_code"),
    [("pass", 0), ("fail_exit_code", 5), ("fail_trajectory", 5)],
    indirect=["go_case"],
)
def test_go_made_workspace_runs_unchanged(go_case: Path, exit_code: int) -> None:
    """A workspace written by the Go implementation (config, fixtures, candidate) runs here."""
    before = {k: v for k, v in snapshot(go_case).items() if k.startswith(("fixtures", "gait"))}
    code, payload = run_json("regress", "run", "--json", "--junit", "junit.xml")
    assert code == exit_code
    expected = json.loads((REGRESS / go_case.name / "out_run.json").read_text())
    assert {k: v for k, v in payload.items() if k != "correlation_id"} == {
        k: v for k, v in expected.items() if k != "correlation_id"
    }
    assert (go_case / "regress_result.json").read_text() == go_result(go_case.name)
    assert (go_case / "junit.xml").read_bytes() == (
        REGRESS / go_case.name / "junit.xml"
    ).read_bytes()
    after = {k: v for k, v in snapshot(go_case).items() if k.startswith(("fixtures", "gait"))}
    assert after == before


def test_junit_reads_as_ci_systems_read_it(workspace: Path) -> None:
    """A real XML parser sees testsuites → testsuite → testcase, with failure on the failing one."""
    assert run_json("regress", "init", "--from", "run_demo", "--json")[0] == 0
    fixture = workspace / "fixtures/run_demo/fixture.json"
    fixture.write_text(fixture.read_text().replace('"tool.fetch"', '"tool.other"'))
    assert run_json("regress", "run", "--json", "--junit", "reports/ci/junit.xml")[0] == 5
    root = ET.parse(workspace / "reports/ci/junit.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "gait.regress.default"
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert sorted(cases) == [
        ("run_demo", "diff"),
        ("run_demo", "expected_exit_code"),
        ("run_demo", "schema_validation"),
        ("run_demo", "trajectory"),
    ]
    failures = {k: c.find("failure") for k, c in cases.items() if c.find("failure") is not None}
    assert list(failures) == [("run_demo", "trajectory")]
    failure = failures[("run_demo", "trajectory")]
    assert failure is not None
    assert (failure.get("type"), failure.get("message"), failure.text) == (
        "regress_failure",
        "unexpected_tool_sequence",
        "unexpected_tool_sequence",
    )
    assert stat.S_IMODE((workspace / "reports/ci").stat().st_mode) == 0o750


def test_bootstrap_from_our_demo_passes(in_tmp: Path) -> None:
    """The canonical flow: ``gait demo`` then the bootstrap command it prints passes."""
    code, demo = run_json("demo", "--json")
    assert code == 0
    bootstrap = "gait regress bootstrap --from run_demo --json --junit ./gait-out/junit.xml"
    assert bootstrap in demo["next_commands"]
    code, payload = run_json(*bootstrap.split()[1:])
    assert code == 0
    payload.pop("correlation_id")
    assert payload == {
        "ok": True,
        "run_id": "run_demo",
        "fixture_name": "run_demo",
        "fixture_dir": "fixtures/run_demo",
        "runpack_path": "fixtures/run_demo/runpack.zip",
        "config_path": "gait.yaml",
        "status": "pass",
        "artifact_paths": ["regress_result.json", "./gait-out/junit.xml"],
        "output": "regress_result.json",
        "junit": "./gait-out/junit.xml",
    }
    result = json.loads((in_tmp / "regress_result.json").read_text())
    assert [g["status"] for g in result["graders"]] == ["pass"] * 4


def test_bootstrap_text_pass_and_fail(in_tmp: Path) -> None:
    """regress.md §4: bootstrap text header for pass, and the failure prefix with the summary."""
    assert run("demo")[0] == 0
    code, text = run("regress", "bootstrap", "--from", "run_demo", "--junit", "junit.xml")
    assert code == 0
    assert text.splitlines() == [
        "regress bootstrap ok: run_id=run_demo fixture=run_demo",
        "output: regress_result.json",
        "junit: junit.xml",
    ]
    code, text = run("regress", "bootstrap", "--from", "run_demo", "--grader", "no_such_grader")
    assert code == 6
    assert "unknown grader 'no_such_grader' (installed: context_conformance, diff, " in text


def test_replay_is_byte_stable(workspace: Path) -> None:
    """Stub replay and the whole regress result are identical across runs."""
    replays = {run("run", "replay", "run_demo", "--json")[1] for _ in range(3)}
    assert len(replays) == 1
    assert json.loads(replays.pop())["ok"] is True
    assert run_json("regress", "init", "--from", "run_demo", "--json")[0] == 0
    outputs = set()
    for _ in range(3):
        assert run_json("regress", "run", "--json", "--junit", "junit.xml")[0] == 0
        outputs.add(
            (workspace / "regress_result.json").read_bytes()
            + (workspace / "junit.xml").read_bytes()
        )
    assert len(outputs) == 1


def test_init_regenerates_config_and_name_rules(workspace: Path) -> None:
    """regress.md §1.1/§2: names sanitised or given; gait.yaml lists every fixture, sorted."""
    assert run_json("regress", "init", "--from", "run_demo", "--name", "zeta", "--json")[0] == 0
    assert run_json("regress", "init", "--from", "gait-out/runpack_run_demo.zip", "--json")[0] == 0
    (workspace / "fixtures/notes").mkdir()
    config = json.loads((workspace / "gait.yaml").read_text())
    assert [f["name"] for f in config["fixtures"]] == ["run_demo", "zeta"]
    assert config["fixtures"][1]["runpack"] == "fixtures/zeta/runpack.zip"
    assert run_json("regress", "run", "--json")[1]["graders"] == 8


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("ok.name-1_x", True), ("Bad", False), ("-lead", False), ("a/b", False), ("", True)],
)
def test_fixture_name_pattern(workspace: Path, name: str, accepted: bool) -> None:
    """regress.md §2 step 3: names must match ^[a-z0-9][a-z0-9._-]*$ (exit 6, nothing written)."""
    code, payload = run_json("regress", "init", "--from", "run_demo", f"--name={name}", "--json")
    if accepted:
        assert code == 0
        return
    assert code == 6
    assert "must match" in payload["error"] and payload["error_code"] == "invalid_input"
    assert not (workspace / "fixtures").exists() and not (workspace / "gait.yaml").exists()


def test_context_digest_source_adds_the_context_grader(in_tmp: Path) -> None:
    """regress.md §1.2/§3.1: a source with context_set_digest pins it; run adds the 5th grader."""
    from gait_runtime.runpack import build_runpack, write_runpack
    from gait_runtime.runpack.demo import demo_inputs

    run_doc, intents, results, refs = demo_inputs()
    refs["context_set_digest"] = "c" * 64
    write_runpack(in_tmp / "ctx.zip", build_runpack(run_doc, intents, results, refs))
    assert run_json("regress", "init", "--from", "ctx.zip", "--name", "ctx", "--json")[0] == 0
    fixture = json.loads((in_tmp / "fixtures/ctx/fixture.json").read_text())
    assert fixture["context_conformance"] == "required"
    assert fixture["expected_context_set_digest"] == "c" * 64
    code, payload = run_json("regress", "run", "--json")
    assert (code, payload["graders"]) == (0, 5)
    result = json.loads((in_tmp / "regress_result.json").read_text())
    context = next(g for g in result["graders"] if g["name"] == "ctx/context_conformance")
    assert (context["status"], context["context_conformance"]) == ("pass", "required")
