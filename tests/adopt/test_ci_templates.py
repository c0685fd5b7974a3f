"""The CI templates: each parses, names the one contract (``gait ci regress``), and the
GitHub ones, run step by step on a fixture repository, give the documented outputs.

A temporary git repository adopts the gate by committing one workflow file plus the
fixtures; its workflow's action is then run locally (tests/adopt/runner.py says what
the local runner does and does not do).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .runner import REPO, break_fixture, input_defaults, make_fixture_repo, run_steps

CONTRACT = "gait ci regress"
ACTION = REPO / "action.yml"
REUSABLE = REPO / ".github" / "workflows" / "gait-regress.yml"
PROJECT_CI = REPO / ".github" / "workflows" / "ci.yml"
ADOPT_WORKFLOW = REPO / "ci" / "github" / "gait-regress.yml"
GITLAB = REPO / "ci" / "gitlab" / "gait-regress.gitlab-ci.yml"
CIRCLECI = REPO / "ci" / "circleci" / "config.yml"
JENKINS = REPO / "ci" / "jenkins" / "Jenkinsfile"


def _load(path: Path) -> dict[str, Any]:
    # BaseLoader keeps every scalar a string and `on:` a key (YAML 1.1 reads it as true).
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert isinstance(doc, dict), path
    return doc


def _contract_lines(text: str) -> list[str]:
    """Lines that invoke the contract (``gait ci regress --...``), comments excluded."""
    call = re.compile(r"(^|[\s'\"/-])" + re.escape(CONTRACT) + " --")
    return [
        line.strip()
        for line in text.splitlines()
        if call.search(line) and not line.strip().startswith(("#", "//"))
    ]


@pytest.mark.parametrize(
    "path", [ACTION, REUSABLE, PROJECT_CI, ADOPT_WORKFLOW, GITLAB, CIRCLECI], ids=lambda p: p.name
)
def test_yaml_templates_parse_with_a_real_parser(path: Path) -> None:
    assert yaml.safe_load(path.read_text(encoding="utf-8"))
    _load(path)


@pytest.mark.parametrize(
    "path", [ACTION, REUSABLE, GITLAB, CIRCLECI, JENKINS], ids=lambda p: p.name
)
def test_every_gate_template_calls_the_one_contract(path: Path) -> None:
    lines = _contract_lines(path.read_text(encoding="utf-8"))
    assert len(lines) == 1, lines
    assert "--artifact-root" in lines[0]


def test_composite_action_inputs_outputs_and_steps() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert set(action["outputs"]) == {"exit_code", "summary_path", "artifact_path"}
    for name in ("exit_code", "summary_path", "artifact_path"):
        assert action["outputs"][name]["value"] == f"${{{{ steps.contract.outputs.{name} }}}}"
    assert {
        "workdir",
        "config",
        "artifact-root",
        "gait-install",
        "python-version",
        "upload",
    } <= set(action["inputs"])
    steps = action["runs"]["steps"]
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/setup-python", "actions/upload-artifact"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"].startswith("always()")
    assert upload["with"]["path"] == "${{ steps.contract.outputs.artifact_path }}"
    assert all(s.get("shell") == "bash" for s in steps if "run" in s)


def test_reusable_workflow_is_callable_and_dispatchable() -> None:
    wf = _load(REUSABLE)
    assert set(wf["on"]) == {"workflow_call", "workflow_dispatch"}
    call = wf["on"]["workflow_call"]
    assert set(call["outputs"]) == {"exit_code", "summary_path", "artifact_path"}
    assert set(call["inputs"]) == set(wf["on"]["workflow_dispatch"]["inputs"])
    job = wf["jobs"]["regress"]
    assert set(job["outputs"]) == {"exit_code", "summary_path", "artifact_path"}
    uses = [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]


def test_project_ci_runs_make_test() -> None:
    wf = _load(PROJECT_CI)
    steps = wf["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["make test"]
    assert {"push", "pull_request"} <= set(wf["on"])


def test_gitlab_and_circleci_keep_artifacts_whatever_the_outcome() -> None:
    gitlab = _load(GITLAB)["gait-regress"]
    assert gitlab["artifacts"]["when"] == "always"
    assert gitlab["artifacts"]["reports"]["junit"] == "gait-out/adoption_regress/junit.xml"
    circle = _load(CIRCLECI)
    assert circle["version"] == "2.1"
    steps = circle["jobs"]["gait-regress"]["steps"]
    kinds = [next(iter(s)) if isinstance(s, dict) else s for s in steps]
    assert kinds == ["checkout", "run", "run", "store_test_results", "store_artifacts", "run"]
    assert "set +e" in steps[2]["run"]["command"]  # the contract step never stops the job early
    assert circle["workflows"]["gait"]["jobs"] == ["gait-regress"]


def test_jenkinsfile_structure() -> None:
    text = JENKINS.read_text(encoding="utf-8")
    code = re.sub(r"//[^\n]*", "", text)
    code = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", code)  # strings cannot unbalance braces
    depth = 0
    for ch in code:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert code.count("(") == code.count(")")
    for block in ("pipeline {", "agent any", "stages {", "steps {", "post {", "always {"):
        assert block in code
    assert re.findall(r"stage\('([^']+)'\)", text) == ["Install gait", "gait regress"]
    assert "returnStatus: true" in text
    assert "code == 5" in text
    assert "junit " in text and "archiveArtifacts " in text


def _shell(script: str, cwd: Path, env: dict[str, str]) -> int:
    import os

    from .runner import BIN

    full = {**os.environ, **env, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=cwd, env=full, timeout=300, check=False
    ).returncode


def test_gitlab_and_circleci_scripts_give_the_contracts_exit_codes(tmp_path: Path) -> None:
    """Both run their contract lines on the same fixture repo: 0, then 5 once it fails."""
    repo = make_fixture_repo(tmp_path / "repo")
    gitlab = _load(GITLAB)["gait-regress"]
    circle = _load(CIRCLECI)["jobs"]["gait-regress"]
    runs = [s["run"] for s in circle["steps"] if isinstance(s, dict) and "run" in s]
    circle_script = "\n".join(r["command"] for r in runs if r["name"] != "Install gait")
    for expected in (0, 5):
        if expected == 5:
            break_fixture(repo)
        assert _shell("\n".join(gitlab["script"]), repo, gitlab["variables"]) == expected
        assert (
            _shell(
                circle_script.replace("/tmp/gait-exit-code", str(tmp_path / "code")),
                repo,
                circle["environment"],
            )
            == expected
        )
        assert (repo / "gait-out" / "adoption_regress" / "junit.xml").is_file()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_a_repository_adopts_the_gate_with_one_workflow_file(tmp_path: Path) -> None:
    repo = make_fixture_repo(tmp_path / "repo")
    _git(repo, "init", "-q", "-b", "main")
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ADOPT_WORKFLOW, repo / ".github" / "workflows" / "gait-regress.yml")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "adopt the gait regression gate")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == [
        ".github/workflows/gait-regress.yml",
        "fixtures/run_demo/fixture.json",
        "fixtures/run_demo/runpack.zip",
        "gait.yaml",
    ]
    wf = _load(repo / ".github" / "workflows" / "gait-regress.yml")
    steps = wf["jobs"]["regress"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    step = steps[1]
    assert step["uses"].endswith("/gait-runtime@v0")  # resolved to this repository's action.yml
    action = _load(ACTION)
    inputs = {**input_defaults(action["inputs"]), **step.get("with", {})}

    (tmp_path / "run1").mkdir()
    run = run_steps(
        action["runs"]["steps"], inputs=inputs, workspace=repo, scratch=tmp_path / "run1"
    )
    assert run.exit_code == 0, run.logs
    out = run.outputs["contract"]
    assert out["exit_code"] == "0"
    assert Path(out["summary_path"]) == (repo / "gait-out/adoption_regress/summary.md").resolve()
    assert Path(out["artifact_path"]).is_dir()
    assert run.summary.startswith("### gait regress: pass (exit 0)")

    break_fixture(repo)
    _git(repo, "commit", "-q", "-am", "a change the fixture catches")
    (tmp_path / "run2").mkdir()
    run = run_steps(
        action["runs"]["steps"], inputs=inputs, workspace=repo, scratch=tmp_path / "run2"
    )
    assert run.exit_code == 5, run.logs
    assert run.failed_step == "Pass the exit code through"
    assert run.outputs["contract"]["exit_code"] == "5"
    assert "| top failure reason | `unexpected_exit_code` |" in run.summary


def test_reusable_workflow_steps_give_the_same_outputs(tmp_path: Path) -> None:
    repo = make_fixture_repo(tmp_path / "repo")
    wf = _load(REUSABLE)
    inputs = input_defaults(wf["on"]["workflow_call"]["inputs"])
    steps = wf["jobs"]["regress"]["steps"]
    (tmp_path / "run").mkdir()
    run = run_steps(steps, inputs=inputs, workspace=repo, scratch=tmp_path / "run")
    assert run.exit_code == 0, run.logs
    assert run.outputs["contract"]["exit_code"] == "0"
    assert run.summary.startswith("### gait regress: pass (exit 0)")
    assert [u["uses"].split("@")[0] for u in run.uses] == [
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
    ]
