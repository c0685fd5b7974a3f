"""Post-run verification: every journal and chain is valid, and nothing acknowledged was lost.

Owns: the checks run after the supervisor has stopped, each with a stable name
used in problems, the report and the exit message:

``journal_valid``
    the journal passes the reader rules of ``spec/sessions.md`` §2.4
    (:func:`~gait_runtime.supervisor.journal.scan.scan_journal`).
``malformed_lines``
    every non-blank line is a JSON object (counted; the budget is 0).
``torn_tail``
    the journal ends with a complete line (a drained supervisor leaves no tear).
``chain_valid``
    the session chain verifies (:func:`~gait_runtime.supervisor.journal.chain.verify_chain`,
    which also verifies every checkpoint runpack) and lists the journal's checkpoints.
``ack_present``
    every acknowledged decision (``acks.jsonl``: journal, sequence, trace id) is in
    its journal with that sequence and trace id, or, when compaction removed it,
    in the checkpoint runpack covering that sequence at the matching position.
``ack_unique``
    no sequence of a journal was acknowledged to two different decisions.
``trace_present``
    the signed trace file of every acknowledged decision exists (skipped when a
    retention rule may delete traces).

Reads files only; never repairs anything. Does not own: running the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from ..errors import GaitError
from ..runpack import read_runpack
from ..supervisor.journal.chain import verify_chain
from ..supervisor.journal.records import CheckpointRecord
from ..supervisor.journal.scan import chain_path_for, scan_journal, split_torn_tail

__all__ = ["CHECKS", "Problem", "VerifyResult", "iter_acks", "verify_run"]

CHECKS: Final = (
    "journal_valid",
    "malformed_lines",
    "torn_tail",
    "chain_valid",
    "ack_present",
    "ack_unique",
    "trace_present",
)
_MAX_PROBLEMS_PER_CHECK: Final = 20
"""Problems listed per check (the counters keep counting beyond)."""


class _Ack(msgspec.Struct, frozen=True):
    journal: str
    sequence: int
    trace_id: str = ""
    trace_path: str = ""
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """One failed check.

    Attributes:
        check: the check's name (see :data:`CHECKS`).
        journal: the journal concerned (empty when none).
        detail: what is wrong, naming the sequence or line.
    """

    check: str
    journal: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """The problem as a JSON object."""
        return {"check": self.check, "journal": self.journal, "detail": self.detail}


@dataclass(slots=True)
class VerifyResult:
    """Everything verification established.

    Attributes:
        journals: journals read.
        events: event records present in the journals.
        checkpoints: checkpoint records in the journals.
        chains_verified: chain files verified.
        malformed_lines: non-blank lines that are not JSON objects.
        torn_tails: journals ending in an incomplete line.
        acknowledged: acknowledgements checked.
        acknowledged_in_journal: found as journal events.
        acknowledged_in_checkpoints: found only in a checkpoint runpack (compacted).
        acknowledged_missing: not found anywhere.
        failures: check name → number of failures.
        problems: the first problems of each check.
    """

    journals: int = 0
    events: int = 0
    checkpoints: int = 0
    chains_verified: int = 0
    malformed_lines: int = 0
    torn_tails: int = 0
    acknowledged: int = 0
    acknowledged_in_journal: int = 0
    acknowledged_in_checkpoints: int = 0
    acknowledged_missing: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return not self.failures

    def fail(self, check: str, journal: Path | str, detail: str) -> None:
        """Count a failure of ``check`` and keep its description (bounded per check)."""
        count = self.failures.get(check, 0)
        self.failures[check] = count + 1
        if count < _MAX_PROBLEMS_PER_CHECK:
            self.problems.append(Problem(check, str(journal), detail))

    def to_json(self) -> dict[str, Any]:
        """The result as the report's ``verification`` object."""
        return {
            "ok": self.ok,
            "journals": self.journals,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "chains_verified": self.chains_verified,
            "malformed_lines": self.malformed_lines,
            "torn_tails": self.torn_tails,
            "acknowledged": self.acknowledged,
            "acknowledged_in_journal": self.acknowledged_in_journal,
            "acknowledged_in_checkpoints": self.acknowledged_in_checkpoints,
            "acknowledged_missing": self.acknowledged_missing,
            "failures": dict(sorted(self.failures.items())),
            "problems": [p.to_json() for p in self.problems],
        }


def iter_acks(path: Path) -> Iterator[_Ack]:
    """Acknowledgements recorded by the driver (a torn last line is ignored)."""
    if not path.exists():
        return
    decoder = msgspec.json.Decoder(_Ack)
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            yield decoder.decode(line)


@dataclass(slots=True)
class _Journal:
    path: Path
    events: dict[int, tuple[str, str]] = field(default_factory=dict)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    readable: bool = False
    timelines: dict[int, list[str]] = field(default_factory=dict)


def _count_malformed(result: VerifyResult, path: Path, data: bytes) -> None:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            value = None
        if not isinstance(value, dict):
            result.malformed_lines += 1
            result.fail("malformed_lines", path, f"line {number} is not a JSON object")


