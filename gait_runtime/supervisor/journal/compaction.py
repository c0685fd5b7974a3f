"""Compaction: shrink a journal to header + checkpoints + uncheckpointed events.

Owns: the pure rewrite of ``spec/sessions.md`` §5 (:func:`compact_bytes`), the
check that every checkpoint covering a dropped event still verifies
(:func:`verify_covering_checkpoints`, our addition: Go drops history without
looking at the runpacks) and the :class:`CompactionReport` the CLI prints.
Writing the result and re-syncing the session is :mod:`.store`'s job.

The Go defect of §5 (a fully checkpointed, compacted journal restarting at
sequence 1) cannot happen here: the reader derives the next sequence from
``max(last event, last checkpoint end)``, so compaction never resets it.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from ...artifacts.timefmt import normalize_rfc3339, parse_rfc3339
from ...errors import ArtifactInputError, GaitError, VerificationError
from ...runpack import verify_runpack
from .records import Envelope, HeaderRecord, encode_line
from .scan import JournalScan, scan_journal

__all__ = [
    "CompactResult",
    "CompactionReport",
    "compact_bytes",
    "compaction_report",
    "report_of",
    "verify_covering_checkpoints",
]


@dataclass(frozen=True, slots=True)
class CompactionReport:
    """The ``compaction`` object of ``gait run session compact`` (§3)."""

    journal_path: str
    output_path: str
    dry_run: bool
    compacted: bool
    events_before: int
    events_after: int
    checkpoints: int
    last_checkpoint_sequence: int
    bytes_before: int
    bytes_after: int

    def to_json(self) -> dict[str, Any]:
        """All fields (Go prints zeros and ``false`` here too)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CompactResult:
    """New journal bytes plus what the old journal contained."""

    data: bytes
    scan: JournalScan
    events_before: int
    events_after: int


def compact_bytes(data: bytes) -> CompactResult:
    """Rewrite a journal as header (``events: null``) + all checkpoints + retained events.

    Every record is re-serialised (Go field order, times re-encoded as Go
    does), so unknown fields are dropped, as in Go.

    Raises:
        SessionInputError: the journal does not pass §2.4.
    """
    scan = scan_journal(data, keep_events=True)
    assert scan.events is not None
    last_end = scan.last_checkpoint_end
    retained = [e for e in scan.events if e.sequence > last_end]
    hd = scan.header
    header = HeaderRecord(
        schema_id=hd.schema_id or "gait.runpack.session_journal",
        schema_version=hd.schema_version or "1.0.0",
        created_at=parse_rfc3339(hd.created_at, field="header.created_at").utc_text()
        if hd.created_at
        else hd.created_at,
        producer_version=hd.producer_version,
        session_id=hd.session_id,
        run_id=hd.run_id,
        started_at=parse_rfc3339(hd.started_at, field="header.started_at").utc_text()
        if hd.started_at
        else hd.started_at,
        events=msgspec.Raw(b"null"),
    )
    lines = [encode_line(Envelope("header", header=header))]
    for cp in scan.checkpoints:
        if cp.created_at:
            cp.created_at = normalize_rfc3339(cp.created_at, field="checkpoint.created_at")
        lines.append(encode_line(Envelope("checkpoint", checkpoint=cp)))
    for ev in retained:
        if ev.created_at:
            ev.created_at = normalize_rfc3339(ev.created_at, field="event.created_at")
        lines.append(encode_line(Envelope("event", event=ev)))
    return CompactResult(b"".join(lines), scan, scan.event_count, len(retained))


def verify_covering_checkpoints(scan: JournalScan) -> None:
    """Verify every checkpoint runpack that covers an event compaction would drop.

    ``runpack_path`` is opened relative to the working directory, as Go does.

    Raises:
        VerificationError: ``checkpoint_unverified``, naming the checkpoint and
            its runpack path.
    """
    assert scan.events is not None
    dropped = [e.sequence for e in scan.events if e.sequence <= scan.last_checkpoint_end]
    for cp in scan.checkpoints:
        i = bisect_left(dropped, cp.sequence_start)
        if i >= len(dropped) or dropped[i] > cp.sequence_end:
            continue
        where = f"checkpoint {cp.checkpoint_index} runpack {cp.runpack_path}"
        try:
            report = verify_runpack(cp.runpack_path)
        except (ArtifactInputError, VerificationError) as exc:
            raise VerificationError(
                f"refusing to compact: {where} cannot be verified: {exc}",
                code="checkpoint_unverified",
            ) from exc
        except GaitError:
            raise
        if not report.ok or report.manifest_digest.lower() != cp.manifest_digest.lower():
            raise VerificationError(
                f"refusing to compact: {where} fails verification",
                code="checkpoint_unverified",
            )


def compaction_report(
    journal: Path, target: Path, data: bytes, result: CompactResult, *, dry_run: bool
) -> CompactionReport:
    """What compacting ``journal`` (bytes ``data``) into ``target`` does: the §3 report.

    ``compacted`` is true when events are dropped, the output is another file,
    or the bytes change (a Go ``events: null`` header, blank lines).
    """
    in_place = os.path.abspath(target) == os.path.abspath(journal)
    return report_of(str(journal), str(target), data, result, dry_run=dry_run, in_place=in_place)


def report_of(
    journal: str,
    output: str,
    data: bytes,
    result: CompactResult,
    *,
    dry_run: bool,
    in_place: bool = True,
) -> CompactionReport:
    """The §3 report of compacting ``journal`` (bytes ``data``) into ``output`` (a file
    path or a stream subject); ``compacted`` as :func:`compaction_report` says."""
    compacted = (
        result.events_after < result.events_before or not in_place or len(result.data) != len(data)
    )
    return CompactionReport(
        journal_path=journal,
        output_path=output,
        dry_run=dry_run,
        compacted=compacted,
        events_before=result.events_before,
        events_after=result.events_after,
        checkpoints=len(result.scan.checkpoints),
        last_checkpoint_sequence=result.scan.last_checkpoint_end,
        bytes_before=len(data),
        bytes_after=len(result.data),
    )
