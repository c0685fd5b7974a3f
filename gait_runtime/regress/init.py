"""``gait regress init``: turn a runpack (or a session checkpoint) into a fixture.

Owns: resolving ``--from`` (run id, runpack path, or a session chain whose
selected checkpoint names the runpack), the integrity check of the source, the
fixture name, and writing ``fixtures/<name>/runpack.zip`` (the source bytes,
unchanged), ``fixture.json`` and the regenerated ``gait.yaml``. Everything is
checked and every document computed before the first byte is written, so a
bad input leaves the workspace as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..artifacts.fsutil import ensure_dir, write_atomic
from ..errors import GaitError, RegressInputError
from ..runpack import read_runpack, resolve_runpack_path
from ..runpack.inspect import load_chain
from ..runpack.store import load_entries
from ..runpack.verify import verify_entries
from .sequences import tool_sequence, verdict_sequence
from .workspace import (
    CONFIG_PATH,
    FIXTURES_DIR,
    ConfigEntry,
    Fixture,
    check_name,
    config_document,
    fixture_document,
    sanitize_name,
    scan_fixtures,
)

__all__ = ["ChainVerifier", "InitResult", "init_fixture", "select_checkpoint"]

ChainVerifier = Callable[[Path], list[str]]
"""Verifies a whole session chain file; returns its errors (empty when it verifies)."""

RUNPACK_NAME: Final = "runpack.zip"


@dataclass(frozen=True)
class InitResult:
    """What ``regress init`` wrote (paths relative to the workspace root)."""

    run_id: str
    fixture_name: str
    fixture_dir: str
    runpack_path: str
    config_path: str = CONFIG_PATH
    session_chain: str = ""
    checkpoint_index: int = 0

    def to_json(self) -> dict[str, Any]:
        """The Go ``regress init --json`` fields."""
        return {
            "ok": True,
            "run_id": self.run_id,
            "fixture_name": self.fixture_name,
            "fixture_dir": self.fixture_dir,
            "runpack_path": self.runpack_path,
            "config_path": self.config_path,
            "next_commands": ["gait regress run --json"],
        }

    def text(self) -> list[str]:
        """The Go text lines."""
        return [
            f"regress init ok: fixture={self.fixture_name} run_id={self.run_id}",
            f"config: {self.config_path}",
            f"runpack: {self.runpack_path}",
            "next: gait regress run --json",
        ]


def select_checkpoint(chain: dict[str, Any], which: str, path: str) -> dict[str, Any]:
    """The checkpoint ``latest`` (the last one) or the one whose index is ``which``.

    Raises:
        RegressInputError: no checkpoints, a malformed ``--checkpoint`` or no such index.
    """
    checkpoints: list[dict[str, Any]] = chain["checkpoints"]
    if not checkpoints:
        raise RegressInputError(f"session chain has no checkpoints: {path}", code="regress_chain")
    choice = which.strip().lower() or "latest"
    if choice == "latest":
        return checkpoints[-1]
    if not choice.isdigit():
        raise RegressInputError(
            f"invalid --checkpoint {which!r}: use latest or a checkpoint index",
            code="regress_chain",
        )
    for checkpoint in checkpoints:
        if checkpoint.get("checkpoint_index") == int(choice):
            return checkpoint
    indexes = ", ".join(str(c.get("checkpoint_index")) for c in checkpoints)
    raise RegressInputError(
        f"session chain {path} has no checkpoint {choice} (indexes: {indexes})",
        code="regress_chain",
    )


def _chain_source(
    text: str, which: str, verifier: ChainVerifier | None
) -> tuple[Path, str, int, str] | None:
    """``(runpack path, chain path, checkpoint index, manifest digest)`` for a chain source."""
    if not text.lower().endswith(".json") or not Path(text).is_file():
        return None
    chain_path = os.path.normpath(text)
    chain = load_chain(Path(chain_path))
    if chain is None:
        raise RegressInputError(
            f"{chain_path} is neither a runpack nor a session chain", code="regress_source_invalid"
        )
    checkpoint = select_checkpoint(chain, which, chain_path)
    if verifier is not None and (errors := verifier(Path(chain_path))):
        raise RegressInputError(
            f"session chain {chain_path} failed verification: {errors[0]}",
            code="regress_chain_unverified",
        )
    runpack = checkpoint.get("runpack_path")
    index = checkpoint.get("checkpoint_index")
    if not isinstance(runpack, str) or not runpack or not isinstance(index, int):
        raise RegressInputError(
            f"session chain {chain_path}: checkpoint without runpack_path/checkpoint_index",
            code="regress_chain",
        )
    return Path(runpack), chain_path, index, str(checkpoint.get("manifest_digest") or "")


def _verified_bytes(path: Path, want_digest: str) -> tuple[bytes, str]:
    """The source runpack's bytes and run id, after the integrity check."""
    try:
        data = path.read_bytes()
        entries = load_entries(path)
        report = verify_entries(entries, source=str(path))
    except OSError as exc:
        raise RegressInputError(
            f"read source runpack {path}: {exc.strerror or exc}", code="regress_source_invalid"
        ) from exc
    except GaitError as exc:
        raise RegressInputError(
            f"source runpack failed integrity checks: {exc.message}", code="regress_source_invalid"
        ) from exc
    if report.missing_files or report.hash_mismatches:
        raise RegressInputError(
            f"source runpack failed integrity checks: {path}", code="regress_source_invalid"
        )
    if want_digest and report.manifest_digest.lower() != want_digest.lower():
        raise RegressInputError(
            f"source runpack failed integrity checks: {path} does not match its checkpoint's "
            "manifest_digest",
            code="regress_source_invalid",
        )
    return data, report.run_id


