"""Retention: the server's max-age / max-count janitor and ``gait guard retain``.

Owns: the per-class sweep of ``spec/service.md`` §9 / ``spec/sessions.md`` §11.2
(traces, runpacks, sessions; newest first, keep ``max_count``, drop anything
older than ``max_age``) with its JSON report, and the file-age prune of
``spec/sessions.md`` §11.1 (``gait guard retain``: recursive, trace and pack
files, TTLs, ``gait.guard.retention_report``). Synchronous file-system code;
the supervisor runs it in a worker thread.

Divergences from the Go implementation (documented in ``docs/service.md``):
the server sweeps on a timer rather than after every request, and the session
class never deletes files of sessions the supervisor has open or files touched
within the session-lock stale window (Go can delete a live journal). The
``trace_log`` class (Python only) applies the trace caps to the server trace
log's segments in ``<trace-dir>/log/``; the caller protects the tail segment and
every segment the exporter has not finished, so retention never removes a trace
that has no file yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ...artifacts.jcs import canonicalize
from ...artifacts.timefmt import format_ns
from .config import RetentionRule

__all__ = [
    "LIVE_SESSION_WINDOW_S",
    "ClassSweep",
    "GuardEntry",
    "GuardReport",
    "guard_retain",
    "matches_class",
    "sweep_class",
    "sweep_report",
]

LIVE_SESSION_WINDOW_S: Final = 300.0
"""Session files modified this recently are never removed (the session-lock stale window)."""

_SESSION_SUFFIXES: Final = (".json", ".jsonl", ".state")


def matches_class(kind: str, name: str) -> bool:
    """Whether a file name belongs to a retention class (case-insensitive)."""
    lowered = name.lower()
    if kind == "trace":
        return lowered.endswith(".json") and "trace" in lowered
    if kind == "runpack":
        return lowered.endswith(".zip") and (lowered.startswith("runpack_") or "_cp_" in lowered)
    if kind == "session":
        return lowered.endswith(_SESSION_SUFFIXES)
    if kind == "trace_log":
        return lowered.startswith("tracelog-") and (
            lowered.endswith(".jsonl") or ".jsonl.torn-" in lowered
        )
    raise ValueError(f"unknown retention class: {kind}")


@dataclass(slots=True)
class ClassSweep:
    """What one class sweep found and did.

    Attributes:
        kind: ``trace``, ``runpack`` or ``session``.
        directory: the swept directory.
        scanned: matching files seen.
        removed_age: files removed for age.
        removed_count: files removed for being beyond ``max_count``.
        protected: files spared because they belong to a live session.
        removed: paths removed (or that would be, in a dry run).
        errors: failures (the sweep continues past them).
    """

    kind: str
    directory: str
    scanned: int = 0
    removed_age: int = 0
    removed_count: int = 0
    protected: int = 0
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def warning(self) -> str | None:
        """The Go response warning for this sweep, or None when nothing happened."""
        if self.errors:
            return f"retention_{self.kind}_error={self.errors[0]}"
        if self.removed_age or self.removed_count:
            return (
                f"retention_{self.kind}_removed_age={self.removed_age} "
                f"removed_count={self.removed_count}"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        """JSON form used in the sweep report."""
        return {
            "class": self.kind,
            "directory": self.directory,
            "errors": self.errors,
            "protected": self.protected,
            "removed": self.removed,
            "removed_age": self.removed_age,
            "removed_count": self.removed_count,
            "scanned": self.scanned,
        }


def sweep_class(
    kind: str,
    directory: Path,
    rule: RetentionRule,
    *,
    now: float | None = None,
    dry_run: bool = False,
    protected: Callable[[Path], bool] | None = None,
) -> ClassSweep:
    """Apply one class's caps to the files directly inside ``directory``.

    Args:
        kind: retention class.
        directory: the class directory (subdirectories are ignored).
        rule: max-age / max-count caps; a disabled rule sweeps nothing.
        now: wall-clock seconds (injected for tests).
        dry_run: report without deleting.
        protected: returns True for files that must never be removed.
    """
    report = ClassSweep(kind, str(directory))
    if not rule.enabled:
        return report
    moment = time.time() if now is None else now
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return report
    except OSError as exc:
        report.errors.append(f"list {directory}: {exc.strerror or exc}")
        return report
    files: list[tuple[float, str]] = []
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False) or not matches_class(kind, entry.name):
                continue
            files.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
        except OSError:
            continue
    report.scanned = len(files)
    files.sort(key=lambda item: (item[0], item[1]), reverse=True)
    for index, (mtime, path) in enumerate(files):
        too_old = rule.max_age_s > 0 and moment - mtime > rule.max_age_s
        beyond = rule.max_count > 0 and index >= rule.max_count
        if not (too_old or beyond):
            continue
        if (kind == "session" and moment - mtime < LIVE_SESSION_WINDOW_S) or (
            kind in ("session", "trace_log") and protected is not None and protected(Path(path))
        ):
            report.protected += 1
            continue
        if not dry_run:
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                report.errors.append(f"remove {path}: {exc.strerror or exc}")
                continue
        report.removed.append(path)
        if too_old:
            report.removed_age += 1
        else:
            report.removed_count += 1
    return report


def sweep_report(
    sweeps: Iterable[ClassSweep], *, dry_run: bool, now_ns: int, producer_version: str
) -> dict[str, Any]:
    """The janitor's JSON report (``gait.supervisor.retention_report``)."""
    return {
        "schema_id": "gait.supervisor.retention_report",
        "schema_version": "1.0.0",
        "created_at": format_ns(now_ns),
        "producer_version": producer_version,
        "dry_run": dry_run,
        "classes": [s.to_json() for s in sweeps],
    }


