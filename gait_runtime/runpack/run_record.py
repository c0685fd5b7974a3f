"""The run record input document of ``gait run record`` (``spec/runpack.md`` §11).

Owns: turning a decoded ``run_record.json`` plus the command's options
(``--run-id``, ``--capture-mode``, ``--context-evidence-mode``,
``--unsafe-context-raw``, a signing key) into a :class:`Runpack` and the
warnings the command prints, and the output file name rule. Does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import ArtifactInputError
from .record import Runpack, build_runpack, normalize_capture_mode

if TYPE_CHECKING:
    from ..artifacts.signing import SigningKey

__all__ = [
    "RAW_WARNING",
    "REFERENCE_WARNING",
    "RecordOutcome",
    "bundle_text",
    "record_from_input",
    "runpack_file_name",
]

RAW_WARNING: Final = (
    "raw capture retains raw intent arguments and raw result payloads; "
    "handle runpack as sensitive evidence"
)
REFERENCE_WARNING: Final = (
    "reference capture stripped raw intent arguments and raw result payloads after digesting"
)
_SAFE_RUN_ID: Final = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class RecordOutcome:
    """A recorded runpack and the warnings to show with it."""

    runpack: Runpack
    capture_mode: str
    warnings: list[str]


def runpack_file_name(run_id: str) -> str:
    """``runpack_<run_id>.zip``, refusing run ids that would escape the output directory."""
    if not _SAFE_RUN_ID.match(run_id) or run_id in (".", "..") or ".." in run_id:
        raise ArtifactInputError(
            f"run_id {run_id!r} cannot name a runpack file (use letters, digits, _ - .)",
            code="run_id_invalid",
        )
    return f"runpack_{run_id}.zip"


def _list(doc: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArtifactInputError(f"{source}: {key} must be an array", code="record_invalid")
    return [dict(v) if isinstance(v, dict) else v for v in value]


def _override_run_id(records: list[dict[str, Any]], run_id: str) -> None:
    for record in records:
        if isinstance(record, dict):
            record["run_id"] = run_id


def record_from_input(
    doc: object,
    *,
    source: str,
    run_id: str = "",
    capture_mode: str = "",
    evidence_mode: str = "best_effort",
    unsafe_context_raw: bool = False,
    signing_key: SigningKey | None = None,
    producer_version: str | None = None,
) -> RecordOutcome:
    """Record the run described by a run record document.

    Capture mode precedence: ``capture_mode`` argument, then the document's
    ``capture_mode``, then ``reference``.

    Raises:
        ArtifactInputError: the document is malformed, a receipt is ``raw``
            without ``unsafe_context_raw``, or recording fails.
    """
    if not isinstance(doc, dict):
        raise ArtifactInputError(
            f"{source}: run record must be a JSON object", code="record_invalid"
        )
    run = doc.get("run")
    if not isinstance(run, dict):
        raise ArtifactInputError(f"{source}: run must be a JSON object", code="record_invalid")
    run = dict(run)
    intents, results = _list(doc, "intents", source), _list(doc, "results", source)
    refs_in = doc.get("refs")
    if refs_in is not None and not isinstance(refs_in, dict):
        raise ArtifactInputError(f"{source}: refs must be a JSON object", code="record_invalid")
    refs = dict(refs_in or {})
    doc_mode = doc.get("capture_mode")
    if doc_mode is not None and not isinstance(doc_mode, str):
        raise ArtifactInputError(f"{source}: capture_mode must be a string", code="record_invalid")
    mode = normalize_capture_mode(capture_mode or doc_mode or "")
    if run_id:
        run["run_id"] = run_id
        refs["run_id"] = run_id
        _override_run_id(intents, run_id)
        _override_run_id(results, run_id)
    for receipt in refs.get("receipts") or []:
        redaction = receipt.get("redaction_mode") if isinstance(receipt, dict) else None
        if (
            isinstance(redaction, str)
            and redaction.strip().lower() == "raw"
            and not unsafe_context_raw
        ):
            raise ArtifactInputError(
                f"{source}: receipt {receipt.get('ref_id', '')!r} has redaction_mode raw; "
                "pass --unsafe-context-raw to record raw context",
                code="raw_context_refused",
            )
    refs["context_evidence_mode"] = evidence_mode.strip().lower() or "best_effort"
    if refs["context_evidence_mode"] == "required" and not refs.get("context_set_digest"):
        raise ArtifactInputError(
            f"{source}: context_evidence_mode=required needs refs.context_set_digest",
            code="refs_invalid",
        )
    normalization = doc.get("normalization")
    if normalization is not None and not isinstance(normalization, dict):
        raise ArtifactInputError(
            f"{source}: normalization must be a JSON object", code="record_invalid"
        )
    runpack = build_runpack(
        run,
        intents,
        results,
        refs,
        capture_mode=mode,
        normalization=normalization,
        signing_key=signing_key,
        producer_version=producer_version,
    )
    warnings: list[str] = []
    if mode == "raw":
        warnings.append(RAW_WARNING)
    elif _has_payloads(intents, results, normalization):
        warnings.append(REFERENCE_WARNING)
    runpack_file_name(runpack.run_id)
    return RecordOutcome(runpack, mode, warnings)


def _has_payloads(
    intents: list[dict[str, Any]], results: list[dict[str, Any]], normalization: object
) -> bool:
    return (
        any(isinstance(i, dict) and i.get("args") for i in intents)
        or any(isinstance(r, dict) and r.get("result") for r in results)
        or bool(normalization)
    )


def bundle_text(path: Path) -> str:
    """The ``bundle`` value: relative paths not starting with ``.`` get ``./``."""
    text = str(path)
    if not path.is_absolute() and not text.startswith("."):
        return "./" + text
    return text
