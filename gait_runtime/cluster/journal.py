"""A session journal on NATS JetStream (the :class:`~gait_runtime.supervisor.backend.JournalBackend`).

Owns: :class:`JetStreamJournal`, one session's journal as the messages of
subject ``gait.session.<id>`` in the shared session stream. Each message is
one journal line, byte for byte what the file journal would write (the
concatenated payloads of a subject *are* a valid journal), with ``Nats-Msg-Id``
= the record's id (``<session token>:<run id>:<sequence>``, ``…:header``,
``…:cp<index>``). An actor batch is one atomic JetStream batch (or, with
``batch_mode=packed``, one message holding the batch's lines, id
``…:<first>-<last>``) whose first message carries the subject's expected last
sequence: two writers for one
session can never interleave (the loser gets
:class:`~gait_runtime.errors.JournalConflictError` and stored nothing), a
retried batch is never stored twice, and callers are answered only after
JetStream acknowledged the whole batch.

Opening a session takes its lease (see :mod:`.leases`) and recovers its state
from the stream (header, last sequence, checkpoint chain head, the subject's
last stream sequence) before the first answer. Checkpoint runpacks go to the
object store bucket, the chain document to the chain KV bucket; compaction
replaces the subject with one rollup message holding the compacted journal.
The state kept between batches is in :mod:`._stream_state`, checkpoint
building in :mod:`._stream_checkpoint`, the compaction report and check in
:mod:`._stream_compaction`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import nats.js.errors
import structlog

from ..artifacts.timefmt import format_ns
from ..errors import (
    GaitError,
    JournalConflictError,
    JournalUnavailableError,
    SessionInputError,
    SessionOwnedElsewhere,
)
from ..supervisor.journal.compaction import CompactionReport, compact_bytes
from ..supervisor.journal.position import new_header
from ..supervisor.journal.records import (
    CheckpointRecord,
    Envelope,
    EventFields,
    EventRecord,
    HeaderRecord,
    build_event,
    encode_line,
)
from ..supervisor.journal.scan import JournalScan, chain_bytes, scan_journal, write_chain
from ..supervisor.journal.store import PreparedBatch, StoreOptions
from ._settings import subject_token
from ._stream_checkpoint import build_stream_checkpoint
from ._stream_compaction import stream_compaction_report, verify_stream_covering
from ._stream_state import (
    NoLock,
    StreamDisk,
    StreamPosition,
    record_msg_id,
    stream_lines,
    uncovered_tail,
)
from .link import NatsLink, StoredMessage

if TYPE_CHECKING:
    from .leases import LeaseTable

__all__ = ["JetStreamJournal"]

_log = structlog.get_logger("gait_runtime.cluster.journal")
_DECODER = msgspec.json.Decoder(Envelope)


class JetStreamJournal:
    """One session's journal on the shared stream.

    Args:
        path: a label for logs and acknowledgements (``nats:<stream>/<subject>``).
        options: producer version, clock, signing key, checkpoint ``env``.
        link: the cluster connection.
        leases: the supervisor's lease table (``None``: no ownership, one writer
            is guaranteed by the expected-sequence check alone).
    """

    def __init__(
        self,
        path: Path,
        options: StoreOptions,
        link: NatsLink,
        leases: LeaseTable | None = None,
    ) -> None:
        self.path = path
        self.options = options
        self.link = link
        self.leases = leases
        self.subject = ""
        self.session_id = ""
        self.header: HeaderRecord | None = None
        self.event_count = 0
        self.subject_seq = 0
        self.tail_seq = 0
        self.disk = StreamDisk()
        self.position = StreamPosition()
        self.lease = NoLock()
        self.took_over = False
        self._resync = False

    # ---------------------------------------------------------------- helpers

    @property
    def last_sequence(self) -> int:
        """Highest sequence appended (0 before the first event)."""
        return self.position.last_sequence

    def direct_fd(self) -> int | None:
        """No descriptor: every batch is a publish."""
        return None

    def direct_done(self, batch: PreparedBatch) -> list[EventRecord]:
        """Never called (:meth:`direct_fd` is ``None``)."""
        raise JournalUnavailableError("a JetStream journal has no descriptor")

    def direct_repair(
        self, batch: PreparedBatch, written: int, error: OSError | None
    ) -> list[EventRecord]:
        """Never called (:meth:`direct_fd` is ``None``)."""
        raise JournalUnavailableError("a JetStream journal has no descriptor")

    def pending_events(self) -> int:
        """Events appended since the last checkpoint."""
        return self.position.pending_events()

    # ------------------------------------------------------------ open/recover

    def open(
        self, session_id: str = "", run_id: str = "", *, create: bool = True, full: bool = True
    ) -> bool:
        """Take the session's lease, then recover its state from the stream.

        Raises:
            SessionOwnedElsewhere: another supervisor holds the lease.
            SessionInputError: the stored journal is invalid or is another run's.
            JournalUnavailableError: the cluster did not answer in time.
        """
        sid, rid = session_id.strip(), run_id.strip()
        if not sid:
            raise SessionInputError("session_id is required", code="session_start_invalid")
        self.session_id = sid
        self.subject = self.link.settings.subject(sid)
        if self.leases is not None:
            leases = self.leases
            self.took_over = self.link.run(lambda: leases.acquire(sid))
        messages = self.link.run(lambda: self.link.read_subject(self.subject))
        if not messages:
            if not create:
                raise SessionInputError(
                    f"session journal not found: {self.subject}", code="session_journal_missing"
                )
            if not rid:
                raise SessionInputError(
                    "session_id and run_id are required to start a session",
                    code="session_start_invalid",
                )
            try:
                self._create(sid, rid)
                return True
            except JournalConflictError:
                messages = self.link.run(lambda: self.link.read_subject(self.subject))
        self._adopt(messages)
        assert self.header is not None
        if rid and rid != self.header.run_id:
            raise SessionInputError(
                "session journal already initialized with different session/run",
                code="session_identity_mismatch",
                details={"journal": self.subject},
            )
        return False

    def _create(self, session_id: str, run_id: str) -> None:
        now = format_ns(self.options.clock.now_ns())
        pv = self.options.producer_version or "0.0.0-dev"
        header = new_header(session_id, run_id, now=now, producer_version=pv)
        line = encode_line(Envelope("header", header=header))
        self.header = header
        seq = self._publish([line], [record_msg_id(self.header, "header")], expected=0)
        self.subject_seq = self.tail_seq = seq
        self.disk.size = len(line)
        self.position.last_sequence = self.event_count = 0
        self.position.checkpoints = []

    def _adopt(self, messages: Sequence[StoredMessage]) -> None:
        """Recover the state from the subject's messages (validated like a file journal)."""
        data = stream_lines(messages)
        scan: JournalScan = scan_journal(data)
        if scan.header.session_id != self.session_id:
            raise SessionInputError(
                f"stream subject {self.subject} holds session {scan.header.session_id!r}",
                code="session_identity_mismatch",
            )
        self.header = scan.header
        self.position.last_sequence = scan.last_sequence
        self.event_count = scan.event_count
        self.position.checkpoints = list(scan.checkpoints)
        self.disk.size = len(data)
        self.subject_seq = messages[-1].seq
        self.tail_seq = uncovered_tail(messages, self.position.last_checkpoint_sequence)

    def _recover(self) -> None:
        """Re-read the subject after a failure whose outcome was unknown."""
        messages = self.link.run(lambda: self.link.read_subject(self.subject))
        if messages:
            self._adopt(messages)
        self._resync = False

    # ---------------------------------------------------------------- appends

    def _publish(self, lines: Sequence[bytes], ids: Sequence[str], *, expected: int) -> int:
        """One atomic batch; on an unknown outcome, find out from the stream."""
        link = self.link
        subject = self.subject
        try:
            return link.run(lambda: link.publish_batch(subject, lines, ids, expected))
        except JournalConflictError:
            last = link.run(lambda: link.last_message(subject))
            if last is not None and last.msg_id == ids[-1] and last.data == lines[-1]:
                return last.seq  # our own earlier attempt landed
            self._resync = True
            raise
        except nats.js.errors.APIError as exc:
            self._resync = True
            raise JournalUnavailableError(
                f"NATS JetStream refused the append to {subject}: {exc.description or exc}"
            ) from exc
        except JournalUnavailableError:
            self._resync = True
            with contextlib.suppress(GaitError):
                last = link.run(lambda: link.last_message(subject))
                if last is not None and last.msg_id == ids[-1] and last.data == lines[-1]:
                    self._resync = False
                    return last.seq
            raise

    def _check_lease(self) -> None:
        leases = self.leases
        if leases is not None and not leases.holds(self.session_id):
            raise SessionOwnedElsewhere(
                f"session {self.session_id}: this supervisor lost its lease; "
                "the session continues on its new owner"
            )

    def prepare(self, items: Sequence[tuple[EventFields, int]]) -> PreparedBatch:
        """Build and encode a batch with the next sequences (CPU only)."""
        assert self.header is not None
        sid, rid = self.header.session_id, self.header.run_id
        pv = self.options.producer_version or self.header.producer_version
        first = self.position.last_sequence + 1
        records = [build_event(sid, rid, first + i, f, t, pv) for i, (f, t) in enumerate(items)]
        data = b"".join(encode_line(Envelope("event", event=r)) for r in records)
        return PreparedBatch(first, items, records, data)

    def commit(self, batch: PreparedBatch, *, fsync: bool | None = None) -> list[EventRecord]:
        """Publish the batch as one atomic JetStream batch; return after the ack.

        Raises:
            SessionOwnedElsewhere: the lease was lost (another supervisor owns it).
            JournalConflictError: another writer appended first; nothing stored.
            JournalUnavailableError: no acknowledgement in time; nothing is
                reported as appended (the next batch first re-reads the stream).
        """
        self._check_lease()
        if self._resync:
            self._recover()
        if batch.first_sequence != self.position.last_sequence + 1:
            batch = self.prepare(batch.items)
        if self.link.settings.batch_mode == "packed" and len(batch.records) > 1:
            first, last = batch.records[0].sequence, batch.records[-1].sequence
            lines, ids = [batch.data], [record_msg_id(self.header, f"{first}-{last}")]
        else:
            lines = batch.data.splitlines(keepends=True)
            ids = [record_msg_id(self.header, str(r.sequence)) for r in batch.records]
        self.subject_seq = self._publish(lines, ids, expected=self.subject_seq)
        self.disk.fsyncs += 1
        self.disk.size += len(batch.data)
        self.event_count += len(batch.records)
        if batch.records:
            self.position.last_sequence = batch.records[-1].sequence
        return batch.records

    # ------------------------------------------------------------------ reads

    def events_from(self, sequence: int) -> list[EventRecord]:
        """Every event with a sequence of at least ``sequence``, read from the stream."""
        start = self.tail_seq if sequence > self.position.last_checkpoint_sequence else 1
        messages = self.link.run(lambda: self.link.read_subject(self.subject, start))
        lines = stream_lines(messages).splitlines()
        envelopes = [_DECODER.decode(raw) for raw in lines if raw.strip()]
        return [
            env.event
            for env in envelopes
            if env.event is not None and env.event.sequence >= sequence
        ]

    # ------------------------------------------------------------ checkpoints

    def checkpoint(
        self, runpack_path: Path, *, chain_out: Path | None = None
    ) -> tuple[CheckpointRecord, Path]:
        """Checkpoint the pending events: runpack to the object store, record to
        the stream, chain to KV (in that order, so a record never names a
        runpack that is not stored).

        The record's ``runpack_path`` is ``checkpoints/<runpack_path.name>``.

        Raises:
            SessionInputError: no new events (``checkpoint_empty``).
        """
        header = self.header
        assert header is not None
        self._check_lease()
        if self._resync:
            self._recover()
        position = self.position
        limit = self.options.checkpoint_max_events
        events = self.events_from(position.last_checkpoint_sequence + 1)[:limit]
        if not events:
            raise SessionInputError(
                "no new session events available for checkpoint", code="checkpoint_empty"
            )
        index = len(position.checkpoints) + 1
        cp = build_stream_checkpoint(
            header,
            self.options,
            index=index,
            prev_digest=position.last_checkpoint_digest,
            events=events,
            file_name=Path(runpack_path).name,
        )
        objects = self.link.objects
        self.link.run(lambda: objects.put(cp.object_name, cp.runpack))
        msg_id = record_msg_id(header, f"cp{index}")
        seq = self._publish([cp.line], [msg_id], expected=self.subject_seq)
        self.subject_seq = seq
        if cp.record.sequence_end >= position.last_sequence:
            self.tail_seq = seq  # nothing left uncovered; else the tail stays before the record
        self.disk.size += len(cp.line)
        self.disk.fsyncs += 1
        position.checkpoints.append(cp.record)
        position.last_sequence = max(position.last_sequence, cp.record.sequence_end)
        chain = chain_bytes(header, header.producer_version, position.checkpoints)
        kv = self.link.kv(self.link.settings.chain_bucket)
        key = subject_token(header.session_id)
        self.link.run(lambda: kv.put(key, chain))
        if chain_out is not None:
            write_chain(chain_out, chain)
            return cp.record, chain_out
        return cp.record, Path(f"nats:{self.link.settings.chain_bucket}/{key}")

    # -------------------------------------------------------------- compaction

    def compact(self, out: Path | None = None, *, dry_run: bool = False) -> CompactionReport:
        """Replace the subject with the compacted journal (one ``Nats-Rollup: sub`` message).

        Raises:
            SessionInputError: ``out`` given (a stream journal compacts in place).
            VerificationError: a covering checkpoint runpack does not verify.
        """
        if out is not None:
            raise SessionInputError(
                "a JetStream journal compacts in place; export it to write a file",
                code="compact_out_unsupported",
            )
        self._check_lease()
        link, subject = self.link, self.subject
        messages = link.run(lambda: link.read_subject(subject))
        data = stream_lines(messages)
        result = compact_bytes(data)
        report = stream_compaction_report(subject, data, result, dry_run=dry_run)
        if dry_run or not report.compacted:
            return report
        if result.events_after < result.events_before:
            verify_stream_covering(link, result.scan)
        suffix = f"compact{self.position.last_sequence}.{len(result.scan.checkpoints)}"
        msg_id = record_msg_id(self.header, suffix)
        seq = link.run(lambda: link.rollup(subject, result.data, msg_id, messages[-1].seq))
        self.subject_seq = self.tail_seq = seq
        self.disk.size = len(result.data)
        self.event_count = result.events_after
        return report

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, object]:
        """The ``status`` object of the CLI, from the recovered state."""
        assert self.header is not None
        return {
            "session_id": self.header.session_id,
            "run_id": self.header.run_id,
            "created_at": self.header.created_at,
            "started_at": self.header.started_at,
            "event_count": self.event_count,
            "checkpoint_count": len(self.position.checkpoints),
            "last_sequence": self.position.last_sequence,
        }

    def close(self, *, final_state: bool = True) -> None:
        """Give the lease back (a clean stop lets the next owner take over at once)."""
        leases = self.leases
        if leases is None or not self.session_id:
            return
        sid = self.session_id
        try:
            self.link.run(lambda: leases.release(sid))
        except GaitError as exc:
            _log.warning("lease_release_failed", session_id=sid, error=exc.message)