# --------------------------------------------------------------------------- guard retain


@dataclass(frozen=True, slots=True)
class GuardEntry:
    """One file considered by ``gait guard retain``."""

    path: str
    kind: str
    modified_ns: int
    age_seconds: int
    action: str

    def to_json(self) -> dict[str, Any]:
        """Report entry (keys sorted as the Go JCS report has them)."""
        return {
            "action": self.action,
            "age_seconds": self.age_seconds,
            "kind": self.kind,
            "modified_at": format_ns(self.modified_ns),
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class GuardReport:
    """Result of ``gait guard retain`` (``gait.guard.retention_report``)."""

    root_path: str
    scanned_files: int
    deleted: tuple[GuardEntry, ...]
    kept: tuple[GuardEntry, ...]
    dry_run: bool
    trace_ttl_s: float
    pack_ttl_s: float
    created_ns: int
    producer_version: str

    def report_json(self) -> dict[str, Any]:
        """The report document."""
        return {
            "created_at": format_ns(self.created_ns),
            "deleted_files": [e.to_json() for e in self.deleted],
            "dry_run": self.dry_run,
            "kept_files": [e.to_json() for e in self.kept],
            "pack_ttl_seconds": int(self.pack_ttl_s),
            "producer_version": self.producer_version,
            "root_path": self.root_path,
            "scanned_files": self.scanned_files,
            "schema_id": "gait.guard.retention_report",
            "schema_version": "1.0.0",
            "trace_ttl_seconds": int(self.trace_ttl_s),
        }

    def report_bytes(self) -> bytes:
        """JCS bytes of the report (no trailing newline), as Go writes it."""
        return canonicalize(self.report_json())


def _guard_kind(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("trace_") and lowered.endswith(".json"):
        return "trace"
    for prefix in ("evidence_pack_", "incident_pack_"):
        if lowered.startswith(prefix) and lowered.endswith((".zip", ".gaitenc")):
            return "pack"
    return ""


def _clean(root: str) -> str:
    cleaned = os.path.normpath(root) if root else "."
    return cleaned


def guard_retain(
    root: str,
    *,
    trace_ttl_s: float,
    pack_ttl_s: float,
    dry_run: bool,
    producer_version: str,
    now_ns: int | None = None,
) -> GuardReport:
    """Walk ``root`` and delete trace / pack files older than their TTL (0 = keep forever).

    Args:
        root: directory to walk recursively.
        trace_ttl_s: TTL of ``trace_*.json`` files in seconds.
        pack_ttl_s: TTL of ``evidence_pack_*`` / ``incident_pack_*`` files in seconds.
        dry_run: report without deleting.
        producer_version: written into the report.
        now_ns: wall clock in Unix nanoseconds (injected for tests).
    """
    moment = time.time_ns() if now_ns is None else now_ns
    root_path = _clean(root)
    candidates: list[tuple[str, str, int]] = []
    for dirpath, dirnames, filenames in os.walk(root_path):
        dirnames.sort()
        for name in filenames:
            kind = _guard_kind(name)
            if not kind:
                continue
            path = os.path.join(dirpath, name)
            try:
                mtime_ns = os.stat(path, follow_symlinks=False).st_mtime_ns
            except OSError:
                continue
            candidates.append((path, kind, mtime_ns))
    candidates.sort()
    deleted: list[GuardEntry] = []
    kept: list[GuardEntry] = []
    for path, kind, mtime_ns in candidates:
        age_ns = max(0, moment - mtime_ns)
        ttl = trace_ttl_s if kind == "trace" else pack_ttl_s
        expire = ttl > 0 and age_ns > ttl * 1e9
        entry = GuardEntry(
            path, kind, mtime_ns, age_ns // 1_000_000_000, "deleted" if expire else "kept"
        )
        if expire:
            if not dry_run:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
            deleted.append(entry)
        else:
            kept.append(entry)
    return GuardReport(
        root_path=root_path,
        scanned_files=len(candidates),
        deleted=tuple(deleted),
        kept=tuple(kept),
        dry_run=dry_run,
        trace_ttl_s=trace_ttl_s,
        pack_ttl_s=pack_ttl_s,
        created_ns=moment,
        producer_version=producer_version,
    )
