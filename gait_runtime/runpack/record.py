"""The recording pipeline: run, intents, results and refs in, an in-memory runpack out.

Owns: :class:`Runpack` and :func:`build_runpack`, which follows ``spec/runpack.md``
§4 step by step so the entry bytes equal Go's for the same logical input: defaults
(§3), argument/result digest derivation (including the ``normalization`` payloads
of §11), ``gait.trace`` receipt digests, refs normalisation, capture-mode
stripping, JCS serialisation, the manifest (§5) and an optional signature (§6).
Input records are projected onto the fields Go's structs know, so unknown input
keys never reach a signed artifact. Does no I/O; writing lives in
:mod:`gait_runtime.runpack.store`.
"""

from __future__ import annotations

import platform
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..artifacts.jcs import canonicalize, digest, sha256_hex
from ..artifacts.timefmt import EPOCH_1980, ZERO_TIME_TEXT, format_ns, parse_rfc3339
from ..artifacts.zipdet import write_zip
from ..errors import ArtifactInputError
from .manifest import (
    INTENT_SCHEMA,
    MANIFEST_NAME,
    REFS_SCHEMA,
    RESULT_SCHEMA,
    RUN_SCHEMA,
    SCHEMA_VERSION,
    build_manifest,
)

if TYPE_CHECKING:
    from ..artifacts.signing import SigningKey

__all__ = [
    "CAPTURE_MODES",
    "Runpack",
    "build_runpack",
    "default_env",
    "normalize_capture_mode",
    "normalize_refs",
]

CAPTURE_MODES: Final = ("reference", "raw")
_ZERO_NS: Final = parse_rfc3339(ZERO_TIME_TEXT).unix_ns
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_EVIDENCE_MODES: Final = ("best_effort", "required")
_IMMUTABILITY: Final = ("unknown", "mutable", "immutable")
_GO_OS: Final = {"linux": "linux", "darwin": "darwin", "win32": "windows", "cygwin": "windows"}
_GO_ARCH: Final = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
}

JSON = dict[str, Any]


@dataclass(frozen=True)
class Runpack:
    """An in-memory runpack.

    Attributes:
        run_id: the run's id (``run.json`` and manifest).
        manifest: the manifest object, ``signatures`` included when signed.
        entries: entry name → exact bytes, ``manifest.json`` included.
        manifest_digest: the §5.1 digest stored in the manifest.
    """

    run_id: str
    manifest: JSON
    entries: dict[str, bytes]
    manifest_digest: str

    def zip_bytes(self) -> bytes:
        """The deterministic zip of :attr:`entries` (same runpack, same bytes)."""
        return write_zip(self.entries)


def default_env() -> dict[str, str]:
    """Go-style ``os``/``arch`` names of this host and ``runtime: python``."""
    machine = platform.machine().lower()
    return {
        "os": _GO_OS.get(sys.platform, sys.platform),
        "arch": _GO_ARCH.get(machine, machine or "unknown"),
        "runtime": "python",
    }


def normalize_capture_mode(mode: str) -> str:
    """Lower-case and check a capture mode (empty means ``reference``)."""
    normalized = mode.strip().lower() or "reference"
    if normalized not in CAPTURE_MODES:
        raise ArtifactInputError(
            f"unsupported capture mode: {mode!r} (use reference or raw)",
            code="capture_mode_invalid",
        )
    return normalized


