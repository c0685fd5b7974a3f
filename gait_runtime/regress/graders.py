"""Graders: the :class:`Grader` protocol, the built-in graders and the entry-point registry.

Owns: what a grader receives (:class:`GraderContext`: one loaded fixture, its
runpack, its lazily read candidate) and returns (:class:`GraderResult`), the
five first-party graders of the regress contract (``schema_validation``,
``expected_exit_code``, ``trajectory``, ``diff``, ``context_conformance``) and
:func:`installed_graders`, which lists the entry point group
``gait_runtime.graders``. First-party graders are registered in that group
exactly as a third-party grader would be (``pyproject.toml``), so the runner
has one way to find any grader. Graders are pure: they read the already-loaded
runpacks and never write.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

from ..errors import GaitError, RegressInputError
from ..runpack import RunpackContents, read_runpack
from ..runpack.diff import diff_runpacks
from ..runpack.manifest import (
    INTENT_SCHEMA,
    MANIFEST_SCHEMA,
    REFS_SCHEMA,
    RESULT_SCHEMA,
    RUN_SCHEMA,
    SCHEMA_VERSION,
)
from ..runpack.replay import replay_runpack
from ..runpack.verify import verify_entries
from .sequences import first_mismatch, tool_sequence, verdict_sequence
from .workspace import Fixture

__all__ = [
    "BUILTIN_ORDER",
    "ENTRY_POINT_GROUP",
    "Candidate",
    "ContextConformanceGrader",
    "DiffGrader",
    "ExpectedExitCodeGrader",
    "Grader",
    "GraderContext",
    "GraderResult",
    "SchemaValidationGrader",
    "TrajectoryGrader",
    "installed_graders",
    "load_grader",
]

ENTRY_POINT_GROUP: Final = "gait_runtime.graders"
BUILTIN_ORDER: Final = ("schema_validation", "expected_exit_code", "trajectory", "diff")
PASS: Final = "pass"
FAIL: Final = "fail"


@dataclass
class GraderResult:
    """One grader's verdict on one fixture.

    Attributes:
        name: the grader name (the runner rewrites it to ``<fixture>/<grader>``).
        status: ``pass`` or ``fail``.
        reason_codes: stable codes (sorted and de-duplicated by the runner).
        details: JSON-safe facts (expected vs actual); the runner adds
            ``fixture`` and ``run_id``.
        context_conformance: set only by the context grader.
    """

    name: str
    status: str
    reason_codes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    context_conformance: str = ""

    @property
    def failed(self) -> bool:
        """True for ``fail``."""
        return self.status != PASS

    def to_json(self) -> dict[str, Any]:
        """Go's field order; ``reason_codes`` always an array, details keys sorted."""
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "reason_codes": list(self.reason_codes),
        }
        if self.context_conformance:
            out["context_conformance"] = self.context_conformance
        if self.details:
            out["details"] = {k: self.details[k] for k in sorted(self.details)}
        return out


@dataclass(frozen=True)
class Candidate:
    """The runpack graded against the baseline, as the fixture names it.

    Attributes:
        display: cleaned path (``<fixture dir>/<candidate_runpack>``) shown in details.
        contents: the strictly read runpack, or ``None`` when unusable.
        reason: ``candidate_path_invalid`` / ``candidate_runpack_invalid`` when unusable.
        error: the reader's message when unusable.
    """

    display: str
    contents: RunpackContents | None
    reason: str = ""
    error: str = ""


@dataclass
class GraderContext:
    """Everything a grader may look at for one fixture (already loaded and validated).

    Attributes:
        fixture: the parsed ``fixture.json``.
        fixture_dir: the fixture directory as a slash path relative to the CWD.
        runpack_path: the fixture runpack path as configured (``gait.yaml``).
        contents: the fixture runpack, read with the strict reader.
    """

    fixture: Fixture
    fixture_dir: str
    runpack_path: str
    contents: RunpackContents
    _candidate: Candidate | None = None

    def candidate(self) -> Candidate:
        """The candidate runpack (the fixture runpack itself unless the fixture names one)."""
        if self._candidate is None:
            self._candidate = self._load_candidate()
        return self._candidate

    def _load_candidate(self) -> Candidate:
        if not self.fixture.candidate_runpack:
            return Candidate(os.path.normpath(self.runpack_path), self.contents)
        display = os.path.normpath(os.path.join(self.fixture_dir, self.fixture.candidate_runpack))
        if not Path(display).is_file():
            return Candidate(
                display, None, "candidate_path_invalid", f"candidate runpack not found: {display}"
            )
        try:
            return Candidate(display, read_runpack(display))
        except GaitError as exc:
            return Candidate(display, None, "candidate_runpack_invalid", exc.message)


