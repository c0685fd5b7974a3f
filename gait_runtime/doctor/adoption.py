"""``gait doctor adoption --from <log>``: activation milestones and timings from an adoption log.

Owns: :func:`adoption_report` (``gait.doctor.adoption_report``): event counts per
command, the seven milestones (A1 demo, A2 verify, A3 regress init, A4 regress
run, E1–E3), time from the first event to each A-milestone, median durations of
the demo and regress-run milestones, per-workflow figures and the blockers left
before activation is complete. Lines that are not valid adoption events are
skipped and counted (with their line numbers), never fatal. Reads the file as a
stream: lines longer than 1 MiB are skipped unread.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..artifacts.timefmt import ZERO_TIME_TEXT, Timestamp, format_ns, parse_rfc3339
from ..errors import ArtifactInputError

__all__ = ["AdoptionEvent", "adoption_report", "adoption_text", "read_adoption_log"]

EVENT_SCHEMA_ID: Final = "gait.scout.adoption_event"
REPORT_SCHEMA_ID: Final = "gait.doctor.adoption_report"
MAX_LINE: Final = 1 << 20
MILESTONES: Final = ("A1", "A2", "A3", "A4", "E1", "E2", "E3")
_EPOCH: Final = "1980-01-01T00:00:00Z"
_BLOCKERS: Final = {
    "A1": "missing A1: run `gait demo`",
    "A2": "missing A2: run `gait verify <run_id>`",
    "A3": "missing A3: run `gait regress init --from <run_id>`",
    "A4": "missing A4: run `gait regress run`",
}
_WORKFLOWS: Final = (
    "gait-capture-runpack",
    "gait-incident-to-regression",
    "gait-policy-test-rollout",
)
_COMMAND_WORKFLOW: Final = {
    "run record": "gait-capture-runpack",
    "verify": "gait-capture-runpack",
    "regress init": "gait-incident-to-regression",
    "regress run": "gait-incident-to-regression",
    "regress bootstrap": "gait-incident-to-regression",
    "policy test": "gait-policy-test-rollout",
    "policy simulate": "gait-policy-test-rollout",
    "gate eval": "gait-policy-test-rollout",
}
_SHOWN_INVALID: Final = 10


@dataclass(frozen=True, slots=True)
class AdoptionEvent:
    """One validated adoption event."""

    created: Timestamp
    command: str
    success: bool
    exit_code: int
    elapsed_ms: int
    milestones: tuple[str, ...]
    workflow_id: str


@dataclass(slots=True)
class AdoptionLog:
    """Valid events plus the skipped lines (line number, reason)."""

    events: list[AdoptionEvent] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)


def _event(doc: object) -> AdoptionEvent:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    schema_id = doc.get("schema_id") or EVENT_SCHEMA_ID
    version = doc.get("schema_version") or "1.0.0"
    if schema_id != EVENT_SCHEMA_ID or version != "1.0.0":
        raise ValueError(f"schema {schema_id}@{version} is not {EVENT_SCHEMA_ID}@1.0.0")
    created = doc.get("created_at")
    if not isinstance(created, str) or not created:
        raise ValueError("created_at is required")
    try:
        stamp = parse_rfc3339(created, field="created_at")
    except ArtifactInputError as exc:
        raise ValueError(exc.message) from exc
    command = doc.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ValueError("command is required")
    code = doc.get("exit_code")
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 255:
        raise ValueError("exit_code must be an integer 0-255")
    env = doc.get("environment")
    if not isinstance(env, dict) or not env.get("os") or not env.get("arch"):
        raise ValueError("environment.os and environment.arch are required")
    elapsed = doc.get("elapsed_ms", 0)
    elapsed = elapsed if isinstance(elapsed, int) and not isinstance(elapsed, bool) else 0
    marks = doc.get("milestones") or []
    marks = marks if isinstance(marks, list) else []
    workflow = doc.get("workflow_id")
    return AdoptionEvent(
        created=stamp,
        command=command.strip(),
        success=doc.get("success") is True,
        exit_code=code,
        elapsed_ms=max(0, elapsed),
        milestones=tuple(sorted({m.strip() for m in marks if isinstance(m, str) and m.strip()})),
        workflow_id=workflow.strip() if isinstance(workflow, str) else "",
    )


def _lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; ``None`` for a line longer than :data:`MAX_LINE`."""
    with open(path, "rb") as handle:
        number = 0
        while True:
            chunk = handle.readline(MAX_LINE + 1)
            if not chunk:
                return
            number += 1
            if len(chunk) > MAX_LINE and not chunk.endswith(b"\n"):
                while chunk and not chunk.endswith(b"\n"):
                    chunk = handle.readline(MAX_LINE + 1)
                yield number, None
                continue
            yield number, chunk


