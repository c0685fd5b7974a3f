"""``gait trace export`` and the trace-log half of ``gait trace verify``.

Owns: :func:`run_trace_export` (the server trace log → Go-compatible
``trace_<id>.json`` files, from the log's persisted export cursor, the same step
the server's background exporter runs) and :func:`run_trace_log_verify` (every
complete line's signature checked; a torn tail is reported, not verified: it
was never acknowledged). Does not own: the log format
(:mod:`gait_runtime.artifacts.tracelog`) or signatures (:mod:`gait_runtime.gate.trace`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from ..artifacts.signing import VerifyKey
from ..artifacts.tracelog import (
    LOG_DIR_NAME,
    decode_line,
    export_step,
    read_lines,
    segment_paths,
)
from ..errors import ArtifactInputError, IOFailure, VerificationError
from ..gate.trace import verify_trace

__all__ = ["default_log_dir", "is_trace_log", "run_trace_export", "run_trace_log_verify"]

_MAX_REPORTED: Final = 20
"""Most failing lines named in a verify error (the count is always complete)."""


def is_trace_log(path: Path) -> bool:
    """Whether ``path`` names a trace log (its directory, or one ``tracelog-*.jsonl`` segment)."""
    if path.is_dir():
        return True
    return path.name.startswith("tracelog-") and path.name.endswith(".jsonl")


def _segments(path: Path) -> list[Path]:
    if not path.exists():
        raise ArtifactInputError(f"trace log not found: {path}", code="trace_log_missing")
    segments = segment_paths(path) if path.is_dir() else [path]
    if not segments:
        raise ArtifactInputError(f"no trace-log segments in {path}", code="trace_log_empty")
    return segments


def run_trace_export(log_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Export every complete line after the cursor of ``log_dir`` into ``out_dir``.

    Raises:
        ArtifactInputError: no log at ``log_dir`` (exit 6).
        IOFailure: a file could not be written or a line is damaged (exit 1); the
            cursor stays before it, so a rerun resumes there.
    """
    _segments(log_dir)
    exported = existing = 0
    while True:
        step = export_step(log_dir, out_dir)
        exported += step.exported
        existing += step.existing
        if step.error:
            raise IOFailure(
                step.error,
                code="trace_export_failed",
                details={"exported": exported, "already_present": existing},
            )
        if not step.more:
            break
    return {
        "ok": True,
        "log": str(log_dir),
        "trace_dir": str(out_dir),
        "exported": exported,
        "already_present": existing,
    }


def run_trace_log_verify(path: Path, key: VerifyKey) -> dict[str, Any]:
    """Verify the signature of every complete line of a trace log (a directory or a segment).

    Raises:
        ArtifactInputError: no log there (exit 6).
        VerificationError: a line is damaged or its signature fails (exit 2).
    """
    segments = _segments(path)
    lines = 0
    torn = 0
    failed: list[str] = []
    for segment in segments:
        clean = 0
        for end, raw in read_lines(segment):
            clean = end
            lines += 1
            where = f"{segment.name}:{lines}"
            try:
                trace = json.loads(decode_line(raw).data)
            except ValueError as exc:
                failed.append(f"{where}: {exc}")
                continue
            outcome = verify_trace(trace, key)
            if not outcome.ok:
                failed.append(f"{where}: trace {outcome.trace_id}: {outcome.error}")
        torn += segment.stat().st_size - clean
    base: dict[str, Any] = {"path": str(path), "segments": len(segments), "lines": lines}
    if torn:
        base["torn_tail_bytes"] = torn
    if failed:
        raise VerificationError(
            f"{len(failed)} of {lines} trace-log lines failed verification: {failed[0]}",
            code="trace_log_signature_invalid",
            details={**base, "failed": failed[:_MAX_REPORTED], "failed_count": len(failed)},
        )
    return {"ok": True, **base, "signature_status": "verified", "key_id": key.key_id}


def default_log_dir(trace_dir: Path) -> Path:
    """The trace log of a server whose ``--trace-dir`` is ``trace_dir``."""
    return trace_dir / LOG_DIR_NAME
