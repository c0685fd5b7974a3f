"""The CI regression contract behind every CI template: ``gait ci regress``.

Owns: the one sequence every CI system runs (``docs/ci.md``):

1. **Restore** (only when the config file is missing and ``--config`` is the
   default ``gait.yaml``): ``gait demo`` when the source is ``run_demo`` and its
   runpack is absent, then ``gait regress init --from <source>``.
2. **Run** ``gait regress run --config C --output R/regress_result.json
   --junit R/junit.xml --json`` (``R`` = the artifact root).
3. **Summarise** into ``R/summary.json`` (``gait.ci.regress_summary``) and
   ``R/summary.md`` (for a job summary page): status, top failure reason, next
   command, artifact paths, the failing graders.
4. **Pass the exit code through** unchanged: 0 (every grader passed), 5 (a
   deterministic regression), anything else (invalid input, internal failure).

Each step is a child ``python -m gait_runtime`` process in the work directory,
exactly what a CI shell step would run; the summary is written even when a step
fails. Does not own the regress semantics (``gait_runtime.regress``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .. import __version__
from ..artifacts.fsutil import write_atomic
from ..errors import EXIT_INTERNAL, EXIT_INVALID_INPUT, EXIT_OK, EXIT_REGRESS_FAILED

__all__ = [
    "DEFAULT_ARTIFACT_ROOT",
    "SUMMARY_SCHEMA_ID",
    "ContractOptions",
    "ContractOutcome",
    "run_contract",
]

SUMMARY_SCHEMA_ID: Final = "gait.ci.regress_summary"
SUMMARY_SCHEMA_VERSION: Final = "1.0.0"
DEFAULT_ARTIFACT_ROOT: Final = "gait-out/adoption_regress"
DEFAULT_CONFIG: Final = "gait.yaml"


@dataclass(frozen=True, slots=True)
class ContractOptions:
    """What one contract run does.

    Attributes:
        workdir: the repository root (fixtures and ``gait.yaml`` resolve here).
        config: regress config path, relative to ``workdir``.
        artifact_root: where results, JUnit and the summary go (relative to ``workdir``).
        source: the run id or runpack restored from when the config is missing.
        restore: allow the restore step.
        timeout_s: bound on each child command.
    """

    workdir: Path
    config: str = DEFAULT_CONFIG
    artifact_root: str = DEFAULT_ARTIFACT_ROOT
    source: str = "run_demo"
    restore: bool = True
    timeout_s: float = 900.0


@dataclass(slots=True)
class ContractOutcome:
    """The summary document and the exit code to pass through."""

    summary: dict[str, Any]
    exit_code: int
    steps: list[dict[str, Any]] = field(default_factory=list)


def _status(code: int) -> str:
    if code == EXIT_OK:
        return "pass"
    if code == EXIT_REGRESS_FAILED:
        return "fail"
    return "error"


def _gait(args: Sequence[str], *, cwd: Path, timeout_s: float) -> tuple[int, dict[str, Any], str]:
    """Run ``gait <args>`` in a child; return (exit code, its JSON line or {}, stderr tail)."""
    env = dict(os.environ)
    env.pop("GAIT_DEBUG", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "gait_runtime", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return EXIT_INTERNAL, {"error": f"gait {args[0]} timed out after {timeout_s:g}s"}, ""
    payload: dict[str, Any] = {}
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if lines:
        try:
            parsed = json.loads(lines[-1])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            payload = parsed
    return proc.returncode, payload, proc.stderr.strip()[-2000:]


def _posix(path: Path) -> str:
    return path.as_posix()


def _failing_graders(result_path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    failing = []
    for grader in doc.get("graders", []) if isinstance(doc, dict) else []:
        if isinstance(grader, dict) and grader.get("status") == "fail":
            failing.append(
                {"name": grader.get("name", ""), "reason_codes": grader.get("reason_codes", [])}
            )
    return failing


def _restore(opts: ContractOptions, steps: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """Recreate ``gait.yaml`` + fixtures from ``opts.source``; (exit code, failing payload)."""
    demo_pack = opts.workdir / "gait-out" / "runpack_run_demo.zip"
    if opts.source == "run_demo" and not demo_pack.is_file():
        code, payload, stderr = _gait(
            ["demo", "--json"], cwd=opts.workdir, timeout_s=opts.timeout_s
        )
        steps.append({"command": "gait demo --json", "exit_code": code})
        if code != EXIT_OK:
            return code, payload or {"error": stderr or f"gait demo exited {code}"}
    args = ["regress", "init", "--from", opts.source, "--json"]
    code, payload, stderr = _gait(args, cwd=opts.workdir, timeout_s=opts.timeout_s)
    steps.append({"command": "gait " + " ".join(args), "exit_code": code})
    if code != EXIT_OK:
        return code, payload or {"error": stderr or f"gait regress init exited {code}"}
    return EXIT_OK, {}


def run_contract(opts: ContractOptions) -> ContractOutcome:
    """Restore, run, summarise; never raises for a failing step (its code is the outcome)."""
    workdir = opts.workdir
    if not workdir.is_dir():
        return ContractOutcome(
            {"status": "error", "error": f"work directory not found: {workdir}"},
            EXIT_INVALID_INPUT,
        )
    root_rel = Path(opts.artifact_root)
    root = workdir / root_rel
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    output_rel, junit_rel = root_rel / "regress_result.json", root_rel / "junit.xml"
    summary_rel, markdown_rel = root_rel / "summary.json", root_rel / "summary.md"
    steps: list[dict[str, Any]] = []
    restored = False
    code: int = EXIT_OK
    payload: dict[str, Any] = {}
    config_missing = not (workdir / opts.config).is_file()
    if config_missing and opts.restore and opts.config == DEFAULT_CONFIG:
        code, payload = _restore(opts, steps)
        restored = code == EXIT_OK
    if code == EXIT_OK:
        args = [
            "regress",
            "run",
            "--config",
            opts.config,
            "--output",
            _posix(output_rel),
            "--junit",
            _posix(junit_rel),
            "--json",
        ]
        code, payload, stderr = _gait(args, cwd=workdir, timeout_s=opts.timeout_s)
        steps.append({"command": "gait " + " ".join(args), "exit_code": code})
        if code not in (EXIT_OK, EXIT_REGRESS_FAILED) and not payload.get("error"):
            payload = {**payload, "error": stderr or f"gait regress run exited {code}"}
    status = _status(code)
    artifacts = [_posix(p) for p in (output_rel, junit_rel) if (workdir / p).is_file()]
    summary: dict[str, Any] = {
        "schema_id": SUMMARY_SCHEMA_ID,
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "producer_version": __version__,
        "status": status,
        "exit_code": code,
        "restored": restored,
        "config": opts.config,
        "artifact_root": _posix(root_rel),
        "summary_path": _posix(summary_rel),
        "summary_markdown_path": _posix(markdown_rel),
        "artifact_paths": [*artifacts, _posix(summary_rel), _posix(markdown_rel)],
        "steps": steps,
    }
    for key in ("fixture_set", "graders", "failed", "top_failure_reason", "next_command"):
        if key in payload:
            summary[key] = payload[key]
    if status in ("pass", "fail"):
        summary.setdefault("failed", 0)  # regress run omits a zero count
    if status == "fail":
        summary["failing_graders"] = _failing_graders(workdir / output_rel)
    if status == "error":
        summary["error"] = str(payload.get("error") or f"exit {code}")
        for key in ("error_code", "error_category", "hint"):
            if key in payload:
                summary[key] = payload[key]
    write_atomic(
        workdir / summary_rel, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
    )
    write_atomic(workdir / markdown_rel, render_markdown(summary).encode("utf-8"), mode=0o644)
    return ContractOutcome(summary, code, steps)


def render_markdown(summary: dict[str, Any]) -> str:
    """The job-summary page: one heading, a table, the failing graders, the artifacts."""
    status, code = summary.get("status", "error"), summary.get("exit_code", EXIT_INTERNAL)
    lines = [f"### gait regress: {status} (exit {code})", "", "| | |", "|---|---|"]
    if "fixture_set" in summary:
        lines.append(f"| fixture set | `{summary['fixture_set']}` |")
    if "graders" in summary:
        lines.append(f"| graders | {summary['graders']} ({summary.get('failed', 0)} failed) |")
    if summary.get("top_failure_reason"):
        lines.append(f"| top failure reason | `{summary['top_failure_reason']}` |")
    if summary.get("next_command"):
        lines.append(f"| next | `{summary['next_command']}` |")
    if summary.get("error"):
        one_line = str(summary["error"]).replace("\n", " ").replace("|", "\\|")
        lines.append(f"| error | {one_line} |")
    lines.append(f"| restored fixtures | {'yes' if summary.get('restored') else 'no'} |")
    failing = summary.get("failing_graders") or []
    if failing:
        lines += ["", "Failing graders:", ""]
        for grader in failing:
            reasons = ", ".join(grader.get("reason_codes") or []) or "failed"
            lines.append(f"- `{grader.get('name', '')}`: {reasons}")
    paths = summary.get("artifact_paths") or []
    if paths:
        lines += ["", "Artifacts: " + ", ".join(f"`{p}`" for p in paths)]
    return "\n".join(lines) + "\n"


def publish_github(
    outcome: ContractOutcome, opts: ContractOptions, environ: dict[str, str]
) -> None:
    """Write the step outputs and the job summary of a GitHub Actions step.

    Appends ``exit_code``, ``summary_path`` (the Markdown page) and
    ``artifact_path`` (the artifact root), as absolute paths, to the file named
    by ``GITHUB_OUTPUT``, and the Markdown page to ``GITHUB_STEP_SUMMARY``; an
    unset variable is skipped (the contract itself does not depend on them).
    """
    root = (opts.workdir / opts.artifact_root).resolve()
    markdown = root / "summary.md"
    output_file = environ.get("GITHUB_OUTPUT", "")
    if output_file:
        with open(output_file, "a", encoding="utf-8") as fh:
            fh.write(f"exit_code={outcome.exit_code}\n")
            fh.write(f"summary_path={markdown}\n")
            fh.write(f"artifact_path={root}\n")
    summary_file = environ.get("GITHUB_STEP_SUMMARY", "")
    if summary_file and markdown.is_file():
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(markdown.read_text(encoding="utf-8"))