def read_adoption_log(path: Path) -> AdoptionLog:
    """Parse an adoption log; bad lines are recorded, not raised.

    Raises:
        ArtifactInputError: the file cannot be opened (``adoption_log_unreadable``).
    """
    log = AdoptionLog()
    try:
        for number, raw in _lines(path):
            if raw is None:
                log.invalid.append((number, f"line longer than {MAX_LINE} bytes"))
                continue
            if not raw.strip():
                continue
            try:
                log.events.append(_event(json.loads(raw)))
            except (ValueError, UnicodeDecodeError) as exc:
                log.invalid.append((number, str(exc).splitlines()[0][:200]))
    except OSError as exc:
        raise ArtifactInputError(
            f"read adoption log {path}: {exc.strerror or exc}", code="adoption_log_unreadable"
        ) from exc
    return log


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2


def _workflow(event: AdoptionEvent) -> str:
    return event.workflow_id or _COMMAND_WORKFLOW.get(event.command, "")


def adoption_report(path: Path, source: str, *, producer_version: str) -> dict[str, Any]:
    """The ``gait.doctor.adoption_report`` of the log at ``path``.

    Raises:
        ArtifactInputError: the log cannot be read.
    """
    log = read_adoption_log(path)
    events = log.events
    first = min((e.created.unix_ns for e in events), default=None)
    last = max((e.created.unix_ns for e in events), default=None)
    per_command: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events:
        per_command[e.command]["total"] += 1
        per_command[e.command]["success" if e.success else "failure"] += 1
    achieved = {m for e in events for m in e.milestones}
    timing: dict[str, int] = {}
    for name in ("A1", "A2", "A3", "A4"):
        hits = [e.created.unix_ns for e in events if e.success and name in e.milestones]
        if hits and first is not None:
            timing[name] = max(0, (min(hits) - first) // 1_000_000)
    medians: dict[str, int] = {}
    for name, key in (("A1", "m1_demo_elapsed_ms"), ("A4", "m2_regress_run_elapsed_ms")):
        samples = [e.elapsed_ms for e in events if e.success and name in e.milestones]
        if samples:
            medians[key] = _median(samples)
    workflows = []
    for name in _WORKFLOWS:
        members = [e for e in events if _workflow(e) == name]
        if not members:
            continue
        ok = sum(e.success for e in members)
        entry: dict[str, Any] = {
            "workflow": name,
            "total": len(members),
            "success": ok,
            "failure": len(members) - ok,
            "success_rate": ok / len(members),
            "median_runtime_ms": _median([e.elapsed_ms for e in members]),
        }
        failures = Counter(e.exit_code for e in members if not e.success)
        if failures:
            entry["most_common_failure_code"] = min(failures, key=lambda c: (-failures[c], c))
        workflows.append(entry)
    report: dict[str, Any] = {
        "schema_id": REPORT_SCHEMA_ID,
        "schema_version": "1.0.0",
        "created_at": format_ns(last) if last is not None else _EPOCH,
        "producer_version": producer_version,
        "source": source,
        "total_events": len(events),
        "success_events": sum(e.success for e in events),
        "failed_events": sum(not e.success for e in events),
        "first_event_at": format_ns(first) if first is not None else ZERO_TIME_TEXT,
        "last_event_at": format_ns(last) if last is not None else ZERO_TIME_TEXT,
        "commands": [
            {"command": c, "total": n["total"], "success": n["success"], "failure": n["failure"]}
            for c, n in sorted(per_command.items())
        ],
        "milestones": [{"name": m, "achieved": m in achieved} for m in MILESTONES],
    }
    if timing:
        report["activation_timing_ms"] = timing
    if medians:
        report["activation_medians_ms"] = medians
    if workflows:
        report["skill_workflows"] = workflows
    report["activation_complete"] = all(m in achieved for m in ("A1", "A2", "A3", "A4"))
    blockers = sorted(_BLOCKERS[m] for m in _BLOCKERS if m not in achieved)
    if blockers:
        report["blockers"] = blockers
    if log.invalid:
        report["invalid_lines"] = len(log.invalid)
        report["invalid_line_examples"] = [
            {"line": n, "reason": r} for n, r in log.invalid[:_SHOWN_INVALID]
        ]
    return report


def adoption_text(report: dict[str, Any]) -> list[str]:
    """Text mode of ``gait doctor adoption``."""
    lines = [
        f"doctor adoption: source={report['source']} total_events={report['total_events']} "
        f"activation_complete={str(report['activation_complete']).lower()}"
    ]
    marks = " ".join(
        f"{m['name']}={'yes' if m['achieved'] else 'no'}" for m in report["milestones"][:4]
    )
    lines.append(f"milestones: {marks}")
    if timing := report.get("activation_timing_ms"):
        lines.append("time_to_milestone_ms: " + " ".join(f"{k}={v}" for k, v in timing.items()))
    if report.get("blockers"):
        lines.append("blockers: " + "; ".join(report["blockers"]))
    if report.get("invalid_lines"):
        first = report["invalid_line_examples"][0]
        lines.append(
            f"skipped: {report['invalid_lines']} invalid line(s) "
            f"(first: line {first['line']}: {first['reason']})"
        )
    return lines
