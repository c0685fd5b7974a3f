"""``gait regress run``: load every fixture, grade it, write the result and JUnit report.

Owns: the loading phase (config, strict runpack reads, ``fixture.json``
agreement; any failure is invalid input, exit 6, before anything is written),
the grader list (built-ins in contract order, the context grader when asked
for, extra graders by name, the determinism rule), running graders (an
exception becomes ``grader_error``), ``regress_result.json``, the JUnit file,
the failure summary (``top_failure_reason``, ``next_command``,
``artifact_paths``) and the one-look text summary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .. import __version__
from ..artifacts.fsutil import write_atomic
from ..artifacts.timefmt import ZERO_TIME_TEXT, normalize_rfc3339
from ..errors import EXIT_OK, EXIT_REGRESS_FAILED, GaitError, RegressInputError
from ..runpack import read_runpack
from .graders import (
    BUILTIN_ORDER,
    FAIL,
    Grader,
    GraderContext,
    GraderResult,
    load_grader,
)
from .junit import junit_document
from .workspace import (
    CONFIG_PATH,
    DEFAULT_OUTPUT,
    ConfigEntry,
    go_indent,
    load_config,
    load_fixture,
)

__all__ = ["MAX_SUMMARY_FAILURES", "Progress", "RunOutcome", "describe_failure", "run_regress"]

RESULT_SCHEMA: Final = "gait.regress.result"
EPOCH_1980: Final = "1980-01-01T00:00:00Z"
MAX_SUMMARY_FAILURES: Final = 10
Progress = Callable[[int, int, str], None]
"""Called after each fixture: ``(done, total, fixture_name)``."""


@dataclass
class RunOutcome:
    """A finished regress run.

    Attributes:
        fixture_set: from the config.
        graders: every grader result, named ``<fixture>/<grader>``, sorted by name.
        output: where ``regress_result.json`` was written.
        junit: where the JUnit XML was written (``""`` when not asked for).
        config: the ``--config`` path as given.
        created_at: the result's deterministic timestamp.
    """

    fixture_set: str
    graders: list[GraderResult]
    output: str
    junit: str = ""
    config: str = CONFIG_PATH
    created_at: str = EPOCH_1980
    fixtures: int = 0
    failures: list[GraderResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.failures = [g for g in self.graders if g.failed]

    @property
    def status(self) -> str:
        """``pass`` when no grader failed, else ``fail``."""
        return "fail" if self.failures else "pass"

    @property
    def exit_code(self) -> int:
        """0 on pass, 5 on a deterministic regression."""
        return EXIT_REGRESS_FAILED if self.failures else EXIT_OK

    @property
    def top_failure_reason(self) -> str:
        """First failing grader's first reason code (``grader_failed`` if none); ``""`` on pass."""
        if not self.failures:
            return ""
        return (sorted(self.failures[0].reason_codes) or ["grader_failed"])[0]

    @property
    def next_command(self) -> str:
        """The command to re-run (``--config`` kept when it is not the default); ``""`` on pass."""
        if not self.failures:
            return ""
        if self.config != CONFIG_PATH:
            return f"gait regress run --config {self.config} --json"
        return "gait regress run --json"

    @property
    def artifact_paths(self) -> list[str]:
        """The result file, and the JUnit file when written."""
        return [self.output, *([self.junit] if self.junit else [])]

    def result_document(self, producer_version: str = __version__) -> dict[str, Any]:
        """``regress_result.json`` (``gait.regress.result``) in Go's field order."""
        return {
            "schema_id": RESULT_SCHEMA,
            "schema_version": "1.0.0",
            "created_at": self.created_at,
            "producer_version": producer_version,
            "fixture_set": self.fixture_set,
            "status": self.status,
            "graders": [g.to_json() for g in self.graders],
        }

    def to_json(self) -> dict[str, Any]:
        """The ``regress run --json`` fields (zero/empty ones omitted, as Go does)."""
        out: dict[str, Any] = {
            "ok": not self.failures,
            "status": self.status,
            "fixture_set": self.fixture_set,
            "graders": len(self.graders),
            "artifact_paths": self.artifact_paths,
            "output": self.output,
        }
        optional = {
            "failed": len(self.failures),
            "top_failure_reason": self.top_failure_reason,
            "next_command": self.next_command,
            "junit": self.junit,
        }
        out.update({k: v for k, v in optional.items() if v})
        return out

    def failure_lines(self) -> list[str]:
        """One line per failing grader (at most :data:`MAX_SUMMARY_FAILURES`): what and why."""
        lines = [f"FAIL {g.name}: {describe_failure(g)}" for g in self.failures]
        if len(lines) > MAX_SUMMARY_FAILURES:
            rest = len(lines) - MAX_SUMMARY_FAILURES
            lines = [
                *lines[:MAX_SUMMARY_FAILURES],
                f"... {rest} more failing graders in {self.output}",
            ]
        return lines

    def text(self, header: str | None = None) -> list[str]:
        """The Go text lines, then the failing graders with expected vs got."""
        if not self.failures:
            lines = [
                header
                or f"regress run ok: fixture_set={self.fixture_set} graders={len(self.graders)}",
                f"output: {self.output}",
            ]
        else:
            lines = [
                header
                or f"regress run failed: fixture_set={self.fixture_set} failed={len(self.failures)}",
                f"top_failure_reason: {self.top_failure_reason}",
                f"next: {self.next_command}",
                f"artifacts: {', '.join(self.artifact_paths)}",
                f"output: {self.output}",
            ]
        if self.junit:
            lines.append(f"junit: {self.junit}")
        return lines + self.failure_lines()