@runtime_checkable
class Grader(Protocol):
    """A regress grader, found through the ``gait_runtime.graders`` entry point group.

    An entry point names a class (instantiated without arguments) or an
    instance. ``deterministic`` must be true unless the run passes
    ``--allow-nondeterministic``. ``grade`` returns one result and should not
    raise; an exception becomes ``fail`` with reason ``grader_error``.
    """

    name: str
    deterministic: bool

    def grade(self, context: GraderContext) -> GraderResult:
        """Grade one fixture."""
        ...


class SchemaValidationGrader:
    """The runpack verifies and every document carries its schema id at version 1.0.0."""

    name: ClassVar[str] = "schema_validation"
    deterministic: ClassVar[bool] = True

    def grade(self, context: GraderContext) -> GraderResult:
        """Verify hashes and digest, then check every schema id/version."""
        contents = context.contents
        report = verify_entries(contents.entries, source=context.runpack_path)
        reasons: list[str] = []
        if report.missing_files:
            reasons.append("missing_files")
        if report.hash_mismatches:
            reasons.append("hash_mismatch")
        checks = [
            (contents.manifest, MANIFEST_SCHEMA, "manifest_schema_invalid"),
            (contents.run, RUN_SCHEMA, "run_schema_invalid"),
            (contents.refs, REFS_SCHEMA, "refs_schema_invalid"),
            *((i, INTENT_SCHEMA, "intent_schema_invalid") for i in contents.intents),
            *((r, RESULT_SCHEMA, "result_schema_invalid") for r in contents.results),
        ]
        for document, schema_id, code in checks:
            if document.get("schema_id") != schema_id or (
                document.get("schema_version") != SCHEMA_VERSION
            ):
                reasons.append(code)
        if reasons:
            reasons.append("schema_validation_error")
        receipts = contents.refs.get("receipts")
        details = {
            "missing_files": list(report.missing_files) or None,
            "hash_mismatches": len(report.hash_mismatches),
            "intent_records": len(contents.intents),
            "result_records": len(contents.results),
            "reference_receipts": len(receipts) if isinstance(receipts, list) else 0,
        }
        return GraderResult(self.name, FAIL if reasons else PASS, reasons, details)


class ExpectedExitCodeGrader:
    """Stub replay of the fixture runpack exits as ``expected_replay_exit_code`` says."""

    name: ClassVar[str] = "expected_exit_code"
    deterministic: ClassVar[bool] = True

    def grade(self, context: GraderContext) -> GraderResult:
        """Replay offline with stubs: 0 when every intent resolves, 2 when any is missing."""
        expected = context.fixture.expected_replay_exit_code
        details: dict[str, Any] = {"expected_exit_code": expected}
        try:
            outcome = replay_runpack(context.contents)
        except GaitError as exc:
            details["error"] = exc.message
            return GraderResult(self.name, FAIL, ["replay_error"], details)
        actual = 0 if outcome.ok else 2
        details.update(actual_exit_code=actual, missing_results=list(outcome.missing_results))
        if actual != expected:
            return GraderResult(self.name, FAIL, ["unexpected_exit_code"], details)
        return GraderResult(self.name, PASS, [], details)


def _mismatch(details: dict[str, Any], kind: str, expected: list[str], actual: list[str]) -> bool:
    found = first_mismatch(expected, actual)
    if not expected or found is None:
        return False
    index, want, got = found
    details[f"{kind}_sequence_mismatch_index"] = index
    details[f"{kind}_sequence_expected_at_mismatch"] = want
    details[f"{kind}_sequence_actual_at_mismatch"] = got
    return True


class TrajectoryGrader:
    """The candidate's tool and verdict sequences equal the fixture's expectations."""

    name: ClassVar[str] = "trajectory"
    deterministic: ClassVar[bool] = True

    def grade(self, context: GraderContext) -> GraderResult:
        """Exact order and length; an empty expectation is not checked."""
        fixture = context.fixture
        candidate = context.candidate()
        details: dict[str, Any] = {
            "candidate_runpack": candidate.display,
            "expected_tool_sequence": list(fixture.expected_tool_sequence),
            "expected_verdict_sequence": list(fixture.expected_verdict_sequence),
        }
        if candidate.contents is None:
            details["error"] = candidate.error
            return GraderResult(self.name, FAIL, [candidate.reason], details)
        tools, verdicts = tool_sequence(candidate.contents), verdict_sequence(candidate.contents)
        details.update(actual_tool_sequence=tools, actual_verdict_sequence=verdicts)
        reasons = []
        if _mismatch(details, "tool", fixture.expected_tool_sequence, tools):
            reasons.append("unexpected_tool_sequence")
        if _mismatch(details, "verdict", fixture.expected_verdict_sequence, verdicts):
            reasons.append("unexpected_verdict_sequence")
        if reasons:
            return GraderResult(self.name, FAIL, reasons, details)
        required = fixture.expected_tool_sequence or fixture.expected_verdict_sequence
        return GraderResult(
            self.name,
            PASS,
            ["trajectory_match" if required else "trajectory_not_required"],
            details,
        )


