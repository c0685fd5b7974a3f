"""The regress workspace on disk: ``gait.yaml``, ``fixtures/<name>/fixture.json``, names.

Owns: the config document (``gait.regress.config``; JSON content despite the
extension, read with a strict JSON decoder that refuses unknown keys and
YAML-only syntax), the fixture document (``gait.regress.fixture``), fixture
name sanitising and validation, the scan of ``./fixtures/*/`` that regenerates
the config, and the Go ``json.MarshalIndent`` rendering every regress document
uses (2-space indent, ``<>&`` escaped, trailing newline). Reading never writes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from ..artifacts.gojson import go_json_indent
from ..errors import RegressInputError

__all__ = [
    "CONFIG_PATH",
    "CONFIG_SCHEMA",
    "DEFAULT_OUTPUT",
    "FIXTURES_DIR",
    "FIXTURE_SCHEMA",
    "NAME_PATTERN",
    "ConfigEntry",
    "Fixture",
    "RegressConfig",
    "check_name",
    "config_document",
    "fixture_document",
    "go_indent",
    "load_config",
    "load_fixture",
    "sanitize_name",
    "scan_fixtures",
]

CONFIG_PATH: Final = "gait.yaml"
DEFAULT_OUTPUT: Final = "regress_result.json"
FIXTURES_DIR: Final = "fixtures"
CONFIG_SCHEMA: Final = "gait.regress.config"
FIXTURE_SCHEMA: Final = "gait.regress.fixture"
SCHEMA_VERSION: Final = "1.0.0"
NAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_NAME_JUNK: Final = re.compile(r"[^a-z0-9._-]+")


def go_indent(value: object) -> bytes:
    """Go ``json.MarshalIndent(v, "", "  ")`` + ``\\n``, as Go writes regress documents."""
    return go_json_indent(value) + b"\n"


def sanitize_name(run_id: str) -> str:
    """A fixture name from a run id: lower-case, junk runs → ``-``, trimmed; else ``fixture``."""
    name = _NAME_JUNK.sub("-", run_id.lower()).strip("-._")
    return name or "fixture"


def check_name(name: str, what: str = "fixture name") -> str:
    """Return ``name`` if it matches ``^[a-z0-9][a-z0-9._-]*$``.

    Raises:
        RegressInputError: it does not (``regress_name_invalid``).
    """
    if not NAME_PATTERN.match(name):
        raise RegressInputError(
            f"invalid {what} {name!r}: must match ^[a-z0-9][a-z0-9._-]*$",
            code="regress_name_invalid",
        )
    return name


class _EntryDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""
    run_id: str = ""
    runpack: str = ""


class _ConfigDoc(msgspec.Struct, forbid_unknown_fields=True):
    schema_id: str = ""
    schema_version: str = ""
    fixture_set: str = ""
    fixtures: list[_EntryDoc] = msgspec.field(default_factory=list)


class _FixtureDoc(msgspec.Struct, forbid_unknown_fields=True):
    schema_id: str = ""
    schema_version: str = ""
    name: str = ""
    run_id: str = ""
    runpack: str = ""
    expected_replay_exit_code: int = 0
    expected_tool_sequence: list[str] = msgspec.field(default_factory=list)
    expected_verdict_sequence: list[str] = msgspec.field(default_factory=list)
    candidate_runpack: str = ""
    diff_allow_changed_files: list[str] = msgspec.field(default_factory=list)
    context_conformance: str = ""
    allow_context_runtime_drift: bool = False
    expected_context_set_digest: str = ""
    session_chain: str = ""
    checkpoint_index: int = 0


@dataclass(frozen=True)
class ConfigEntry:
    """One ``fixtures[]`` entry of ``gait.yaml`` (``runpack`` relative to the CWD)."""

    name: str
    run_id: str
    runpack: str


@dataclass(frozen=True)
class RegressConfig:
    """A parsed ``gait.yaml``; ``fixtures`` sorted by name."""

    fixture_set: str
    fixtures: list[ConfigEntry]


@dataclass(frozen=True)
class Fixture:
    """A parsed ``fixture.json`` (field meanings: the regress docs)."""

    name: str
    run_id: str
    runpack: str = "runpack.zip"
    expected_replay_exit_code: int = 0
    expected_tool_sequence: list[str] = field(default_factory=list)
    expected_verdict_sequence: list[str] = field(default_factory=list)
    candidate_runpack: str = ""
    diff_allow_changed_files: list[str] = field(default_factory=list)
    context_conformance: str = ""
    allow_context_runtime_drift: bool = False
    expected_context_set_digest: str = ""
    session_chain: str = ""
    checkpoint_index: int = 0

    @property
    def has_context(self) -> bool:
        """Any context-proof field is set (adds the ``context_conformance`` grader)."""
        return bool(
            self.context_conformance
            or self.allow_context_runtime_drift
            or self.expected_context_set_digest
        )


def _decode(data: bytes, kind: type[Any], what: str, path: str) -> Any:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise RegressInputError(f"parse {what} {path}: {exc}", code="regress_json_invalid") from exc
    except msgspec.DecodeError as exc:
        raise RegressInputError(
            f"parse {what} {path}: not JSON ({exc}); write it as JSON, not YAML",
            code="regress_json_invalid",
        ) from exc


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise RegressInputError(f"{what} not found: {path}", code="regress_missing") from exc
    except OSError as exc:
        raise RegressInputError(
            f"read {what} {path}: {exc.strerror or exc}", code="regress_unreadable"
        ) from exc


def load_config(path: Path) -> RegressConfig:
    """Parse ``gait.yaml`` strictly (JSON, known keys, schema id/version, required fields).

    Raises:
        RegressInputError: unreadable, not JSON, unknown keys, wrong schema,
            missing ``name``/``runpack``, duplicate names, or no fixtures.
    """
    doc: _ConfigDoc = _decode(_read(path, "regress config"), _ConfigDoc, "config", str(path))
    if doc.schema_id and doc.schema_id != CONFIG_SCHEMA:
        raise RegressInputError(
            f"parse config {path}: unsupported schema_id {doc.schema_id!r} (want {CONFIG_SCHEMA})",
            code="regress_config_invalid",
        )
    if doc.schema_version and doc.schema_version != SCHEMA_VERSION:
        raise RegressInputError(
            f"parse config {path}: unsupported schema_version {doc.schema_version!r}",
            code="regress_config_invalid",
        )
    entries: list[ConfigEntry] = []
    for position, item in enumerate(doc.fixtures):
        name, runpack = item.name.strip(), item.runpack.strip()
        if not name or not runpack:
            raise RegressInputError(
                f"parse config {path}: fixtures[{position}] needs name and runpack",
                code="regress_config_invalid",
            )
        entries.append(ConfigEntry(check_name(name), item.run_id.strip(), runpack))
    entries.sort(key=lambda e: e.name)
    names = [e.name for e in entries]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise RegressInputError(
            f"parse config {path}: duplicate fixture names {', '.join(dupes)}",
            code="regress_config_invalid",
        )
    if not entries:
        raise RegressInputError("no fixtures configured", code="regress_no_fixtures")
    return RegressConfig(doc.fixture_set.strip() or "default", entries)


def load_fixture(path: Path) -> Fixture:
    """Parse one ``fixture.json`` strictly.

    Raises:
        RegressInputError: unreadable, not JSON, unknown keys or wrong types, a
            missing name/run_id/runpack, a runpack that is not a bare file name,
            a negative exit code or an invalid expected verdict.
    """
    from .sequences import normalize_verdict

    doc: _FixtureDoc = _decode(_read(path, "fixture"), _FixtureDoc, "fixture", str(path))
    where = f"fixture {path}"
    if not doc.name.strip() or not doc.run_id.strip() or not doc.runpack.strip():
        raise RegressInputError(
            f"{where}: name, run_id and runpack are required", code="regress_fixture_invalid"
        )
    runpack = doc.runpack.strip()
    if os.path.basename(runpack) != runpack or runpack in (".", ".."):
        raise RegressInputError(
            f"{where}: runpack must be a file name inside the fixture directory, got {runpack!r}",
            code="regress_fixture_invalid",
        )
    if doc.expected_replay_exit_code < 0 or doc.checkpoint_index < 0:
        raise RegressInputError(
            f"{where}: expected_replay_exit_code and checkpoint_index must be >= 0",
            code="regress_fixture_invalid",
        )
    for verdict in doc.expected_verdict_sequence:
        if not normalize_verdict(verdict):
            raise RegressInputError(
                f"{where}: invalid verdict {verdict!r} in expected_verdict_sequence",
                code="regress_fixture_invalid",
            )
    if doc.context_conformance not in ("", "required", "none"):
        raise RegressInputError(
            f"{where}: context_conformance must be required or none",
            code="regress_fixture_invalid",
        )
    return Fixture(
        name=check_name(doc.name.strip()),
        run_id=doc.run_id.strip(),
        runpack=runpack,
        expected_replay_exit_code=doc.expected_replay_exit_code,
        expected_tool_sequence=list(doc.expected_tool_sequence),
        expected_verdict_sequence=[normalize_verdict(v) for v in doc.expected_verdict_sequence],
        candidate_runpack=doc.candidate_runpack.strip(),
        diff_allow_changed_files=list(doc.diff_allow_changed_files),
        context_conformance=doc.context_conformance,
        allow_context_runtime_drift=doc.allow_context_runtime_drift,
        expected_context_set_digest=doc.expected_context_set_digest.strip(),
        session_chain=doc.session_chain,
        checkpoint_index=doc.checkpoint_index,
    )


def fixture_document(fixture: Fixture) -> bytes:
    """``fixture.json`` bytes in Go's field order, empty optional fields omitted."""
    doc: dict[str, Any] = {
        "schema_id": FIXTURE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": fixture.name,
        "run_id": fixture.run_id,
        "runpack": fixture.runpack,
        "expected_replay_exit_code": fixture.expected_replay_exit_code,
    }
    optional: dict[str, Any] = {
        "expected_tool_sequence": fixture.expected_tool_sequence,
        "expected_verdict_sequence": fixture.expected_verdict_sequence,
        "candidate_runpack": fixture.candidate_runpack,
        "diff_allow_changed_files": fixture.diff_allow_changed_files,
        "context_conformance": fixture.context_conformance,
        "allow_context_runtime_drift": fixture.allow_context_runtime_drift,
        "expected_context_set_digest": fixture.expected_context_set_digest,
        "session_chain": fixture.session_chain,
        "checkpoint_index": fixture.checkpoint_index,
    }
    doc.update({k: v for k, v in optional.items() if v})
    return go_indent(doc)


