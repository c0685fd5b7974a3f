"""``gait run inspect``: a per-intent listing of a runpack, or of a session chain.

Owns: :func:`inspect_runpack` (``spec/runpack.md`` §12.1: entries in intent
order with their first result, raw verdict/reason codes/violations, unmatched
results, duplicate-result warnings), :func:`load_chain` (plain JSON reading of
a ``gait.runpack.session_chain`` file; the chain format itself belongs to the
sessions code) and :func:`inspect_chain`, plus the text renderings. Does no I/O
except :func:`load_chain`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from ..artifacts.timefmt import normalize_rfc3339
from ..errors import ArtifactInputError
from .store import RunpackContents, decode_json

__all__ = [
    "CHAIN_SCHEMA",
    "chain_text",
    "inspect_chain",
    "inspect_runpack",
    "inspect_text",
    "load_chain",
]

CHAIN_SCHEMA: Final = "gait.runpack.session_chain"


def _clean_list(value: object) -> list[str]:
    """Trimmed, de-duplicated, sorted strings; a single string becomes a one-item list."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return sorted({s.strip() for s in items if isinstance(s, str) and s.strip()})


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def _time(value: object) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        return normalize_rfc3339(value)
    except ArtifactInputError:
        return value


def inspect_runpack(contents: RunpackContents, path: str) -> dict[str, Any]:
    """The ``--json`` payload of ``gait run inspect`` for a runpack (§12.1)."""
    first: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for result in contents.results:
        intent_id = _text(result, "intent_id")
        if intent_id in first:
            warnings.append(f"multiple result records for intent_id={intent_id} (kept first)")
            continue
        first[intent_id] = result
    intent_ids = {_text(i, "intent_id") for i in contents.intents}
    entries: list[dict[str, Any]] = []
    for index, intent in enumerate(contents.intents, start=1):
        intent_id = _text(intent, "intent_id")
        entry: dict[str, Any] = {
            "index": index,
            "intent_id": intent_id,
            "tool_name": _text(intent, "tool_name"),
            "created_at": _time(intent.get("created_at")),
            "args_digest": _text(intent, "args_digest"),
        }
        matched = first.get(intent_id)
        if matched is not None:
            entry["status"] = _text(matched, "status")
            entry["result_digest"] = _text(matched, "result_digest")
            raw = matched.get("result")
            if isinstance(raw, dict):
                verdict = raw.get("verdict")
                if isinstance(verdict, str) and verdict.strip():
                    entry["verdict"] = verdict.strip()
                for key in ("reason_codes", "violations"):
                    if cleaned := _clean_list(raw.get(key)):
                        entry[key] = cleaned
        entries.append({k: v for k, v in entry.items() if v != ""})
    unmatched = sorted(
        (
            {
                "intent_id": _text(r, "intent_id"),
                "status": _text(r, "status"),
                "result_digest": _text(r, "result_digest"),
            }
            for r in contents.results
            if _text(r, "intent_id") not in intent_ids
        ),
        key=lambda r: (r["intent_id"], r["result_digest"]),
    )
    payload: dict[str, Any] = {
        "ok": True,
        "artifact_type": "runpack",
        "run_id": contents.run_id,
        "path": path,
        "capture_mode": contents.capture_mode,
        "intents_total": len(contents.intents),
        "results_total": len(contents.results),
        "entries": entries,
    }
    if unmatched:
        payload["unmatched_results"] = unmatched
    if warnings:
        payload["warnings"] = warnings
    return payload


def inspect_text(payload: dict[str, Any]) -> list[str]:
    """Text lines of a runpack inspection."""
    lines = [
        f"run inspect: run_id={payload['run_id']} intents={payload['intents_total']} "
        f"results={payload['results_total']} capture_mode={payload['capture_mode']}",
        f"path: {payload['path']}",
    ]
    for entry in payload["entries"]:
        line = (
            f"{entry['index']}. intent={entry['intent_id']} tool={entry['tool_name']} "
            f"status={entry.get('status') or 'missing_result'}"
        )
        if entry.get("verdict"):
            line += f" verdict={entry['verdict']}"
        lines.append(line)
    lines.extend(f"warning: {w}" for w in payload.get("warnings", []))
    return lines


def load_chain(path: Path) -> dict[str, Any] | None:
    """Read ``path`` as a session chain; ``None`` when it is not one (plain JSON reading)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        chain = decode_json(data, str(path))
    except ArtifactInputError:
        return None
    if not isinstance(chain, dict) or chain.get("schema_id") != CHAIN_SCHEMA:
        return None
    checkpoints = chain.get("checkpoints")
    if not isinstance(checkpoints, list) or not all(isinstance(c, dict) for c in checkpoints):
        return None
    return chain


def inspect_chain(chain: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``--json`` payload of ``gait run inspect`` for a session chain."""
    checkpoints: list[dict[str, Any]] = []
    for checkpoint in chain["checkpoints"]:
        item = {
            key: checkpoint.get(key)
            for key in (
                "checkpoint_index",
                "runpack_path",
                "sequence_start",
                "sequence_end",
                "checkpoint_digest",
            )
        }
        if prev := checkpoint.get("prev_checkpoint_digest"):
            item["prev_checkpoint_digest"] = prev
        checkpoints.append(item)
    return {
        "ok": True,
        "artifact_type": "session_chain",
        "path": path,
        "session_id": chain.get("session_id", ""),
        "run_id": chain.get("run_id", ""),
        "checkpoint_count": len(checkpoints),
        "checkpoints": checkpoints,
    }


def chain_text(payload: dict[str, Any]) -> list[str]:
    """Text lines of a session chain inspection."""
    lines = [
        f"run inspect: session_chain session_id={payload['session_id']} "
        f"run_id={payload['run_id']} checkpoints={payload['checkpoint_count']}",
        f"path: {payload['path']}",
    ]
    for c in payload["checkpoints"]:
        lines.append(
            f"{c['checkpoint_index']}. runpack={c['runpack_path']} "
            f"sequence={c['sequence_start']}..{c['sequence_end']} digest={c['checkpoint_digest']}"
        )
    return lines
