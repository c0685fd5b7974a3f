"""Helpers for the adoption tests: the real ``gait`` in child processes, and a local
runner for the shell steps of a GitHub Actions step list.

The runner executes every ``run:`` step as the Actions runner would (``bash
--noprofile --norc -eo pipefail``, ``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY``
files, ``working-directory``, ``env``), resolving only the expressions our
templates use (``inputs.*``, ``github.action_path``, ``steps.<id>.outputs.*``);
any other expression fails the test. ``uses:`` steps (checkout, setup-python,
upload-artifact) belong to the hosted runner and are returned for structural
checks instead of being run; the step with id ``install`` is replaced by the
``gait`` of this test environment, already on ``PATH``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def gait(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gait_runtime <args>`` in ``cwd``."""
    proc = subprocess.run(
        [sys.executable, "-m", "gait_runtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"gait {' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
        )
    return proc


def json_line(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc


def make_fixture_repo(root: Path) -> Path:
    """A repository holding only ``gait.yaml`` and ``fixtures/run_demo/`` (from the demo)."""
    root.mkdir(parents=True, exist_ok=True)
    gait("demo", "--json", cwd=root)
    gait("regress", "init", "--from", "run_demo", "--json", cwd=root)
    for p in sorted((root / "gait-out").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (root / "gait-out").rmdir()
    return root


def break_fixture(root: Path) -> None:
    """The documented failing fixture: expect replay exit 2 where the runpack gives 0."""
    path = root / "fixtures" / "run_demo" / "fixture.json"
    doc = json.loads(path.read_text())
    doc["expected_replay_exit_code"] = 2
    path.write_text(json.dumps(doc, indent=2) + "\n")


def parse_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            out[key] = value  # later lines win, as on the runner
    return out


@dataclass
class StepsRun:
    """What running a step list locally produced."""

    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: str = ""
    exit_code: int = 0
    failed_step: str = ""
    uses: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


def run_steps(
    steps: list[dict[str, Any]],
    *,
    inputs: dict[str, str],
    workspace: Path,
    scratch: Path,
    action_path: Path = REPO,
) -> StepsRun:
    """Run the ``run:`` steps in order, stopping at the first failing one (like the runner)."""
    result = StepsRun()
    summary_file = scratch / "step_summary.md"
    summary_file.touch()

    def resolve(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr.startswith("inputs."):
                return inputs[expr.removeprefix("inputs.")]
            if expr == "github.action_path":
                return str(action_path)
            sm = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
            if sm:
                return result.outputs.get(sm.group(1), {}).get(sm.group(2), "")
            raise AssertionError(f"expression the local runner does not know: {expr}")

        return _EXPR.sub(one, str(text))

    for i, step in enumerate(steps):
        if "uses" in step:
            result.uses.append(step)
            continue
        if step.get("id") == "install":
            continue
        sid = step.get("id", f"step{i}")
        output_file = scratch / f"output_{sid}"
        output_file.write_text("")
        env = {
            **os.environ,
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
            "GITHUB_WORKSPACE": str(workspace),
        }
        env.update({k: resolve(v) for k, v in (step.get("env") or {}).items()})
        cwd = workspace / resolve(step.get("working-directory", "."))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", resolve(step["run"])],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        result.logs.append(proc.stdout + proc.stderr)
        result.outputs[sid] = parse_outputs(output_file)
        if proc.returncode != 0:
            result.exit_code = proc.returncode
            result.failed_step = step.get("name", sid)
            break
    result.summary = summary_file.read_text()
    return result


def input_defaults(spec: dict[str, Any]) -> dict[str, str]:
    return {name: str(v.get("default", "")) for name, v in (spec or {}).items()}
