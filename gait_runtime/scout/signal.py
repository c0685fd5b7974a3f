"""``gait scout signal``: the streaming signal engine and the ``gait.scout.signal_report``.

Owns: :func:`build_signal_report`, which reads runpacks one at a time (session
checkpoints included), folds each into its incident family and spills its
fingerprint record to a temporary file, so memory holds one runpack plus a small
index entry per run, never the runs themselves; the baseline comparison; and
:class:`SignalReport`, which streams the report bytes (Go field order to the
file, sorted keys for ``--json``). Same inputs, in any order, give the same
bytes: no wall clock, everything sorted. Sync and offline.

Inputs that cannot be used (not a runpack, tampered, truncated traces, a
baseline of another schema) are skipped with a code and a reason and listed in
the report's ``skipped``; they never abort the run and never join a family.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from ..artifacts.schemas import validate
from ..errors import ArtifactInputError, GaitError, IOFailure
from ..runpack import read_runpack
from ._inputs import (
    Evidence,
    Skip,
    expand_files,
    expand_runs,
    read_regress_evidence,
    read_trace_evidence,
)
from ._vectors import base_severity, fingerprint_of, observe
from .baseline import compare_baseline
from .families import FamilyAccumulator, rank_families, top_issues

__all__ = [
    "EPOCH",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_ID",
    "SignalReport",
    "build_signal_report",
    "load_baseline",
]

REPORT_SCHEMA_ID: Final = "gait.scout.signal_report"
REPORT_SCHEMA: Final = "scout/signal_report"
EPOCH: Final = "1980-01-01T00:00:00Z"
"""``created_at`` of every report and fingerprint: the CLI passes no clock."""

_GO_ORDER: Final = msgspec.json.Encoder()
_SORTED: Final = msgspec.json.Encoder(order="sorted")
_DECODE: Final = msgspec.json.Decoder()

Progress = Callable[[int, int], None]
"""``progress(done, total)`` after each runpack."""


@dataclass(slots=True)
class SignalReport:
    """A finished signal report whose fingerprint records live in a spill file.

    Use as a context manager (or call :meth:`close`) to delete the spill file.
    """

    producer_version: str
    run_count: int
    families: list[dict[str, Any]]
    top_issues: list[dict[str, Any]]
    skipped: list[Skip]
    baseline: dict[str, Any] | None
    _spill: IO[bytes]
    _index: list[tuple[str, str, int, int]] = field(default_factory=list)

    def __enter__(self) -> SignalReport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the spill file."""
        self._spill.close()

    @property
    def family_count(self) -> int:
        """Number of incident families."""
        return len(self.families)

    def _records(self) -> Iterator[bytes]:
        for _, _, offset, length in self._index:
            self._spill.seek(offset)
            yield self._spill.read(length)

    def _head(self) -> dict[str, Any]:
        return {
            "schema_id": REPORT_SCHEMA_ID,
            "schema_version": "1.0.0",
            "created_at": EPOCH,
            "producer_version": self.producer_version,
            "run_count": self.run_count,
            "family_count": self.family_count,
        }

    def _tail(self) -> dict[str, Any]:
        tail: dict[str, Any] = {"families": self.families, "top_issues": self.top_issues}
        if self.skipped:
            tail["skipped"] = [s.to_json() for s in self.skipped]
        if self.baseline is not None:
            tail["baseline"] = self.baseline
        return tail

    def write(self, out: IO[bytes], *, sorted_keys: bool = False) -> None:
        """Stream the report as compact JSON (Go field order, or keys sorted at every depth)."""
        enc = _SORTED if sorted_keys else _GO_ORDER
        head, tail = self._head(), self._tail()
        parts: dict[str, Any] = {**head, "fingerprints": None, **tail}
        keys = sorted(parts) if sorted_keys else list(parts)
        out.write(b"{")
        for position, key in enumerate(keys):
            if position:
                out.write(b",")
            out.write(enc.encode(key) + b":")
            if key != "fingerprints":
                out.write(enc.encode(parts[key]))
                continue
            out.write(b"[")
            for number, record in enumerate(self._records()):
                if number:
                    out.write(b",")
                out.write(enc.encode(_DECODE.decode(record)) if sorted_keys else record)
            out.write(b"]")
        out.write(b"}")

    def to_bytes(self, *, sorted_keys: bool = False) -> bytes:
        """The whole report in memory (tests and ``--json``)."""
        buffer = io.BytesIO()
        self.write(buffer, sorted_keys=sorted_keys)
        return buffer.getvalue()

    def save(self, path: Path) -> None:
        """Write the report to ``path`` atomically: parent dirs 0750, file 0600, no newline."""
        parent = path.parent if str(path.parent) else Path(".")
        try:
            parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
        except OSError as exc:
            raise IOFailure(f"write signal report {path}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                self.write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise IOFailure(f"write signal report {path}: {exc.strerror or exc}") from exc


def load_baseline(path: str) -> tuple[dict[str, Any] | None, Skip | None]:
    """Read a previous signal report; a file of another schema is a :class:`Skip`."""
    try:
        with open(path, "rb") as handle:
            doc = msgspec.json.decode(handle.read())
    except OSError as exc:
        return None, Skip(path, "baseline", "baseline_unreadable", str(exc.strerror or exc))
    except msgspec.DecodeError as exc:
        return None, Skip(path, "baseline", "baseline_json_invalid", f"invalid JSON: {exc}")
    if not isinstance(doc, dict) or doc.get("schema_id") != REPORT_SCHEMA_ID:
        found = doc.get("schema_id") if isinstance(doc, dict) else None
        return None, Skip(
            path,
            "baseline",
            "baseline_schema_mismatch",
            f"not a {REPORT_SCHEMA_ID} (schema_id {found!r})",
        )
    try:
        validate(REPORT_SCHEMA, doc)
    except ArtifactInputError as exc:
        return None, Skip(path, "baseline", "baseline_schema_invalid", exc.message)
    return doc, None


def build_signal_report(
    runs: Sequence[str],
    *,
    traces: Sequence[str] = (),
    regress: Sequence[str] = (),
    baseline: str = "",
    producer_version: str,
    progress: Progress | None = None,
) -> SignalReport:
    """Read every run source and build the signal report.

    Args:
        runs: ``run_id``, runpack paths or directories (comma-separated items allowed).
        traces: gate trace JSON files or directories of them.
        regress: ``regress_result.json`` files or directories of them.
        baseline: a previous signal report to compare against (empty: none).
        producer_version: written into the report and every fingerprint.
        progress: called as ``progress(done, total)`` after each runpack.

    Raises:
        ArtifactInputError: no run source was given, or none could be read
            (``scout_no_runs``; the skipped inputs are in ``details``).
    """
    paths, skipped = expand_runs(runs)
    if not paths and not skipped:
        raise ArtifactInputError("missing --runs <run_id|path|dir>", code="scout_no_runs")
    evidence = Evidence()
    trace_files, trace_skips = expand_files(traces, kind="trace", suffix=".json")
    regress_files, regress_skips = expand_files(regress, kind="regress", suffix=".json")
    read_trace_evidence(trace_files, evidence)
    read_regress_evidence(regress_files, evidence)
    skipped += trace_skips + regress_skips + evidence.skipped
    base_doc: dict[str, Any] | None = None
    if baseline:
        base_doc, skip = load_baseline(baseline)
        if skip is not None:
            skipped.append(skip)
    families: dict[str, FamilyAccumulator] = {}
    # the spill file outlives this function: SignalReport.close() removes it
    spill = tempfile.TemporaryFile(prefix="gait-scout-")  # noqa: SIM115
    index: list[tuple[str, str, int, int]] = []
    try:
        for done, path in enumerate(paths, start=1):
            try:
                contents = read_runpack(path)
            except GaitError as exc:
                skipped.append(Skip(path, "runpack", exc.error_code, exc.message))
            else:
                run_id = contents.run_id
                receipts = contents.refs.get("receipts")
                obs = observe(
                    run_id=run_id,
                    source=path,
                    intents=contents.intents,
                    results=contents.results,
                    receipts=[r for r in receipts if isinstance(r, dict)]
                    if isinstance(receipts, list)
                    else [],
                    trace_reasons=sorted(evidence.trace_reasons.get(run_id, ())),
                    trace_count=evidence.trace_counts.get(run_id, 0),
                    regress_reasons=sorted(evidence.regress_reasons.get(run_id, ())),
                )
                fingerprint = fingerprint_of(obs)
                family = families.get(fingerprint)
                if family is None:
                    family = families[fingerprint] = FamilyAccumulator(
                        fingerprint, vectors=obs.vectors
                    )
                family.add(
                    run_id=run_id,
                    source=path,
                    reasons=obs.reason_code_vector,
                    base=base_severity(obs),
                )
                record = _GO_ORDER.encode(
                    obs.record(fingerprint, created_at=EPOCH, producer_version=producer_version)
                )
                index.append((run_id, path, spill.tell(), len(record)))
                spill.write(record)
            if progress is not None:
                progress(done, len(paths))
        if not index:
            raise ArtifactInputError(
                f"no runpack could be read ({len(skipped)} input(s) skipped)",
                code="scout_no_runs",
                details={"skipped": [s.to_json() for s in sorted(skipped)]},
            )
        spill.flush()
        index.sort(key=lambda item: (item[0], item[1]))
        ranked = rank_families(f.to_json() for f in families.values())
        comparison = None
        if base_doc is not None:
            vectors = {f.family_id: f.vectors for f in families.values()}
            comparison = compare_baseline(ranked, vectors, base_doc, baseline)
        return SignalReport(
            producer_version=producer_version,
            run_count=len(index),
            families=ranked,
            top_issues=top_issues(ranked),
            skipped=sorted(set(skipped)),
            baseline=comparison,
            _spill=spill,
            _index=index,
        )
    except BaseException:
        spill.close()
        raise