class DiffGrader:
    """Every item that changed between fixture and candidate is explicitly allowed."""

    name: ClassVar[str] = "diff"
    deterministic: ClassVar[bool] = True

    def grade(self, context: GraderContext) -> GraderResult:
        """Full-privacy runpack diff; changed items checked against ``diff_allow_changed_files``."""
        candidate = context.candidate()
        allowed = sorted(set(context.fixture.diff_allow_changed_files))
        details: dict[str, Any] = {"candidate_runpack": candidate.display, "allowed_files": allowed}
        if candidate.contents is None:
            details["error"] = candidate.error
            invalid_path = candidate.reason == "candidate_path_invalid"
            reason = "candidate_path_invalid" if invalid_path else "diff_error"
            return GraderResult(self.name, FAIL, [reason], details)
        try:
            summary = diff_runpacks(context.contents, candidate.contents, "full")
        except GaitError as exc:
            details["error"] = exc.message
            return GraderResult(self.name, FAIL, ["diff_error"], details)
        changed = set(summary.get("files_changed", []))
        for flag, item in (
            ("manifest_changed", "manifest.json"),
            ("intents_changed", "intents.jsonl"),
            ("results_changed", "results.jsonl"),
            ("refs_changed", "refs.json"),
        ):
            if summary.get(flag):
                changed.add(item)
        details["changed_files"] = sorted(changed)
        unexpected = sorted(changed - set(allowed))
        if unexpected:
            details["unexpected_files"] = unexpected
            return GraderResult(self.name, FAIL, ["unexpected_diff"], details)
        return GraderResult(self.name, PASS, [], details)


class ContextConformanceGrader:
    """The candidate's ``context_set_digest`` matches the fixture's (digest rule only).

    Of the context-proof rules this build implements the digest ones: evidence
    required but absent, and a digest that differs from
    ``expected_context_set_digest``. Receipt-level semantic/runtime drift
    classification is not implemented, so any digest difference fails.
    """

    name: ClassVar[str] = "context_conformance"
    deterministic: ClassVar[bool] = True

    def grade(self, context: GraderContext) -> GraderResult:
        """Compare the candidate's context set digest with the expectation."""
        fixture = context.fixture
        candidate = context.candidate()
        mode = fixture.context_conformance or "required"
        details: dict[str, Any] = {
            "candidate_runpack": candidate.display,
            "expected_context_set_digest": fixture.expected_context_set_digest,
        }
        if candidate.contents is None:
            details["error"] = candidate.error
            return GraderResult(self.name, FAIL, [candidate.reason], details, mode)
        actual = str(candidate.contents.refs.get("context_set_digest") or "")
        details["actual_context_set_digest"] = actual
        reasons = []
        if mode == "required" and not actual:
            reasons.append("context_evidence_missing")
        elif fixture.expected_context_set_digest and actual != fixture.expected_context_set_digest:
            reasons.append("context_set_digest_mismatch")
        return GraderResult(self.name, FAIL if reasons else PASS, reasons, details, mode)


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def _registry() -> dict[str, EntryPoint]:
    return _entry_points()


def installed_graders() -> list[str]:
    """Names registered in the ``gait_runtime.graders`` entry point group, sorted."""
    return sorted(_registry())


def load_grader(name: str) -> Grader:
    """Load the grader registered as ``name``.

    Raises:
        RegressInputError: no such grader is installed (the message lists the
            installed ones), or it fails to load or does not satisfy :class:`Grader`.
    """
    registry = _registry()
    entry = registry.get(name)
    if entry is None:
        installed = ", ".join(sorted(registry)) or "none"
        raise RegressInputError(
            f"unknown grader {name!r} (installed: {installed})", code="regress_grader_unknown"
        )
    try:
        target = entry.load()
        grader = target() if isinstance(target, type) else target
    except Exception as exc:  # a third-party plugin's import failure, named
        raise RegressInputError(
            f"grader {name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}",
            code="regress_grader_unloadable",
        ) from exc
    if not isinstance(grader, Grader) or grader.name != name:
        raise RegressInputError(
            f"grader {name!r} ({entry.value}) does not implement the Grader protocol "
            "(name, deterministic, grade)",
            code="regress_grader_unloadable",
        )
    return grader
