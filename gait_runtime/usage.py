"""Local usage telemetry of the CLI: the adoption log and the telemetry health counters.

Owns: :func:`normalize_command` (argv → ``regress init``, ``demo``, ...),
:func:`adoption_event` (one ``gait.scout.adoption_event``), :func:`record_invocation`
(called by the CLI after every command when ``GAIT_ADOPTION_LOG`` is set) and
:class:`TelemetryHealth` (attempt/success/failure counters per stream, kept in a
small JSON snapshot so ``gait doctor`` can report failed writes). Every line goes
through :func:`append_line_locked` (one ``write`` per line under the lock).

A telemetry write never changes the command's exit code: a failure is counted,
and a one-line warning goes to stderr unless ``GAIT_TELEMETRY_WARN=off``.
Nothing here leaves the machine. Deliberately light (``artifacts`` and
``errors`` only): the CLI imports it after every command while the log is on.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

from .artifacts.fsutil import write_atomic
from .artifacts.gojson import go_json_indent
from .artifacts.jsonl import append_line_locked, file_lock
from .artifacts.timefmt import format_ns
from .errors import GaitError

__all__ = [
    "ADOPTION_ENV",
    "HEALTH_ENV",
    "TelemetryHealth",
    "adoption_event",
    "default_health_path",
    "go_environment",
    "normalize_command",
    "read_health",
    "record_invocation",
]

ADOPTION_ENV: Final = "GAIT_ADOPTION_LOG"
WORKFLOW_ENV: Final = "GAIT_ADOPTION_WORKFLOW"
HEALTH_ENV: Final = "GAIT_TELEMETRY_HEALTH_PATH"
WARN_ENV: Final = "GAIT_TELEMETRY_WARN"
ADOPTION_SCHEMA_ID: Final = "gait.scout.adoption_event"
HEALTH_SCHEMA_ID: Final = "gait.scout.telemetry_health"

_SUBCOMMAND_GROUPS: Final = frozenset(
    [
        "approve-script",
        "capture",
        "check",
        "contract",
        "enforce",
        "gate",
        "init",
        "keys",
        "list-scripts",
        "policy",
        "regress",
        "run",
        "job",
        "pack",
        "report",
        "scout",
        "guard",
        "incident",
        "registry",
        "gateway",
        "mcp",
        "voice",
        "doctor",
        "delegate",
        "test",
        "ui",
    ]
)
_MILESTONES: Final = {"demo": "A1", "verify": "A2", "regress init": "A3", "regress run": "A4"}
_GO_ARCH: Final = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def normalize_command(argv: Sequence[str]) -> str:
    """The command name of an invocation, as the adoption log records it."""
    if not argv:
        return "version"
    first = argv[0].strip()
    if first in ("--help", "-h", "help"):
        return "help"
    if first in ("--version", "-v", "-V", "version"):
        return "version"
    if first == "--explain":
        return "explain"
    if first in _SUBCOMMAND_GROUPS and len(argv) > 1 and not argv[1].startswith("-"):
        return f"{first} {argv[1].strip()}"
    return first


def go_environment() -> dict[str, str]:
    """``{os, arch}`` in Go naming (``linux``/``darwin``/``windows``, ``amd64``/``arm64``)."""
    machine = platform.machine().lower()
    return {"os": platform.system().lower(), "arch": _GO_ARCH.get(machine, machine)}


def adoption_event(
    *,
    command: str,
    exit_code: int,
    elapsed_ms: int,
    finished_ns: int,
    producer_version: str,
    workflow_id: str = "",
) -> dict[str, Any]:
    """One ``gait.scout.adoption_event`` (fields in the Go order)."""
    event: dict[str, Any] = {
        "schema_id": ADOPTION_SCHEMA_ID,
        "schema_version": "1.0.0",
        "created_at": format_ns(finished_ns),
        "producer_version": producer_version,
        "command": command,
    }
    if workflow_id:
        event["workflow_id"] = workflow_id
    event["success"] = exit_code == 0
    event["exit_code"] = max(0, min(exit_code, 255))
    event["elapsed_ms"] = max(0, elapsed_ms)
    milestone = _MILESTONES.get(command)
    if exit_code == 0 and milestone:
        event["milestones"] = [milestone]
    event["environment"] = go_environment()
    return event


def default_health_path(environ: Mapping[str, str]) -> Path:
    """``$GAIT_TELEMETRY_HEALTH_PATH``, else ``~/.gait/telemetry_health.json``."""
    configured = environ.get(HEALTH_ENV, "").strip()
    if configured:
        return Path(configured)
    home = environ.get("HOME", "").strip()
    return (Path(home) if home else Path.home()) / ".gait" / "telemetry_health.json"


def read_health(path: Path) -> dict[str, dict[str, int]] | None:
    """The stream counters of a health snapshot, or ``None`` when absent or unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    streams = doc.get("streams") if isinstance(doc, dict) else None
    if not isinstance(streams, dict):
        return None
    out: dict[str, dict[str, int]] = {}
    for name, counters in streams.items():
        if isinstance(counters, dict):
            out[str(name)] = {
                k: int(counters.get(k, 0)) if isinstance(counters.get(k, 0), int) else 0
                for k in ("attempts", "success", "failed")
            }
    return out


