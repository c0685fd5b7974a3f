"""Where a journal stands: its header and the counters the store keeps in memory.

Owns: :class:`JournalPosition` — the header, event and checkpoint counters,
the known checkpoint records and the offset of the uncheckpointed tail; how
they are adopted from a trusted state file or a full scan, advanced by a
checkpoint, and written back as the ``J.state.json`` index. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from .records import HEADER_SCHEMA, SCHEMA_VERSION, CheckpointRecord, HeaderRecord
from .scan import JournalScan, SessionState

__all__ = ["JournalPosition", "new_header"]


def new_header(session_id: str, run_id: str, *, now: str, producer_version: str) -> HeaderRecord:
    """The header record of a new journal."""
    return HeaderRecord(
        schema_id=HEADER_SCHEMA,
        schema_version=SCHEMA_VERSION,
        created_at=now,
        producer_version=producer_version,
        session_id=session_id,
        run_id=run_id,
        started_at=now,
        events=msgspec.Raw(b"[]"),
    )


@dataclass(slots=True)
class JournalPosition:
    """The in-memory truth about an open journal (the journal is re-read only when needed).

    Attributes:
        header: the header record (None until opened).
        event_count: event records in the journal.
        last_sequence: sequence of the last event or checkpoint-covered event.
        checkpoint_count: checkpoint records in the journal.
        last_checkpoint_sequence: ``sequence_end`` of the last checkpoint.
        last_checkpoint_digest: digest of the last checkpoint.
        checkpoints: the checkpoint records, or None when adopted from a state file.
        tail_offset: byte offset after the last checkpoint record, or None when unknown.
    """

    header: HeaderRecord | None = None
    event_count: int = 0
    last_sequence: int = 0
    checkpoint_count: int = 0
    last_checkpoint_sequence: int = 0
    last_checkpoint_digest: str = ""
    checkpoints: list[CheckpointRecord] | None = None
    tail_offset: int | None = None

    def start(self, header: HeaderRecord, size: int) -> None:
        """A new journal holding only ``header`` (``size`` bytes)."""
        self.header = header
        self.event_count = self.last_sequence = self.checkpoint_count = 0
        self.last_checkpoint_sequence = 0
        self.last_checkpoint_digest = ""
        self.checkpoints = []
        self.tail_offset = size

    def adopt_state(self, state: SessionState) -> None:
        """Trust a state file that matches the journal's size (the Go CLI's shortcut)."""
        self.header = HeaderRecord(
            schema_id=HEADER_SCHEMA,
            schema_version=SCHEMA_VERSION,
            created_at=state.created_at,
            producer_version=state.producer_version,
            session_id=state.session_id,
            run_id=state.run_id,
            started_at=state.started_at,
        )
        self.event_count = state.event_count
        self.last_sequence = state.last_sequence
        self.checkpoint_count = state.checkpoint_count
        self.last_checkpoint_sequence = state.last_checkpoint_sequence
        self.last_checkpoint_digest = state.last_checkpoint_digest
        self.checkpoints = None
        self.tail_offset = None

    def adopt_scan(self, scan: JournalScan) -> None:
        """Take everything a full, validated read established."""
        self.header = scan.header
        self.event_count = scan.event_count
        self.last_sequence = scan.last_sequence
        self.checkpoints = scan.checkpoints
        self.checkpoint_count = len(scan.checkpoints)
        last = scan.checkpoints[-1] if scan.checkpoints else None
        self.last_checkpoint_sequence = last.sequence_end if last else 0
        self.last_checkpoint_digest = last.checkpoint_digest if last else ""
        self.tail_offset = scan.tail_offset

    def add_checkpoint(self, record: CheckpointRecord, size: int) -> None:
        """A checkpoint record was appended; the journal is now ``size`` bytes."""
        assert self.checkpoints is not None
        self.checkpoints.append(record)
        self.checkpoint_count = len(self.checkpoints)
        self.last_checkpoint_sequence = record.sequence_end
        self.last_checkpoint_digest = record.checkpoint_digest
        self.last_sequence = max(self.last_sequence, record.sequence_end)
        self.tail_offset = size

    def pending_events(self) -> int:
        """Events appended since the last checkpoint."""
        return max(0, self.last_sequence - self.last_checkpoint_sequence)

    def next_checkpoint_end(self, limit: int) -> int:
        """The last sequence the next checkpoint covers, at most ``limit`` events on."""
        return min(self.last_sequence, self.last_checkpoint_sequence + limit)

    def state(self, *, updated_at: str, producer_version: str, size: int) -> SessionState:
        """The ``J.state.json`` index for this position."""
        assert self.header is not None
        return SessionState(
            updated_at=updated_at,
            producer_version=producer_version,
            session_id=self.header.session_id,
            run_id=self.header.run_id,
            created_at=self.header.created_at,
            started_at=self.header.started_at,
            event_count=self.event_count,
            last_sequence=self.last_sequence,
            checkpoint_count=self.checkpoint_count,
            last_checkpoint_index=self.checkpoint_count,
            last_checkpoint_sequence=self.last_checkpoint_sequence,
            last_checkpoint_digest=self.last_checkpoint_digest,
            journal_size_bytes=size,
        )

    def status(self) -> dict[str, object]:
        """The ``status`` object of the CLI (§3)."""
        assert self.header is not None
        return {
            "session_id": self.header.session_id,
            "run_id": self.header.run_id,
            "created_at": self.header.created_at,
            "started_at": self.header.started_at,
            "event_count": self.event_count,
            "checkpoint_count": self.checkpoint_count,
            "last_sequence": self.last_sequence,
        }
