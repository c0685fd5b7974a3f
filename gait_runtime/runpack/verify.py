"""Runpack verification: entry hashes, the manifest digest and manifest signatures.

Owns: :class:`VerifyReport` (the outcome, with Go's JSON field names and
omissions) and :func:`verify_runpack` / :func:`verify_entries`, which follow
``spec/runpack.md`` §7.3 and the signature status rules of §6.3. Verification
only reads: the file is opened read-only and never rewritten.

Outcomes: integrity or signature problems are *reported* (``ok`` false, exit 2
at the CLI); duplicate entries and corrupt entry data raise
:class:`~gait_runtime.errors.VerificationError` (exit 2); files that are not
runpacks (missing, not a zip, truncated, no/bad manifest, wrong schema) raise
:class:`~gait_runtime.errors.ArtifactInputError` (exit 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..artifacts.jcs import sha256_hex
from ..errors import ArtifactInputError
from .manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA,
    PAYLOAD_NAMES,
    SCHEMA_VERSION,
    manifest_digest,
    typed_manifest,
)
from .store import decode_json, load_entries

if TYPE_CHECKING:
    from ..artifacts.signing import VerifyKey

__all__ = ["VerifyReport", "verify_entries", "verify_runpack"]

STATUS_MISSING: Final = "missing"
STATUS_SKIPPED: Final = "skipped"
STATUS_VERIFIED: Final = "verified"
STATUS_FAILED: Final = "failed"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of verifying one runpack.

    Attributes:
        ok: no missing files, no hash mismatches, and the signature status is
            acceptable (``verified`` when required, anything but ``failed`` otherwise).
        path: the file verified, as given.
        run_id: the manifest's run id.
        manifest_digest: the digest *stored* in the manifest.
        files_checked: number of ``files`` entries in the manifest.
        missing_files: listed-but-absent and required-but-unlisted entries, sorted.
        hash_mismatches: ``{path, expected, actual}`` per bad entry, sorted by path.
        signature_status: ``missing``, ``skipped``, ``verified`` or ``failed``.
        signature_errors: sorted error strings.
        signatures_total: number of signatures in the manifest.
        signatures_valid: number that verified.
    """

    ok: bool
    path: str
    run_id: str
    manifest_digest: str
    files_checked: int
    missing_files: list[str] = field(default_factory=list)
    hash_mismatches: list[dict[str, str]] = field(default_factory=list)
    signature_status: str = STATUS_MISSING
    signature_errors: list[str] = field(default_factory=list)
    signatures_total: int = 0
    signatures_valid: int = 0

    def to_json(self) -> dict[str, Any]:
        """The Go verify fields, with empty/zero ones omitted (``ok`` always present)."""
        out: dict[str, Any] = {"ok": self.ok}
        values: dict[str, Any] = {
            "path": self.path,
            "run_id": self.run_id,
            "manifest_digest": self.manifest_digest,
            "files_checked": self.files_checked,
            "missing_files": list(self.missing_files),
            "hash_mismatches": [dict(m) for m in self.hash_mismatches],
            "signature_status": self.signature_status,
            "signature_errors": list(self.signature_errors),
            "signatures_total": self.signatures_total,
            "signatures_valid": self.signatures_valid,
        }
        out.update({k: v for k, v in values.items() if v})
        return out


def _check_header(typed: dict[str, Any], source: str) -> None:
    if typed["schema_id"] != MANIFEST_SCHEMA:
        raise ArtifactInputError(
            f"manifest.json in {source}: unsupported schema_id {typed['schema_id']!r}",
            code="manifest_schema_invalid",
        )
    if typed["schema_version"] != SCHEMA_VERSION:
        raise ArtifactInputError(
            f"manifest.json in {source}: unsupported schema_version {typed['schema_version']!r}",
            code="manifest_schema_invalid",
        )
    if not typed["run_id"]:
        raise ArtifactInputError(
            f"manifest.json in {source}: run_id is empty", code="manifest_schema_invalid"
        )


def _signatures(
    manifest: dict[str, Any], verify_key: VerifyKey | None, require: bool
) -> tuple[str, list[str], int, int]:
    signatures = manifest.get("signatures") or []
    if not signatures:
        return STATUS_MISSING, (["manifest has no signatures"] if require else []), 0, 0
    total = len(signatures)
    if verify_key is None:
        return STATUS_SKIPPED, ["public key not configured"], total, 0
    from ..artifacts.signing import signature_errors

    signable = {k: v for k, v in manifest.items() if k != "signatures"}
    errors: list[str] = []
    valid = 0
    for envelope in signatures:
        problems = signature_errors(signable, envelope, verify_key)
        if problems:
            errors.extend(problems)
        else:
            valid += 1
    return (STATUS_VERIFIED if valid else STATUS_FAILED), sorted(errors), total, valid


def verify_entries(
    entries: dict[str, bytes],
    *,
    source: str,
    verify_key: VerifyKey | None = None,
    require_signature: bool = False,
) -> VerifyReport:
    """Verify an already-opened runpack (entry name → bytes); see :func:`verify_runpack`."""
    data = entries.get(MANIFEST_NAME)
    if data is None:
        raise ArtifactInputError(f"runpack has no manifest.json: {source}", code="manifest_missing")
    manifest = decode_json(data, f"manifest.json in {source}")
    typed = typed_manifest(manifest, source=source)
    _check_header(typed, source)
    missing: list[str] = []
    mismatches: list[dict[str, str]] = []
    listed = set()
    for item in typed["files"]:
        name = item["path"]
        listed.add(name)
        content = entries.get(name)
        if content is None:
            missing.append(name)
            continue
        actual = sha256_hex(content)
        if actual != item["sha256"].lower():
            mismatches.append({"path": name, "expected": item["sha256"], "actual": actual})
    missing.extend(name for name in PAYLOAD_NAMES if name not in listed)
    stored = typed["manifest_digest"]
    recomputed = manifest_digest(manifest)
    if stored.lower() != recomputed:
        mismatches.append({"path": MANIFEST_NAME, "expected": stored, "actual": recomputed})
    status, errors, total, valid = _signatures(manifest, verify_key, require_signature)
    signature_ok = status == STATUS_VERIFIED if require_signature else status != STATUS_FAILED
    return VerifyReport(
        ok=not missing and not mismatches and signature_ok,
        path=source,
        run_id=typed["run_id"],
        manifest_digest=stored,
        files_checked=len(typed["files"]),
        missing_files=sorted(missing),
        hash_mismatches=sorted(mismatches, key=lambda m: m["path"]),
        signature_status=status,
        signature_errors=errors,
        signatures_total=total,
        signatures_valid=valid,
    )


def verify_runpack(
    path: str | Path,
    *,
    verify_key: VerifyKey | None = None,
    require_signature: bool = False,
) -> VerifyReport:
    """Verify the runpack file at ``path`` (read-only).

    Args:
        path: the zip file (already resolved; see ``resolve_runpack_path``).
        verify_key: public key for the manifest signatures; without one a signed
            manifest reports ``skipped``.
        require_signature: only ``verified`` passes.

    Raises:
        ArtifactInputError: unreadable, not a zip, truncated, no or bad manifest,
            wrong manifest schema (exit 6).
        VerificationError: duplicate entry names or corrupt entry data (exit 2).
    """
    return verify_entries(
        load_entries(path),
        source=str(path),
        verify_key=verify_key,
        require_signature=require_signature,
    )
