"""``gait run diff``: compare two runpacks, or two session chains.

Owns: the runpack summary of ``spec/runpack.md`` §12.3 (manifest, files,
intents, results and refs changes, the ``full``/``metadata`` privacy modes and
the context drift classification) and the chain summary of ``spec/sessions.md``
§8 (checkpoints matched by index, changed when their digests differ). Pure: it
compares already-read artifacts and does no I/O.
"""

from __future__ import annotations

from typing import Any, Final

from .manifest import typed_manifest
from .store import RunpackContents

__all__ = ["PRIVACY_MODES", "diff_chains", "diff_runpacks", "normalize_privacy", "summary_changed"]

PRIVACY_MODES: Final = ("full", "metadata")
_IGNORED: Final = ("run_id", "producer_version", "created_at")
_INTENT_FIELDS: Final = (
    "schema_id",
    "schema_version",
    "intent_id",
    "tool_name",
    "args_digest",
    "args",
)
_RESULT_FIELDS: Final = (
    "schema_id",
    "schema_version",
    "intent_id",
    "status",
    "result_digest",
    "result",
)


def normalize_privacy(value: str) -> str:
    """Lower-case and check a privacy mode."""
    from ..errors import UsageError

    normalized = value.strip().lower() or "full"
    if normalized not in PRIVACY_MODES:
        raise UsageError(f"unsupported --privacy value: {value!r} (use full or metadata)")
    return normalized


def _manifest_shape(contents: RunpackContents) -> tuple[str, ...]:
    typed = typed_manifest(contents.manifest, source=str(contents.path))
    paths = tuple(f["path"] for f in typed["files"])
    return (typed["schema_id"], typed["schema_version"], typed["capture_mode"], *paths)


def _keyed(
    records: list[dict[str, Any]], fields: tuple[str, ...], drop: str | None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        projected = {k: record.get(k) for k in fields if k != drop}
        out[str(record.get("intent_id", ""))] = projected
    return out


def _compare(
    left: dict[str, dict[str, Any]], right: dict[str, dict[str, Any]]
) -> tuple[bool, list[str], list[str]]:
    left_only = sorted(set(left) - set(right))
    right_only = sorted(set(right) - set(left))
    changed = bool(left_only or right_only) or any(
        left[k] != right[k] for k in set(left) & set(right)
    )
    return changed, left_only, right_only


def _refs_view(refs: dict[str, Any], runtime_blank: bool) -> dict[str, Any]:
    view = {k: v for k, v in refs.items() if k not in _IGNORED}
    if runtime_blank:
        view.pop("context_set_digest", None)
        view["receipts"] = [
            {k: v for k, v in r.items() if k != "retrieved_at"} for r in view.get("receipts", [])
        ]
    return view


def diff_runpacks(left: RunpackContents, right: RunpackContents, privacy: str) -> dict[str, Any]:
    """The ``summary`` object of a runpack diff (§12.3)."""
    metadata = privacy == "metadata"
    left_paths = {f["path"] for f in typed_manifest(left.manifest)["files"]}
    right_paths = {f["path"] for f in typed_manifest(right.manifest)["files"]}
    intents_changed, left_intents, right_intents = _compare(
        _keyed(left.intents, _INTENT_FIELDS, "args" if metadata else None),
        _keyed(right.intents, _INTENT_FIELDS, "args" if metadata else None),
    )
    results_changed, left_results, right_results = _compare(
        _keyed(left.results, _RESULT_FIELDS, "result" if metadata else None),
        _keyed(right.results, _RESULT_FIELDS, "result" if metadata else None),
    )
    drift = "none"
    if metadata:
        refs_changed = len(left.refs.get("receipts", [])) != len(right.refs.get("receipts", []))
    else:
        refs_changed = _refs_view(left.refs, False) != _refs_view(right.refs, False)
        if refs_changed:
            runtime_only = _refs_view(left.refs, True) == _refs_view(right.refs, True)
            drift = "runtime_only" if runtime_only else "semantic"
    summary: dict[str, Any] = {
        "run_id_left": left.run_id,
        "run_id_right": right.run_id,
        "manifest_changed": _manifest_shape(left) != _manifest_shape(right),
        "intents_changed": intents_changed,
        "results_changed": results_changed,
        "refs_changed": refs_changed,
        "context_drift_classification": drift,
    }
    optional = {
        "files_changed": sorted(left_paths ^ right_paths),
        "left_only_intents": left_intents,
        "right_only_intents": right_intents,
        "left_only_results": left_results,
        "right_only_results": right_results,
        "context_runtime_only_changes": drift == "runtime_only",
    }
    summary.update({k: v for k, v in optional.items() if v})
    return summary


def diff_chains(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """The ``summary`` object of a session chain diff (``spec/sessions.md`` §8)."""

    def by_index(chain: dict[str, Any]) -> dict[int, str]:
        return {
            int(c.get("checkpoint_index", 0)): str(c.get("checkpoint_digest", ""))
            for c in chain.get("checkpoints", [])
        }

    lhs, rhs = by_index(left), by_index(right)
    files = [f"checkpoint_{i}" for i in set(lhs) & set(rhs) if lhs[i] != rhs[i]]
    files += [f"left_only_checkpoint_{i}" for i in set(lhs) - set(rhs)]
    files += [f"right_only_checkpoint_{i}" for i in set(rhs) - set(lhs)]
    changed = bool(files)
    summary: dict[str, Any] = {
        "run_id_left": left.get("run_id", ""),
        "run_id_right": right.get("run_id", ""),
        "manifest_changed": changed,
        "intents_changed": changed,
        "results_changed": changed,
        "refs_changed": changed,
    }
    if files:
        summary["files_changed"] = sorted(files)
    return summary


def summary_changed(summary: dict[str, Any]) -> bool:
    """True when any of manifest/intents/results/refs changed (diff exit 2)."""
    return any(
        summary.get(k)
        for k in ("manifest_changed", "intents_changed", "results_changed", "refs_changed")
    )
