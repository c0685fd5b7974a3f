"""Scout inputs: expanding run sources, reading trace and regress evidence, skips.

Owns: :class:`Skip` (one input that was not used, with a stable code and a
reason), :func:`expand_runs` (``run_id|path|dir`` arguments → sorted, de-duplicated
runpack paths plus skips), and the evidence readers for gate traces
(:func:`read_trace_evidence`) and regress results (:func:`read_regress_evidence`)
that turn files into reason codes per run id. A bad file never raises: it
becomes a :class:`Skip`. Does not own: reading runpacks (``runpack.read_runpack``).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from ..errors import GaitError
from ..runpack import resolve_runpack_path
from ._vectors import norm_id, unique_sorted

__all__ = [
    "Evidence",
    "Skip",
    "expand_files",
    "expand_runs",
    "read_regress_evidence",
    "read_trace_evidence",
    "split_csv",
]

_RUN_ID: Final = re.compile(r"run_[A-Za-z0-9_-]+")
_MAX_EVIDENCE_BYTES: Final = 64 << 20
"""A trace or regress result larger than this is skipped, never read into memory."""


@dataclass(frozen=True, slots=True, order=True)
class Skip:
    """An input scout did not use.

    Attributes:
        path: the file (or argument) as given.
        kind: ``runpack``, ``trace``, ``regress`` or ``baseline``.
        code: stable reason code (``not_a_runpack``, ``runpack_hash_mismatch``, ...).
        reason: one-line human reason.
    """

    path: str
    kind: str
    code: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """``{path, kind, code, reason}``."""
        return {"path": self.path, "kind": self.kind, "code": self.code, "reason": self.reason}


@dataclass(slots=True)
class Evidence:
    """Reason codes gathered from traces and regress results, per run id."""

    trace_reasons: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    trace_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    regress_reasons: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    skipped: list[Skip] = field(default_factory=list)
    files_read: int = 0


def split_csv(values: Iterable[str]) -> list[str]:
    """Every comma-separated item of every value, trimmed, empties dropped."""
    return [item.strip() for v in values for item in v.split(",") if item.strip()]


def _walk(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [Path(root) / name for name in sorted(files)]
    return found


def expand_files(args: Sequence[str], *, kind: str, suffix: str) -> tuple[list[str], list[Skip]]:
    """Files named by ``args`` (directories walked recursively for ``suffix`` files).

    Inside a directory, files without ``suffix`` are skipped with code
    ``not_a_<kind>``; a missing argument is skipped with ``<kind>_not_found``.
    """
    paths: set[str] = set()
    skipped: list[Skip] = []
    for arg in split_csv(args):
        path = Path(arg)
        if path.is_dir():
            for item in _walk(path):
                text = os.path.normpath(str(item))
                if item.name.endswith(suffix):
                    paths.add(text)
                else:
                    skipped.append(
                        Skip(text, kind, f"not_a_{kind}", f"not a {kind} file (*{suffix})")
                    )
        elif path.is_file():
            paths.add(os.path.normpath(arg))
        else:
            skipped.append(Skip(arg, kind, f"{kind}_not_found", f"{kind} not found: {arg}"))
    return sorted(paths), sorted(skipped)


def expand_runs(args: Sequence[str]) -> tuple[list[str], list[Skip]]:
    """Runpack paths for ``run_id|path|dir`` arguments, de-duplicated and sorted."""
    direct: list[str] = []
    dirs: list[str] = []
    skipped: list[Skip] = []
    for arg in split_csv(args):
        if Path(arg).is_dir():
            dirs.append(arg)
            continue
        try:
            direct.append(str(resolve_runpack_path(arg)))
        except GaitError as exc:
            skipped.append(Skip(arg, "runpack", exc.error_code, exc.message))
    walked, walk_skips = expand_files(dirs, kind="runpack", suffix=".zip")
    return sorted({*direct, *walked}), sorted([*skipped, *walk_skips])


def _load_object(path: str, kind: str, evidence: Evidence) -> dict[str, Any] | None:
    try:
        size = os.stat(path).st_size
        if size > _MAX_EVIDENCE_BYTES:
            evidence.skipped.append(Skip(path, kind, f"{kind}_too_large", f"{size} bytes"))
            return None
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        evidence.skipped.append(Skip(path, kind, f"{kind}_unreadable", str(exc.strerror or exc)))
        return None
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        evidence.skipped.append(Skip(path, kind, f"{kind}_json_invalid", f"invalid JSON: {exc}"))
        return None
    if not isinstance(doc, dict):
        evidence.skipped.append(Skip(path, kind, f"{kind}_json_invalid", "not a JSON object"))
        return None
    return doc


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def read_trace_evidence(paths: Sequence[str], evidence: Evidence) -> None:
    """Fold gate trace files into ``evidence`` (reasons and counts per ``run_…`` id).

    A trace is attributed to the first ``run_[A-Za-z0-9_-]+`` in its
    ``correlation_id``, else its ``trace_id``; traces with neither are read and ignored.
    """
    for path in paths:
        doc = _load_object(path, "trace", evidence)
        if doc is None:
            continue
        if _str(doc, "schema_id") not in ("", "gait.gate.trace"):
            evidence.skipped.append(
                Skip(path, "trace", "trace_schema_mismatch", f"schema_id {doc['schema_id']!r}")
            )
            continue
        evidence.files_read += 1
        match = _RUN_ID.search(_str(doc, "correlation_id")) or _RUN_ID.search(_str(doc, "trace_id"))
        if match is None:
            continue
        run_id = match.group(0)
        reasons = evidence.trace_reasons[run_id]
        verdict = _str(doc, "verdict").strip()
        if verdict and verdict.lower() != "allow":
            reasons.add("trace_verdict_" + norm_id(verdict))
        violations = doc.get("violations")
        for item in violations if isinstance(violations, list) else []:
            if isinstance(item, str) and item.strip():
                reasons.add("violation_" + norm_id(item))
        evidence.trace_counts[run_id] += 1


def read_regress_evidence(paths: Sequence[str], evidence: Evidence) -> None:
    """Fold ``gait.regress.result`` files into ``evidence`` (failing graders' reasons)."""
    for path in paths:
        doc = _load_object(path, "regress", evidence)
        if doc is None:
            continue
        if _str(doc, "schema_id") != "gait.regress.result":
            evidence.skipped.append(
                Skip(path, "regress", "regress_schema_mismatch", "not a gait.regress.result")
            )
            continue
        evidence.files_read += 1
        graders = doc.get("graders")
        for grader in graders if isinstance(graders, list) else []:
            if not isinstance(grader, dict) or _str(grader, "status").lower() == "pass":
                continue
            details = grader.get("details")
            run_id = _str(details, "run_id").strip() if isinstance(details, dict) else ""
            if not run_id:
                run_id = _str(grader, "name").split("/", 1)[0].strip()
            if not run_id:
                continue
            codes = grader.get("reason_codes")
            names = [
                norm_id(c) for c in (codes if isinstance(codes, list) else []) if isinstance(c, str)
            ]
            evidence.regress_reasons[run_id].update(unique_sorted(names) or ["regress_failure"])