def _str(record: JSON, key: str, where: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArtifactInputError(f"{where}.{key} must be a string", code="record_invalid")
    return value


def _obj(value: object, where: str) -> JSON | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArtifactInputError(f"{where} must be a JSON object", code="record_invalid")
    return value


def _time(record: JSON, key: str, where: str, default: str, *, utc: bool = False) -> str:
    """A Go ``time.Time`` field: parsed, re-encoded, zero/absent replaced by ``default``."""
    text = _str(record, key, where)
    if not text:
        return default
    stamp = parse_rfc3339(text, field=f"{where}.{key}")
    if stamp.unix_ns == _ZERO_NS:
        return default
    return stamp.utc_text() if utc else stamp.text()


def _int(record: JSON, key: str, where: str) -> int:
    value = record.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArtifactInputError(f"{where}.{key} must be an integer", code="record_invalid")
    return value


def _header(record: JSON, where: str, schema_id: str, base: JSON) -> JSON:
    return {
        "schema_id": _str(record, "schema_id", where) or schema_id,
        "schema_version": _str(record, "schema_version", where) or SCHEMA_VERSION,
        "created_at": _time(record, "created_at", where, base["created_at"]),
        "producer_version": _str(record, "producer_version", where) or base["producer_version"],
        "run_id": _str(record, "run_id", where) or base["run_id"],
    }


def _build_run(run: JSON, producer_version: str, now_ns: int) -> JSON:
    run_id = _str(run, "run_id", "run")
    if not run_id.strip():
        raise ArtifactInputError("run.run_id is required", code="run_id_missing")
    env_in = _obj(run.get("env"), "run.env") or {}
    defaults = default_env()
    env = {k: _str(env_in, k, "run.env") or defaults[k] for k in ("os", "arch", "runtime")}
    timeline_in = run.get("timeline")
    timeline: list[JSON] | None = None
    if timeline_in is not None:
        if not isinstance(timeline_in, list):
            raise ArtifactInputError("run.timeline must be an array", code="record_invalid")
        timeline = []
        for position, item in enumerate(timeline_in):
            where = f"run.timeline[{position}]"
            event = _obj(item, where) or {}
            entry: JSON = {
                "event": _str(event, "event", where),
                "ts": _time(event, "ts", where, ZERO_TIME_TEXT),
            }
            if ref := _str(event, "ref", where):
                entry["ref"] = ref
            if relationship := _obj(event.get("relationship"), f"{where}.relationship"):
                entry["relationship"] = relationship
            timeline.append(entry)
    return {
        "schema_id": _str(run, "schema_id", "run") or RUN_SCHEMA,
        "schema_version": _str(run, "schema_version", "run") or SCHEMA_VERSION,
        "created_at": _time(run, "created_at", "run", format_ns(now_ns)),
        "producer_version": _str(run, "producer_version", "run") or producer_version,
        "run_id": run_id,
        "env": env,
        "timeline": timeline,
    }


def _derive(
    record: JSON, where: str, payload_key: str, digest_key: str, normalized: object
) -> tuple[str, JSON | None]:
    """§4 step 2 for one intent (``args``) or result (``result``)."""
    payload = _obj(record.get(payload_key), f"{where}.{payload_key}")
    given = _str(record, digest_key, where)
    if normalized is not None:
        computed = digest(normalized)
        if not given:
            return computed, payload
        if given.lower() != computed:
            noun = "args" if payload_key == "args" else "result"
            raise ArtifactInputError(
                f"{noun} digest mismatch for {where} (normalization payload digests to {computed})",
                code="digest_mismatch",
            )
        return given, payload
    if given:
        return given, payload
    if payload is None:
        raise ArtifactInputError(
            f"{where}: {payload_key} or {digest_key} is required", code="record_invalid"
        )
    return digest(payload), payload


def _norm_map(normalization: JSON | None, key: str) -> JSON:
    if not normalization:
        return {}
    return _obj(normalization.get(key), f"normalization.{key}") or {}


def _build_records(
    items: list[JSON],
    kind: str,
    base: JSON,
    norm: JSON,
    raw: bool,
) -> list[JSON]:
    is_intent = kind == "intent"
    payload_key, digest_key = ("args", "args_digest") if is_intent else ("result", "result_digest")
    schema = INTENT_SCHEMA if is_intent else RESULT_SCHEMA
    out: list[JSON] = []
    for position, item in enumerate(items):
        where = f"{kind}s[{position}]"
        record = _obj(item, where) or {}
        intent_id = _str(record, "intent_id", where)
        digest_value, payload = _derive(
            record, where, payload_key, digest_key, norm.get(intent_id) if intent_id else None
        )
        entry = _header(record, where, schema, base)
        entry["intent_id"] = intent_id
        if is_intent:
            entry["tool_name"] = _str(record, "tool_name", where)
        else:
            entry["status"] = _str(record, "status", where)
        entry[digest_key] = digest_value
        if raw and payload:
            entry[payload_key] = payload
        out.append(entry)
    return out


def _trace_receipt_digests(
    receipt: JSON, where: str, intents: list[JSON], results: list[JSON]
) -> None:
    """§4 step 3: fill or check the digests of a ``gait.trace`` receipt."""
    ref_id = _str(receipt, "ref_id", where)
    source_type = _str(receipt, "source_type", where).strip().lower()
    query = _str(receipt, "query_digest", where)
    content = _str(receipt, "content_digest", where)
    if source_type == "gait.trace" and ref_id.startswith("trace_"):
        intent_id = ref_id.removeprefix("trace_")
        intent = next((i for i in intents if i["intent_id"] == intent_id), None)
        result = next((r for r in results if r["intent_id"] == intent_id), None)
        if intent is None or result is None:
            raise ArtifactInputError(
                f"{where}: gait.trace receipt {ref_id} needs an intent and a result for {intent_id}",
                code="receipt_invalid",
            )
        expected_query = digest(
            {"tool_name": intent["tool_name"], "args_digest": intent["args_digest"]}
        )
        expected_content = result["result_digest"]
        for key, given, expected in (
            ("query_digest", query, expected_query),
            ("content_digest", content, expected_content),
        ):
            if given and given.lower() != expected.lower():
                raise ArtifactInputError(
                    f"{where}.{key} does not match the trace of {intent_id}", code="receipt_invalid"
                )
        receipt["query_digest"] = query or expected_query
        receipt["content_digest"] = content or expected_content
    elif not query or not content:
        raise ArtifactInputError(
            f"{where}: query_digest and content_digest are required", code="receipt_invalid"
        )


def _receipt(receipt: JSON, where: str) -> JSON:
    """§3.4 / §4 step 4 for one receipt."""
    out: JSON = {}
    for key in ("ref_id", "source_type", "source_locator", "redaction_mode"):
        value = _str(receipt, key, where)
        if not value.strip():
            raise ArtifactInputError(f"{where}.{key} is required", code="receipt_invalid")
        out[key] = value
    for key in ("query_digest", "content_digest"):
        value = _str(receipt, key, where).strip().lower()
        if not _HEX64.match(value):
            raise ArtifactInputError(
                f"{where}.{key} must be 64 hex characters", code="receipt_invalid"
            )
        out[key] = value
    out["retrieved_at"] = _time(receipt, "retrieved_at", where, EPOCH_1980.utc_text(), utc=True)
    immutability = _str(receipt, "immutability", where).strip().lower() or "unknown"
    if immutability not in _IMMUTABILITY:
        raise ArtifactInputError(
            f"{where}.immutability must be one of {', '.join(_IMMUTABILITY)}",
            code="receipt_invalid",
        )
    out["immutability"] = immutability
    if sla := _int(receipt, "freshness_sla_seconds", where):
        if sla < 0:
            raise ArtifactInputError(
                f"{where}.freshness_sla_seconds must not be negative", code="receipt_invalid"
            )
        out["freshness_sla_seconds"] = sla
    if label := _str(receipt, "sensitivity_label", where):
        out["sensitivity_label"] = label
    if params := _obj(receipt.get("retrieval_params"), f"{where}.retrieval_params"):
        out["retrieval_params"] = params
    return out


def normalize_refs(refs: JSON, base: JSON, *, where: str = "refs") -> JSON:
    """Refs normalisation of §4 step 4 (also applied by the strict reader).

    ``base`` supplies the header defaults (``created_at``, ``producer_version``,
    ``run_id``). Receipts must already carry their digests.
    """
    out = _header(refs, where, REFS_SCHEMA, base)
    set_digest = _str(refs, "context_set_digest", where).strip().lower()
    if set_digest:
        if not _HEX64.match(set_digest):
            raise ArtifactInputError(
                f"{where}.context_set_digest must be 64 hex characters", code="refs_invalid"
            )
        out["context_set_digest"] = set_digest
    mode = _str(refs, "context_evidence_mode", where).strip().lower()
    if mode:
        if mode not in _EVIDENCE_MODES:
            raise ArtifactInputError(
                f"{where}.context_evidence_mode must be best_effort or required",
                code="refs_invalid",
            )
        out["context_evidence_mode"] = mode
    count = _int(refs, "context_ref_count", where)
    if count < 0:
        raise ArtifactInputError(
            f"{where}.context_ref_count must not be negative", code="refs_invalid"
        )
    receipts_in = refs.get("receipts")
    if receipts_in is None:
        receipts_in = []
    if not isinstance(receipts_in, list):
        raise ArtifactInputError(f"{where}.receipts must be an array", code="refs_invalid")
    receipts = [
        _receipt(_obj(r, f"{where}.receipts[{i}]") or {}, f"{where}.receipts[{i}]")
        for i, r in enumerate(receipts_in)
    ]
    receipts.sort(key=lambda r: r["ref_id"].encode("utf-8"))
    if count == 0 and receipts:
        count = len(receipts)
    if count:
        out["context_ref_count"] = count
    out["receipts"] = receipts
    return out


def _jsonl(records: list[JSON]) -> bytes:
    return b"".join(canonicalize(r) + b"\n" for r in records)


def build_runpack(
    run: JSON,
    intents: list[JSON],
    results: list[JSON],
    refs: JSON | None = None,
    *,
    capture_mode: str = "reference",
    normalization: JSON | None = None,
    signing_key: SigningKey | None = None,
    producer_version: str | None = None,
    now_ns: int | None = None,
) -> Runpack:
    """Run the §4 recording pipeline and return the runpack (not yet written).

    Args:
        run: the ``run.json`` shape; ``run_id`` is required.
        intents: intent records (``args`` or ``args_digest`` each).
        results: result records (``result`` or ``result_digest`` each).
        refs: the ``refs.json`` shape; ``None`` means no receipts.
        capture_mode: ``reference`` (default; payloads are dropped after digesting)
            or ``raw``.
        normalization: optional ``intent_args`` / ``result_payloads`` maps of §11.
        signing_key: sign the manifest (§6.2) when given.
        producer_version: used when ``run`` has no ``producer_version``; defaults
            to this package's version.
        now_ns: ``created_at`` (Unix ns) when ``run`` has none; defaults to now.

    Raises:
        ArtifactInputError: a required field is missing, a value has the wrong
            type, or a supplied digest disagrees with its payload.
    """
    if producer_version is None:
        from .. import __version__

        producer_version = __version__
    mode = normalize_capture_mode(capture_mode)
    raw = mode == "raw"
    run_obj = _obj(run, "run") or {}
    run_json = _build_run(run_obj, producer_version, time.time_ns() if now_ns is None else now_ns)
    base = {k: run_json[k] for k in ("created_at", "producer_version", "run_id")}
    for name, seq in (("intents", intents), ("results", results)):
        if not isinstance(seq, list):
            raise ArtifactInputError(f"{name} must be an array", code="record_invalid")
    intent_records = _build_records(
        intents, "intent", base, _norm_map(normalization, "intent_args"), raw
    )
    result_records = _build_records(
        results, "result", base, _norm_map(normalization, "result_payloads"), raw
    )
    refs_obj = dict(_obj(refs, "refs") or {})
    receipts_in = refs_obj.get("receipts")
    if isinstance(receipts_in, list):
        receipts = []
        for i, item in enumerate(receipts_in):
            receipt = dict(_obj(item, f"refs.receipts[{i}]") or {})
            _trace_receipt_digests(receipt, f"refs.receipts[{i}]", intent_records, result_records)
            receipts.append(receipt)
        refs_obj["receipts"] = receipts
    refs_json = normalize_refs(refs_obj, base)
    entries = {
        "run.json": canonicalize(run_json),
        "intents.jsonl": _jsonl(intent_records),
        "results.jsonl": _jsonl(result_records),
        "refs.json": canonicalize(refs_json),
    }
    manifest = build_manifest(
        run_id=base["run_id"],
        created_at=base["created_at"],
        producer_version=base["producer_version"],
        capture_mode=mode,
        files=[{"path": name, "sha256": sha256_hex(entries[name])} for name in sorted(entries)],
    )
    if signing_key is not None:
        from ..artifacts.signing import sign

        manifest["signatures"] = [sign(manifest, signing_key)]
    entries[MANIFEST_NAME] = canonicalize(manifest)
    return Runpack(
        run_id=base["run_id"],
        manifest=manifest,
        entries=dict(sorted(entries.items())),
        manifest_digest=manifest["manifest_digest"],
    )
