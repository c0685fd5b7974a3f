"""Compaction of a stream journal: the report and the covering-checkpoint check.

Owns: :func:`stream_compaction_report` (what ``gait run session compact``
prints for a subject) and :func:`verify_stream_covering` (every checkpoint
runpack covering an event compaction would drop is in the object store and
verifies; the stream twin of
:func:`~gait_runtime.supervisor.journal.compaction.verify_covering_checkpoints`).
Replacing the subject with the rollup message is
:class:`~.journal.JetStreamJournal`'s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nats.js.errors

from ..errors import VerificationError
from ..runpack import verify_runpack
from ..supervisor.journal.compaction import CompactionReport, CompactResult, report_of
from ..supervisor.journal.scan import JournalScan
from ._stream_checkpoint import checkpoint_object_name
from .link import NatsLink

__all__ = ["stream_compaction_report", "verify_stream_covering"]


def stream_compaction_report(
    subject: str, data: bytes, result: CompactResult, *, dry_run: bool
) -> CompactionReport:
    """The report of compacting ``data`` (the subject's bytes) into ``result``."""
    return report_of(subject, subject, data, result, dry_run=dry_run)


def verify_stream_covering(link: NatsLink, scan: JournalScan) -> None:
    """Verify every checkpoint runpack (from the object store) covering a dropped event.

    Raises:
        VerificationError: ``checkpoint_unverified``: a runpack is missing or fails.
    """
    assert scan.events is not None
    dropped = {e.sequence for e in scan.events if e.sequence <= scan.last_checkpoint_end}
    objects = link.objects
    with tempfile.TemporaryDirectory(prefix="gait-compact-") as tmp:
        for cp in scan.checkpoints:
            if not any(cp.sequence_start <= s <= cp.sequence_end for s in dropped):
                continue
            name = checkpoint_object_name(scan.header.session_id, Path(cp.runpack_path).name)
            where = f"checkpoint {cp.checkpoint_index} runpack {name}"
            try:
                result = link.run(lambda n=name: objects.get(n))  # type: ignore[misc]
            except nats.js.errors.NotFoundError as exc:
                raise VerificationError(
                    f"refusing to compact: {where} is not in the object store",
                    code="checkpoint_unverified",
                ) from exc
            local = Path(tmp) / Path(cp.runpack_path).name
            local.write_bytes(result.data or b"")
            report = verify_runpack(local)
            if not report.ok or report.manifest_digest.lower() != cp.manifest_digest.lower():
                raise VerificationError(
                    f"refusing to compact: {where} fails verification",
                    code="checkpoint_unverified",
                )