def _read_journal(result: VerifyResult, path: Path) -> _Journal:
    journal = _Journal(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.fail("journal_valid", path, f"unreadable: {exc.strerror or exc}")
        return journal
    result.journals += 1
    good, torn = split_torn_tail(data)
    if torn:
        result.torn_tails += 1
        result.fail("torn_tail", path, f"{len(torn)} bytes after the last complete record")
    _count_malformed(result, path, data[:good])
    try:
        scan = scan_journal(data[:good], keep_events=True)
    except GaitError as exc:
        result.fail("journal_valid", path, exc.message)
        return journal
    journal.readable = True
    journal.checkpoints = scan.checkpoints
    journal.events = {ev.sequence: (ev.trace_id, ev.trace_path) for ev in scan.events or ()}
    result.events += len(journal.events)
    result.checkpoints += len(scan.checkpoints)
    _check_chain(result, journal)
    return journal


def _check_chain(result: VerifyResult, journal: _Journal) -> None:
    chain = chain_path_for(journal.path)
    if not journal.checkpoints and not chain.exists():
        return
    try:
        report = verify_chain(chain)
    except GaitError as exc:
        result.fail("chain_valid", journal.path, exc.message)
        return
    result.chains_verified += 1
    for message in [*report.linkage_errors, *report.checkpoint_errors]:
        result.fail("chain_valid", journal.path, message)
    if report.checkpoints_checked != len(journal.checkpoints):
        result.fail(
            "chain_valid",
            journal.path,
            f"chain lists {report.checkpoints_checked} checkpoints, "
            f"journal has {len(journal.checkpoints)}",
        )


def _timeline(result: VerifyResult, journal: _Journal, cp: CheckpointRecord) -> list[str]:
    cached = journal.timelines.get(cp.checkpoint_index)
    if cached is not None:
        return cached
    refs: list[str] = []
    try:
        contents = read_runpack(cp.runpack_path)
        refs = [
            str(entry.get("ref", ""))
            for entry in contents.run.get("timeline", ())
            if isinstance(entry, dict) and entry.get("event") == "session_event"
        ]
    except GaitError as exc:
        result.fail(
            "chain_valid",
            journal.path,
            f"checkpoint {cp.checkpoint_index} runpack unreadable: {exc.message}",
        )
    journal.timelines = {cp.checkpoint_index: refs}
    return refs


def _check_ack(result: VerifyResult, journal: _Journal, ack: _Ack) -> None:
    found = journal.events.get(ack.sequence)
    if found is not None:
        if found[0] != ack.trace_id or (ack.trace_path and found[1] != ack.trace_path):
            result.acknowledged_missing += 1
            result.fail(
                "ack_present",
                journal.path,
                f"sequence {ack.sequence} holds trace {found[0]}, "
                f"but trace {ack.trace_id} was acknowledged",
            )
        else:
            result.acknowledged_in_journal += 1
        return
    for cp in journal.checkpoints:
        if cp.sequence_start <= ack.sequence <= cp.sequence_end:
            refs = _timeline(result, journal, cp)
            index = ack.sequence - cp.sequence_start
            if index < len(refs) and refs[index] == ack.trace_id:
                result.acknowledged_in_checkpoints += 1
                return
            break
    result.acknowledged_missing += 1
    result.fail(
        "ack_present",
        journal.path,
        f"acknowledged decision sequence {ack.sequence} (trace {ack.trace_id}) is missing",
    )


def verify_run(
    session_dir: Path, acks_path: Path, *, check_trace_files: bool = True
) -> VerifyResult:
    """Verify every journal under ``session_dir`` and every acknowledgement in ``acks_path``.

    Args:
        session_dir: the supervisor's session directory (``*.journal.jsonl``).
        acks_path: the driver's ``acks.jsonl``.
        check_trace_files: also require the trace file of each acknowledgement.

    Returns:
        The result; ``ok`` is false when any check failed.
    """
    result = VerifyResult()
    journals: dict[Path, _Journal] = {}
    for path in sorted(session_dir.glob("*.journal.jsonl")):
        journals[path.resolve()] = _read_journal(result, path)
    seen: dict[tuple[Path, int], str] = {}
    for ack in iter_acks(acks_path):
        result.acknowledged += 1
        key = Path(ack.journal).resolve()
        previous = seen.get((key, ack.sequence))
        if previous is not None and previous != ack.trace_id:
            result.fail(
                "ack_unique",
                ack.journal,
                f"sequence {ack.sequence} acknowledged for traces {previous} and {ack.trace_id}",
            )
        seen[(key, ack.sequence)] = ack.trace_id
        journal = journals.get(key)
        if journal is None:
            result.acknowledged_missing += 1
            result.fail(
                "ack_present",
                ack.journal,
                f"journal of acknowledged sequence {ack.sequence} does not exist",
            )
        elif journal.readable:
            _check_ack(result, journal, ack)
        if check_trace_files and ack.trace_path and not Path(ack.trace_path).exists():
            result.fail("trace_present", ack.journal, f"trace file missing: {ack.trace_path}")
    return result