def init_fixture(
    source: str,
    *,
    name: str = "",
    checkpoint: str = "latest",
    root: Path | None = None,
    chain_verifier: ChainVerifier | None = None,
) -> InitResult:
    """Create or overwrite ``fixtures/<name>`` from ``source`` and regenerate ``gait.yaml``.

    Args:
        source: run id, runpack path, or session chain ``.json`` path (resolved
            against the current directory, as the CLI argument is).
        name: fixture name; default: the run id sanitised.
        checkpoint: ``latest`` or a checkpoint index (chain sources only).
        root: workspace directory (default: the current directory).
        chain_verifier: verifies a chain source before it is used.

    Raises:
        RegressInputError: unresolvable or unverifiable source, a chain that
            fails verification, a bad name, a broken existing fixture directory.
        ArtifactInputError: the runpack is not found.
    """
    base = root if root is not None else Path(".")
    text = source.strip()
    if not text:
        raise RegressInputError("missing required --from <run_id|path|session_chain.json>")
    chain = _chain_source(text, checkpoint, chain_verifier)
    if chain is not None:
        path, chain_path, index, want_digest = chain
    else:
        path, chain_path, index, want_digest = resolve_runpack_path(text), "", 0, ""
    data, run_id = _verified_bytes(path, want_digest)
    expected_tools: list[str] = []
    expected_verdicts: list[str] = []
    context_digest = ""
    try:
        contents = read_runpack(path)
    except GaitError:
        contents = None
    if contents is not None:
        run_id = contents.run_id or run_id
        expected_tools, expected_verdicts = tool_sequence(contents), verdict_sequence(contents)
        context_digest = str(contents.refs.get("context_set_digest") or "")
    fixture_name = check_name(name.strip() or sanitize_name(run_id))
    fixture_dir = f"{FIXTURES_DIR}/{fixture_name}"
    runpack_rel = f"{fixture_dir}/{RUNPACK_NAME}"
    fixture = Fixture(
        name=fixture_name,
        run_id=run_id,
        runpack=RUNPACK_NAME,
        expected_tool_sequence=expected_tools,
        expected_verdict_sequence=expected_verdicts,
        context_conformance="required" if context_digest else "",
        expected_context_set_digest=context_digest,
        session_chain=chain_path,
        checkpoint_index=index,
    )
    entries = scan_fixtures(base, ConfigEntry(fixture_name, run_id, runpack_rel))
    config_bytes = config_document(entries)
    target = base / FIXTURES_DIR / fixture_name
    ensure_dir(target)
    write_atomic(target / RUNPACK_NAME, data, mode=0o600)
    write_atomic(target / "fixture.json", fixture_document(fixture), mode=0o600)
    write_atomic(base / CONFIG_PATH, config_bytes, mode=0o600)
    return InitResult(
        run_id=run_id,
        fixture_name=fixture_name,
        fixture_dir=fixture_dir,
        runpack_path=runpack_rel,
        session_chain=chain_path,
        checkpoint_index=index,
    )
