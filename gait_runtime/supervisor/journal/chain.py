"""Session chain verification (``gait verify session-chain``, ``spec/sessions.md`` §8).

Owns: reading a chain file (``gait.runpack.session_chain``), the linkage checks
(index, previous digest, sequence overlap, checkpoint digest) and the per
checkpoint runpack checks, with Go's exact error strings, and the report the
CLI prints. Takes no lock (as in Go). ``runpack_path`` is opened relative to
the working directory, as Go does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ...artifacts.signing import VerifyKey
from ...errors import ArtifactInputError, GaitError, SessionInputError
from ...runpack import verify_runpack
from .records import CheckpointRecord, checkpoint_digest
from .scan import CHAIN_SCHEMA

__all__ = ["ChainReport", "load_chain", "verify_chain"]


class _Chain(msgspec.Struct):
    schema_id: str = ""
    schema_version: str = ""
    created_at: str = ""
    producer_version: str = ""
    session_id: str = ""
    run_id: str = ""
    checkpoints: list[CheckpointRecord] = msgspec.field(default_factory=list)


@dataclass(slots=True)
class ChainReport:
    """Outcome of verifying a chain; ``ok`` when both error lists are empty."""

    chain_path: str
    session_id: str
    run_id: str
    checkpoints_checked: int = 0
    linkage_errors: list[str] = field(default_factory=list)
    checkpoint_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No linkage and no checkpoint errors."""
        return not self.linkage_errors and not self.checkpoint_errors

    def to_json(self) -> dict[str, Any]:
        """Go's JSON fields, empty ones omitted (``ok`` always present)."""
        out: dict[str, Any] = {"ok": self.ok}
        values: dict[str, Any] = {
            "chain_path": self.chain_path,
            "session_id": self.session_id,
            "run_id": self.run_id,
            "checkpoints_checked": self.checkpoints_checked,
            "linkage_errors": list(self.linkage_errors),
            "checkpoint_errors": list(self.checkpoint_errors),
        }
        out.update({k: v for k, v in values.items() if v})
        return out


def load_chain(path: Path) -> tuple[str, str, list[CheckpointRecord]]:
    """Read and check a chain file's header.

    Returns:
        ``(session_id, run_id, checkpoints)``.

    Raises:
        SessionInputError: unreadable, not a chain, missing ids, or no checkpoints.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SessionInputError(
            f"read session chain {path}: {exc.strerror or exc}", code="session_chain_missing"
        ) from exc
    try:
        chain = msgspec.json.decode(data, type=_Chain)
    except msgspec.DecodeError as exc:
        raise SessionInputError(
            f"parse session chain {path}: {exc}", code="session_chain_invalid"
        ) from exc
    schema_id = chain.schema_id or CHAIN_SCHEMA
    schema_version = chain.schema_version or "1.0.0"
    if schema_id != CHAIN_SCHEMA or schema_version != "1.0.0":
        raise SessionInputError(
            f"unsupported session chain schema {schema_id}@{schema_version}: {path}",
            code="session_chain_invalid",
        )
    if not chain.session_id.strip() or not chain.run_id.strip():
        raise SessionInputError(
            f"session chain requires session_id and run_id: {path}", code="session_chain_invalid"
        )
    if not chain.checkpoints:
        raise SessionInputError(
            f"session chain has no checkpoints: {path}", code="session_chain_invalid"
        )
    return chain.session_id, chain.run_id, chain.checkpoints


def verify_chain(
    path: Path,
    *,
    verify_key: VerifyKey | None = None,
    require_signature: bool = False,
    display_path: str | None = None,
) -> ChainReport:
    """Verify a session chain and every checkpoint runpack it names (§8).

    Raises:
        SessionInputError: the chain file itself is unusable (exit 6).
    """
    session_id, run_id, checkpoints = load_chain(path)
    report = ChainReport(display_path or str(path), session_id, run_id)
    last_digest, last_idx, last_end = "", 0, 0
    for pos, cp in enumerate(checkpoints):
        i = cp.checkpoint_index
        if i != last_idx + 1:
            report.linkage_errors.append(f"checkpoint index mismatch at position {pos}")
        if i > 1 and cp.prev_checkpoint_digest != last_digest:
            report.linkage_errors.append(f"prev_checkpoint_digest mismatch at checkpoint {i}")
        if cp.sequence_start <= last_end:
            report.linkage_errors.append(f"sequence overlap at checkpoint {i}")
        want = checkpoint_digest(
            cp.manifest_digest, cp.prev_checkpoint_digest, i, cp.sequence_start, cp.sequence_end
        )
        if cp.checkpoint_digest != want:
            report.linkage_errors.append(f"checkpoint_digest mismatch at checkpoint {i}")
        _check_runpack(report, cp, verify_key, require_signature)
        last_digest, last_idx, last_end = cp.checkpoint_digest, i, cp.sequence_end
        report.checkpoints_checked += 1
    return report


def _check_runpack(
    report: ChainReport, cp: CheckpointRecord, key: VerifyKey | None, require: bool
) -> None:
    i = cp.checkpoint_index
    try:
        result = verify_runpack(cp.runpack_path, verify_key=key, require_signature=require)
    except (ArtifactInputError, GaitError) as exc:
        report.checkpoint_errors.append(f"checkpoint {i} verify error: {exc}")
        return
    if result.manifest_digest != cp.manifest_digest:
        report.checkpoint_errors.append(f"checkpoint {i} manifest digest mismatch")
    if result.missing_files or result.hash_mismatches:
        report.checkpoint_errors.append(f"checkpoint {i} runpack integrity failure")
    if require and result.signature_status != "verified":
        report.checkpoint_errors.append(f"checkpoint {i} signature verification failed")
