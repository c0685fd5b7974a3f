"""Runpacks on disk: resolving ``<run_id|path>``, writing, opening and strict reading.

Owns: :func:`resolve_runpack_path` (``spec/runpack.md`` §7.1), :func:`write_runpack`
(atomic, 0600, parent directories 0750, no relative ``..``), :func:`load_entries`
(file → entry map; never writes to what it reads) and :func:`read_runpack`, the
strict reader of §12 used by inspect, replay and diff: all five entries present,
hashes and manifest digest correct, records decoded and refs normalised. Every
failure of the strict reader is an input error (exit 6); signatures are not
checked there.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from ..artifacts.fsutil import reject_parent_traversal, write_atomic
from ..artifacts.jcs import sha256_hex
from ..artifacts.zipdet import read_zip
from ..errors import ArtifactInputError, GaitError, VerificationError
from .manifest import ENTRY_NAMES, MANIFEST_NAME, manifest_digest, typed_manifest
from .record import Runpack, normalize_refs

__all__ = [
    "RunpackContents",
    "decode_json",
    "load_entries",
    "read_runpack",
    "resolve_runpack_path",
    "write_runpack",
]

_DEFAULT_DIR: Final = Path("gait-out")


def resolve_runpack_path(arg: str, *, home: Path | None = None) -> Path:
    """Turn a ``<run_id|path>`` argument into the runpack file to open (§7.1).

    An argument with ``/`` or ``\\`` or a ``.zip`` suffix is a path and must name
    a regular file. Anything else is a run id looked up as
    ``./gait-out/runpack_<id>.zip`` then ``~/.gait/runpacks/runpack_<id>.zip``.

    Raises:
        ArtifactInputError: nothing matches (``runpack_not_found``).
    """
    text = arg.strip()
    if not text:
        raise ArtifactInputError("missing runpack <run_id|path>", code="runpack_not_found")
    if "/" in text or "\\" in text or text.lower().endswith(".zip"):
        path = Path(os.path.normpath(text))
        if not path.is_file():
            raise ArtifactInputError(f"runpack not found: {text}", code="runpack_not_found")
        return path
    name = f"runpack_{text}.zip"
    candidates = [_DEFAULT_DIR / name, (home or Path.home()) / ".gait" / "runpacks" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ArtifactInputError(f"runpack not found for run_id: {text}", code="runpack_not_found")


def write_runpack(path: Path, runpack: Runpack) -> None:
    """Write ``runpack`` as a deterministic zip, atomically, mode 0600.

    Raises:
        ArtifactInputError: ``path`` is relative and contains a ``..`` segment.
        IOFailure: the file could not be written.
    """
    reject_parent_traversal(str(path), "runpack output path")
    write_atomic(Path(path), runpack.zip_bytes(), mode=0o600)


def load_entries(path: str | Path) -> dict[str, bytes]:
    """Read a runpack file into an entry map without modifying it.

    Raises:
        ArtifactInputError: the file cannot be read, is not a zip, or is truncated.
        VerificationError: duplicate entry names, or an entry that fails its CRC or
            cannot be decompressed (the archive opened, an entry is corrupt).
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise ArtifactInputError(f"runpack not found: {source}", code="runpack_not_found") from exc
    except OSError as exc:
        raise ArtifactInputError(
            f"read runpack {source}: {exc.strerror or exc}", code="runpack_unreadable"
        ) from exc
    try:
        entries = read_zip(data, source=source)
    except GaitError as exc:
        if source not in exc.message:
            raise type(exc)(
                f"{exc.message} (in {source})", code=exc.error_code, details=exc.details
            ) from exc
        raise
    except (RuntimeError, zipfile.LargeZipFile, KeyError, IndexError) as exc:
        # zipfile raises these for an entry whose method or flags were altered (an
        # unknown compression method is a RuntimeError subclass): the archive's
        # directory opened, so this is a corrupt entry, not a non-zip.
        raise VerificationError(
            f"zip entry in {source} cannot be read (corrupt or tampered): {exc}",
            code="zip_entry_corrupt",
        ) from exc
    return entries