def _seq(value: object) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def describe_failure(result: GraderResult) -> str:
    """``<reason codes>: <expected vs got>`` for one failing grader, on one line."""
    d = result.details
    reasons = ",".join(result.reason_codes) or "grader_failed"
    grader = result.name.rpartition("/")[2]
    facts: list[str] = []
    if "error" in d:
        facts.append(str(d["error"]))
    elif grader == "expected_exit_code":
        facts.append(
            f"expected replay exit {d.get('expected_exit_code')}, got {d.get('actual_exit_code')}"
        )
        if d.get("missing_results"):
            facts.append(f"missing results {_seq(d['missing_results'])}")
    elif grader == "trajectory":
        for kind in ("tool", "verdict"):
            if f"{kind}_sequence_mismatch_index" in d:
                facts.append(
                    f"{kind} #{d[f'{kind}_sequence_mismatch_index']}: expected "
                    f"{d[f'{kind}_sequence_expected_at_mismatch']}, got "
                    f"{d[f'{kind}_sequence_actual_at_mismatch']}"
                )
    elif grader == "diff":
        allowed = _seq(d.get("allowed_files", [])) or "nothing"
        facts.append(f"changed {_seq(d.get('unexpected_files', []))} (allowed: {allowed})")
    elif grader == "schema_validation":
        facts.append(
            f"missing files {_seq(d.get('missing_files') or []) or 'none'}, "
            f"hash mismatches {d.get('hash_mismatches', 0)}"
        )
    elif grader == "context_conformance":
        facts.append(
            f"expected context digest {d.get('expected_context_set_digest') or 'any'}, "
            f"got {d.get('actual_context_set_digest') or 'none'}"
        )
    elif isinstance(d.get("summary"), str):
        facts.append(d["summary"])
    if "candidate_runpack" in d and grader != "expected_exit_code":
        facts.append(f"candidate {d['candidate_runpack']}")
    return f"{reasons}: {'; '.join(facts)}" if facts else reasons


@dataclass(frozen=True)
class _Loaded:
    entry: ConfigEntry
    context: GraderContext


def _load(entry: ConfigEntry, root: Path) -> _Loaded:
    """Strict-read one fixture; every problem is invalid input naming the fixture."""
    where = f"fixture {entry.name}"
    runpack = Path(entry.runpack)
    on_disk = runpack if runpack.is_absolute() else root / runpack
    if not on_disk.is_file():
        raise RegressInputError(
            f"{where}: runpack not found: {entry.runpack}", code="regress_fixture_missing"
        )
    try:
        contents = read_runpack(on_disk)
        fixture = load_fixture(on_disk.parent / "fixture.json")
    except GaitError as exc:
        raise RegressInputError(f"{where}: {exc.message}", code=exc.error_code) from exc
    directory = on_disk.parent.name
    if fixture.name != entry.name or fixture.name != directory:
        raise RegressInputError(
            f"{where}: fixture.json name {fixture.name!r} must equal the config name and the "
            f"directory name {directory!r}",
            code="regress_fixture_invalid",
        )
    if fixture.runpack != runpack.name:
        raise RegressInputError(
            f"{where}: fixture.json runpack {fixture.runpack!r} is not the configured "
            f"{entry.runpack}",
            code="regress_fixture_invalid",
        )
    ids = {"config": entry.run_id or contents.run_id, "fixture.json": fixture.run_id}
    if any(v != contents.run_id for v in ids.values()):
        raise RegressInputError(
            f"{where}: run ids disagree (config {entry.run_id or '-'}, fixture.json "
            f"{fixture.run_id}, run.json {contents.run_id})",
            code="regress_fixture_invalid",
        )
    fixture_dir = os.path.dirname(os.path.normpath(entry.runpack)) or "."
    context = GraderContext(fixture, fixture_dir.replace(os.sep, "/"), entry.runpack, contents)
    return _Loaded(entry, context)


