"""The runpack manifest: entry names, the manifest digest and the ticket footer.

Owns: the schema ids and entry names of a runpack (``spec/runpack.md`` §1.3, §2.1),
the typed projection of ``manifest.json`` that Go digests (§5.1: known keys only,
``created_at`` re-encoded, ``manifest_digest`` present as ``""``, no
``signatures``), building a fresh manifest, and the ticket footer line with its
contract regex (§9). Does no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ..artifacts.jcs import digest
from ..artifacts.timefmt import ZERO_TIME_TEXT, parse_rfc3339
from ..errors import ArtifactInputError

__all__ = [
    "ENTRY_NAMES",
    "FOOTER_PATTERN",
    "INTENT_SCHEMA",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "PAYLOAD_NAMES",
    "REFS_SCHEMA",
    "RESULT_SCHEMA",
    "RUN_SCHEMA",
    "SCHEMA_VERSION",
    "build_manifest",
    "footer_is_valid",
    "manifest_digest",
    "typed_manifest",
    "ticket_footer",
]

SCHEMA_VERSION: Final = "1.0.0"
MANIFEST_SCHEMA: Final = "gait.runpack.manifest"
RUN_SCHEMA: Final = "gait.runpack.run"
INTENT_SCHEMA: Final = "gait.runpack.intent"
RESULT_SCHEMA: Final = "gait.runpack.result"
REFS_SCHEMA: Final = "gait.runpack.refs"

MANIFEST_NAME: Final = "manifest.json"
PAYLOAD_NAMES: Final = ("intents.jsonl", "refs.json", "results.jsonl", "run.json")
"""The four payload entries, in the (byte-sorted) order the manifest lists them."""
ENTRY_NAMES: Final = ("intents.jsonl", "manifest.json", "refs.json", "results.jsonl", "run.json")

FOOTER_PATTERN: Final = re.compile(
    r'^GAIT run_id=([A-Za-z0-9_-]+) manifest=sha256:([a-f0-9]{64}) verify="gait verify ([A-Za-z0-9_-]+)"$'
)


def _text(value: object, field: str, source: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArtifactInputError(
            f"{source}: manifest field {field} must be a string", code="manifest_invalid"
        )
    return value


def _created_at(value: object, source: str) -> str:
    """``created_at`` re-encoded the way Go's ``time.Time`` round-trip writes it."""
    text = _text(value, "created_at", source)
    if not text:
        return ZERO_TIME_TEXT
    return parse_rfc3339(text, field=f"{source}: manifest created_at").text()


def typed_manifest(manifest: object, *, source: str = MANIFEST_NAME) -> dict[str, Any]:
    """Project a decoded ``manifest.json`` onto the fields Go's struct knows.

    Unknown keys (top level and inside ``files[]``) are dropped, missing strings
    become ``""``, ``created_at`` is normalised and ``signatures`` is left out.

    Raises:
        ArtifactInputError: the manifest is not an object, a field has the wrong
            JSON type, or ``created_at`` is not RFC 3339 (Go fails to decode those).
    """
    if not isinstance(manifest, dict):
        raise ArtifactInputError(
            f"{source}: manifest.json is not a JSON object", code="manifest_invalid"
        )
    files = manifest.get("files")
    if files is None:
        files = []
    if not isinstance(files, list):
        raise ArtifactInputError(
            f"{source}: manifest field files must be an array", code="manifest_invalid"
        )
    typed_files: list[dict[str, str]] = []
    for position, item in enumerate(files):
        if not isinstance(item, dict):
            raise ArtifactInputError(
                f"{source}: manifest files[{position}] must be an object", code="manifest_invalid"
            )
        typed_files.append(
            {
                "path": _text(item.get("path"), f"files[{position}].path", source),
                "sha256": _text(item.get("sha256"), f"files[{position}].sha256", source),
            }
        )
    signatures = manifest.get("signatures")
    if signatures is not None and not isinstance(signatures, list):
        raise ArtifactInputError(
            f"{source}: manifest field signatures must be an array", code="manifest_invalid"
        )
    return {
        "schema_id": _text(manifest.get("schema_id"), "schema_id", source),
        "schema_version": _text(manifest.get("schema_version"), "schema_version", source),
        "created_at": _created_at(manifest.get("created_at"), source),
        "producer_version": _text(manifest.get("producer_version"), "producer_version", source),
        "run_id": _text(manifest.get("run_id"), "run_id", source),
        "capture_mode": _text(manifest.get("capture_mode"), "capture_mode", source),
        "files": typed_files,
        "manifest_digest": _text(manifest.get("manifest_digest"), "manifest_digest", source),
    }


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The manifest digest of ``spec/runpack.md`` §5.1.

    ``jcs_digest`` over the known keys only, with ``created_at`` normalised,
    ``manifest_digest`` set to the empty string and ``signatures`` absent.
    """
    typed = typed_manifest(manifest)
    typed["manifest_digest"] = ""
    return digest(typed)


def build_manifest(
    *,
    run_id: str,
    created_at: str,
    producer_version: str,
    capture_mode: str,
    files: list[dict[str, str]],
) -> dict[str, Any]:
    """A fresh, unsigned manifest with its ``manifest_digest`` filled in."""
    manifest: dict[str, Any] = {
        "schema_id": MANIFEST_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at,
        "producer_version": producer_version,
        "run_id": run_id,
        "capture_mode": capture_mode,
        "files": [{"path": f["path"], "sha256": f["sha256"]} for f in files],
        "manifest_digest": "",
    }
    manifest["manifest_digest"] = digest(manifest)
    return manifest


def ticket_footer(run_id: str, manifest_digest: str) -> str:
    """The one-line receipt of §9 (not checked here; see :func:`footer_is_valid`)."""
    return f'GAIT run_id={run_id} manifest=sha256:{manifest_digest} verify="gait verify {run_id}"'


def footer_is_valid(footer: str) -> bool:
    """True when ``footer`` matches the contract regex and both run ids agree."""
    match = FOOTER_PATTERN.match(footer)
    return match is not None and match.group(1) == match.group(3)
