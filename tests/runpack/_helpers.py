"""Shared helpers for the runpack tests: vector inputs, keys and zip surgery."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

from gait_runtime.artifacts.jcs import canonicalize
from gait_runtime.artifacts.keys import KeySource, load_private, load_public
from gait_runtime.artifacts.schemas import validate
from gait_runtime.artifacts.signing import SigningKey, VerifyKey
from gait_runtime.artifacts.zipdet import write_zip
from gait_runtime.runpack import Runpack

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
RUNPACK_VECTORS = VECTORS / "runpack"
GO_DEMO_DIGEST = "436474ad70446539c909ae85bcc156d30197ba68efb8debdaed4f5d2eef2922e"
GO_SIGNED_DIGEST = "090c5414106635e620c054861f9ea3b509f047ec1c4e80acb08870557a432485"
GO_REFERENCE_DIGEST = "b21383e3d7a324f8168c31cf8af8a5f5fb83538a02647332a6f99a6f1579dcfa"


def gait_key() -> SigningKey:
    """The published Go test key ``keys/gait_private.key``."""
    return load_private(KeySource(str(VECTORS / "keys/gait_private.key")))


def public_key(name: str) -> VerifyKey:
    """``keys/<name>_public.key``."""
    return load_public(KeySource(str(VECTORS / f"keys/{name}_public.key")))


def record_input() -> dict[str, Any]:
    """The hand-written Go record input (raw capture, three intents)."""
    data: dict[str, Any] = json.loads((RUNPACK_VECTORS / "record_input.json").read_text())
    return data


def unzipped(name: str) -> dict[str, bytes]:
    """Go's entries of ``unzipped/<name>/`` (the result of ``unzip``)."""
    folder = RUNPACK_VECTORS / "unzipped" / name
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def entries_of(zip_bytes: bytes) -> dict[str, bytes]:
    """Entries of a (well-formed) zip, by name."""
    with zipfile.ZipFile(BytesIO(zip_bytes)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(entries: dict[str, bytes]) -> bytes:
    """A deterministic zip of ``entries`` (used after editing one entry)."""
    return write_zip(entries)


def validate_entries(runpack: Runpack) -> None:
    """Validate every entry of ``runpack`` against its schema (Draft 2020-12)."""
    validate("runpack/manifest", runpack.manifest)
    validate("runpack/run", json.loads(runpack.entries["run.json"]))
    validate("runpack/refs", json.loads(runpack.entries["refs.json"]))
    for name, schema in (("intents.jsonl", "runpack/intent"), ("results.jsonl", "runpack/result")):
        for line in runpack.entries[name].splitlines():
            validate(schema, json.loads(line))
    assert runpack.entries["manifest.json"] == canonicalize(runpack.manifest)