def _graders(extra: Sequence[str], context: bool, allow_nondeterministic: bool) -> list[Grader]:
    names = list(BUILTIN_ORDER)
    if context:
        names.append("context_conformance")
    names += [n for n in dict.fromkeys(x.strip() for x in extra) if n and n not in names]
    graders = [load_grader(n) for n in names]
    for grader in graders:
        if not grader.deterministic and not allow_nondeterministic:
            raise RegressInputError(
                f"grader {grader.name!r} is not deterministic; pass --allow-nondeterministic "
                "to run it",
                code="regress_grader_nondeterministic",
            )
    return graders


def _grade(grader: Grader, loaded: _Loaded) -> GraderResult:
    try:
        result = grader.grade(loaded.context)
        if not isinstance(result, GraderResult):
            raise TypeError(f"grade() returned {type(result).__name__}, not GraderResult")
    except Exception as exc:  # a grader bug is that grader's failure, not the run's
        result = GraderResult(
            grader.name, FAIL, ["grader_error"], {"error": f"{type(exc).__name__}: {exc}"}
        )
    entry = loaded.entry
    details = {**result.details, "fixture": entry.name, "run_id": loaded.context.contents.run_id}
    return GraderResult(
        name=f"{entry.name}/{grader.name}",
        status=result.status if result.status in ("pass", "fail") else FAIL,
        reason_codes=sorted(set(result.reason_codes)),
        details=details,
        context_conformance=result.context_conformance,
    )


def _writable(path: str, what: str, root: Path) -> Path:
    """The path to write, after checking its directory can hold it (nothing is created)."""
    target = Path(path) if Path(path).is_absolute() else root / path
    if target.is_dir():
        raise RegressInputError(f"{what} {path} is a directory", code="regress_output_invalid")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise RegressInputError(
            f"{what} {path}: directory {ancestor} cannot be written", code="regress_output_invalid"
        )
    return target


def _created_at(loaded: list[_Loaded]) -> str:
    text = loaded[0].context.contents.run.get("created_at") if loaded else None
    if not isinstance(text, str) or not text.strip():
        return EPOCH_1980
    try:
        normalized = normalize_rfc3339(text)
    except GaitError:
        return EPOCH_1980
    return EPOCH_1980 if normalized == ZERO_TIME_TEXT else normalized


def run_regress(
    *,
    config: str = CONFIG_PATH,
    output: str = DEFAULT_OUTPUT,
    junit: str = "",
    root: Path | None = None,
    extra_graders: Sequence[str] = (),
    context_conformance: bool = False,
    allow_nondeterministic: bool = False,
    progress: Progress | None = None,
    producer_version: str = __version__,
) -> RunOutcome:
    """Grade every configured fixture and write ``output`` (and ``junit`` when given).

    Args:
        config: the config path (``gait.yaml``); fixtures resolve against ``root``.
        output: the result path.
        junit: the JUnit XML path, ``""`` for none.
        root: the workspace directory (default: the current directory).
        extra_graders: grader names to run after the built-in ones.
        context_conformance: add the context grader to every fixture.
        allow_nondeterministic: allow graders that declare themselves non-deterministic.
        progress: called after each fixture.
        producer_version: written into the result.

    Raises:
        RegressInputError: config, fixture, runpack or grader problems, or an
            output/JUnit path that cannot be written; nothing is written then.
    """
    base = root if root is not None else Path(".")
    output = output.strip() or DEFAULT_OUTPUT
    junit = junit.strip()
    out_path = _writable(output, "output path", base)
    junit_path = _writable(junit, "junit path", base) if junit else None
    cfg_path = Path(config) if Path(config).is_absolute() else base / config
    cfg = load_config(cfg_path)
    loaded = [_load(entry, base) for entry in cfg.fixtures]
    wants_context = context_conformance or any(x.context.fixture.has_context for x in loaded)
    graders = _graders(extra_graders, wants_context, allow_nondeterministic)
    results: list[GraderResult] = []
    for done, item in enumerate(loaded, start=1):
        results.extend(_grade(g, item) for g in graders)
        if progress is not None:
            progress(done, len(loaded), item.entry.name)
    results.sort(key=lambda r: r.name)
    outcome = RunOutcome(
        fixture_set=cfg.fixture_set,
        graders=results,
        output=output,
        junit=junit,
        config=config,
        created_at=_created_at(loaded),
        fixtures=len(loaded),
    )
    write_atomic(out_path, go_indent(outcome.result_document(producer_version)), mode=0o600)
    if junit_path is not None:
        write_atomic(junit_path, junit_document(cfg.fixture_set, results), mode=0o600)
    return outcome