def decode_json(data: bytes, what: str) -> Any:
    """Decode JSON bytes, naming ``what`` (entry and file) on failure."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ArtifactInputError(f"parse {what}: {exc}", code="json_invalid") from exc


def _decode_lines(data: bytes, what: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        record = decode_json(line, f"{what} line {number}")
        if not isinstance(record, dict):
            raise ArtifactInputError(
                f"parse {what} line {number}: not a JSON object", code="json_invalid"
            )
        records.append(record)
    return records


@dataclass(frozen=True)
class RunpackContents:
    """A runpack that passed the strict reader.

    Attributes:
        path: the file it was read from.
        manifest: the decoded ``manifest.json`` as stored.
        run: the decoded ``run.json``.
        intents: the ``intents.jsonl`` records in file order.
        results: the ``results.jsonl`` records in file order.
        refs: ``refs.json`` after refs normalisation.
        entries: entry name → bytes as read.
    """

    path: Path
    manifest: dict[str, Any]
    run: dict[str, Any]
    intents: list[dict[str, Any]]
    results: list[dict[str, Any]]
    refs: dict[str, Any]
    entries: dict[str, bytes]

    @property
    def run_id(self) -> str:
        """``run.json``'s run id (falls back to the manifest's)."""
        value = self.run.get("run_id")
        return value if isinstance(value, str) and value else str(self.manifest.get("run_id", ""))

    @property
    def capture_mode(self) -> str:
        """The manifest's capture mode (``reference`` or ``raw``)."""
        return str(self.manifest.get("capture_mode") or "")


def read_runpack(path: str | Path) -> RunpackContents:
    """Open a runpack with the strict reader of ``spec/runpack.md`` §12.

    Integrity failures are verification failures (exit 2) here as in ``gait
    verify``: one rule for every command that reads a runpack (the Go reader
    reports them as plain errors, exit 6).

    Raises:
        VerificationError: a missing entry, a hash or manifest digest mismatch,
            a duplicate or corrupt zip entry.
        ArtifactInputError: undecodable records, bad refs, or a file that is not
            a runpack zip.
    """
    source = str(path)
    entries = load_entries(path)
    for name in ENTRY_NAMES:
        if name not in entries:
            raise VerificationError(
                f"runpack missing entry {name}: {source}", code="runpack_entry_missing"
            )
    manifest = decode_json(entries[MANIFEST_NAME], f"manifest.json in {source}")
    typed = typed_manifest(manifest, source=source)
    for item in typed["files"]:
        data = entries.get(item["path"])
        if data is None:
            raise VerificationError(
                f"runpack missing entry {item['path']}: {source}", code="runpack_entry_missing"
            )
        if sha256_hex(data) != item["sha256"].lower():
            raise VerificationError(
                f"runpack hash mismatch: {item['path']} in {source}", code="runpack_hash_mismatch"
            )
    if manifest_digest(manifest) != typed["manifest_digest"].lower():
        raise VerificationError(
            f"runpack hash mismatch: manifest.json in {source}", code="runpack_hash_mismatch"
        )
    run = decode_json(entries["run.json"], f"run.json in {source}")
    refs = decode_json(entries["refs.json"], f"refs.json in {source}")
    if not isinstance(run, dict) or not isinstance(refs, dict):
        raise ArtifactInputError(
            f"run.json and refs.json must be JSON objects: {source}", code="json_invalid"
        )
    base = {
        "created_at": typed["created_at"],
        "producer_version": typed["producer_version"],
        "run_id": typed["run_id"],
    }
    normalized_refs = normalize_refs(refs, base, where=f"refs.json in {source}")
    if normalized_refs.get("context_evidence_mode") == "required" and not normalized_refs.get(
        "context_set_digest"
    ):
        raise ArtifactInputError(
            f"refs.json in {source}: context_evidence_mode=required needs context_set_digest",
            code="refs_invalid",
        )
    return RunpackContents(
        path=Path(path),
        manifest=manifest,
        run=run,
        intents=_decode_lines(entries["intents.jsonl"], f"intents.jsonl in {source}"),
        results=_decode_lines(entries["results.jsonl"], f"results.jsonl in {source}"),
        refs=normalized_refs,
        entries=entries,
    )