class TelemetryHealth:
    """Attempt / success / failure counters per telemetry stream.

    The snapshot at ``path`` accumulates across invocations (read, add, rewrite
    atomically under the file lock), so ``gait doctor`` sees failures of earlier
    commands. Updating the snapshot never raises.
    """

    def __init__(self, path: Path, *, producer_version: str) -> None:
        self.path = path
        self.producer_version = producer_version

    def record(self, stream: str, *, ok: bool, now_ns: int) -> bool:
        """Add one attempt to ``stream``; True when the snapshot was updated."""
        try:
            with file_lock(self.path):
                streams = read_health(self.path) or {}
                counters = streams.setdefault(stream, {"attempts": 0, "success": 0, "failed": 0})
                counters["attempts"] += 1
                counters["success" if ok else "failed"] += 1
                doc = {
                    "schema_id": HEALTH_SCHEMA_ID,
                    "schema_version": "1.0.0",
                    "created_at": format_ns(now_ns),
                    "producer_version": self.producer_version,
                    "streams": dict(sorted(streams.items())),
                }
                write_atomic(self.path, go_json_indent(doc) + b"\n", mode=0o600)
        except (GaitError, OSError):
            return False
        return True


def record_invocation(
    argv: Sequence[str],
    exit_code: int,
    elapsed_ms: int,
    *,
    producer_version: str,
    environ: Mapping[str, str] | None = None,
    stderr: IO[str] | None = None,
    now_ns: int | None = None,
) -> bool | None:
    """Append the adoption event of one CLI invocation when ``GAIT_ADOPTION_LOG`` is set.

    Returns:
        ``None`` when the log is off, True when the line was written, False when the
        write failed (counted in the health snapshot and warned about on stderr).
    """
    env = os.environ if environ is None else environ
    target = env.get(ADOPTION_ENV, "").strip()
    if not target:
        return None
    finished = time.time_ns() if now_ns is None else now_ns
    event = adoption_event(
        command=normalize_command(argv),
        exit_code=exit_code,
        elapsed_ms=elapsed_ms,
        finished_ns=finished,
        producer_version=producer_version,
        workflow_id=env.get(WORKFLOW_ENV, "").strip(),
    )
    line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    error = ""
    try:
        append_line_locked(target, line)
    except GaitError as exc:
        error = exc.message
    except OSError as exc:
        error = str(exc.strerror or exc)
    health = TelemetryHealth(default_health_path(env), producer_version=producer_version)
    counted = health.record("adoption", ok=not error, now_ns=finished)
    if env.get(WARN_ENV, "").strip().lower() != "off" and stderr is not None:
        if error:
            stderr.write(f"gait warning: telemetry stream=adoption write failed: {error}\n")
        if not counted:
            stderr.write(f"gait warning: telemetry health {health.path} could not be updated\n")
    return not error