def config_document(entries: list[ConfigEntry], fixture_set: str = "default") -> bytes:
    """``gait.yaml`` bytes (JSON) for ``entries`` sorted by name."""
    return go_indent(
        {
            "schema_id": CONFIG_SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "fixture_set": fixture_set,
            "fixtures": [
                {"name": e.name, "run_id": e.run_id, "runpack": e.runpack}
                for e in sorted(entries, key=lambda e: e.name)
            ],
        }
    )


def scan_fixtures(root: Path, pending: ConfigEntry | None = None) -> list[ConfigEntry]:
    """The config entries for ``<root>/fixtures/*/``, with ``pending`` (about to be written).

    Directories whose name matches the fixture pattern and hold ``fixture.json``
    become entries; a directory holding ``runpack.zip`` but no ``fixture.json``
    aborts the scan; any other directory is skipped.

    Raises:
        RegressInputError: an orphan ``runpack.zip`` or an unreadable ``fixture.json``.
    """
    found: dict[str, ConfigEntry] = {}
    base = root / FIXTURES_DIR
    children = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    for child in children:
        if pending is not None and child.name == pending.name:
            continue
        has_fixture = (child / "fixture.json").is_file()
        if not has_fixture and (child / "runpack.zip").exists():
            raise RegressInputError(
                f"fixture directory {FIXTURES_DIR}/{child.name} has runpack.zip but no fixture.json",
                code="regress_fixture_invalid",
            )
        if not has_fixture or not NAME_PATTERN.match(child.name):
            continue
        fixture = load_fixture(child / "fixture.json")
        runpack = f"{FIXTURES_DIR}/{child.name}/{fixture.runpack}"
        found[child.name] = ConfigEntry(child.name, fixture.run_id, runpack)
    if pending is not None:
        found[pending.name] = pending
    return sorted(found.values(), key=lambda e: e.name)
