"""The CI templates: each parses with a real parser (the Jenkinsfile with a structural
check), has the documented inputs, outputs and steps, and calls the one contract
(``gait ci regress``). Running them on fixture repositories comes with the regress
commands (branch ``adopt-regress``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .runner import REPO

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
