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
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import nats.js.errors

from ..artifacts.timefmt import format_ns
from ..errors import (
    GaitError,
    JournalConflictError,
    JournalUnavailableError,
    SessionInputError,
    SessionOwnedElsewhere,
    VerificationError,
)
from ..runpack import verify_runpack
from ..supervisor.journal.checkpoint import build_checkpoint_record, build_checkpoint_runpack
from ..supervisor.journal.compaction import CompactionReport, compact_bytes
from ..supervisor.journal.records import (
    HEADER_SCHEMA,
    SCHEMA_VERSION,
    CheckpointRecord,
    Envelope,
    EventFields,
    EventRecord,
    HeaderRecord,
    build_event,
    encode_line,
)
from ..supervisor.journal.scan import JournalScan, chain_bytes, scan_journal, write_chain
from ..supervisor.journal.store import CHECKPOINT_MAX_EVENTS, PreparedBatch, StoreOptions
from .link import NatsLink, StoredMessage, subject_token

if TYPE_CHECKING:
    from .leases import LeaseTable

__all__ = ["CHECKPOINT_DIR", "JetStreamJournal", "checkpoint_object_name"]

_log = logging.getLogger("gait_runtime.cluster.journal")
_DECODER = msgspec.json.Decoder(Envelope)
CHECKPOINT_DIR = "checkpoints"
"""Checkpoint records name their runpack ``checkpoints/<file>`` (relative): an
export writes the runpacks there, next to the journal and chain."""


def checkpoint_object_name(session_id: str, file_name: str) -> str:
    """Object store name of a session's checkpoint runpack."""
    return f"{subject_token(session_id)}/{file_name}"


def _lines(messages: Sequence[StoredMessage]) -> bytes:
    return b"".join(m.data for m in messages)


class _StreamDisk:
    """Bytes on the subject; every acknowledged batch counts as one durability step."""

    def __init__(self) -> None:
        self.size = 0
        self.dirty = False
        self.fsyncs = 0
        self.quarantined: list[Path] = []

    def sync(self) -> bool:
        """Nothing pending: every acknowledged batch is stored by JetStream."""
        return False


class _StreamPosition:
    """The recovered sequence state of a :class:`JetStreamJournal`."""

    def __init__(self, journal: JetStreamJournal) -> None:
        self._journal = journal
        self.last_sequence = 0

    def pending_events(self) -> int:
        """Events appended since the last checkpoint."""
        return max(0, self.last_sequence - self._journal.last_checkpoint_sequence)

    def next_checkpoint_end(self, limit: int) -> int:
        """The last sequence the next checkpoint covers, at most ``limit`` events on."""
        return min(self.last_sequence, self._journal.last_checkpoint_sequence + limit)


class _NoLock:
    """No writer lock file: ownership is the session lease and the expected sequence."""

    def __init__(self) -> None:
        self.keep = False
        self.reclaimed = 0

    @property
    def held(self) -> bool:
        """Never held."""
        return False

    def release(self) -> None:
        """Nothing to release (the session lease is given back on close)."""


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
        self.checkpoints: list[CheckpointRecord] = []
        self.subject_seq = 0
        self.tail_seq = 0
        self.disk = _StreamDisk()
        self.position = _StreamPosition(self)
        self.lease = _NoLock()
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

    def _msg_id(self, suffix: str) -> str:
        assert self.header is not None
        return f"{subject_token(self.header.session_id)}:{self.header.run_id}:{suffix}"

    @property
    def last_checkpoint_sequence(self) -> int:
        """``sequence_end`` of the last checkpoint (0 without one)."""
        return self.checkpoints[-1].sequence_end if self.checkpoints else 0

    @property
    def last_checkpoint_digest(self) -> str:
        """The chain head: the last checkpoint's digest ("" without one)."""
        return self.checkpoints[-1].checkpoint_digest if self.checkpoints else ""

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
        header = HeaderRecord(
            schema_id=HEADER_SCHEMA,
            schema_version=SCHEMA_VERSION,
            created_at=now,
            producer_version=self.options.producer_version or "0.0.0-dev",
            session_id=session_id,
            run_id=run_id,
            started_at=now,
            events=msgspec.Raw(b"[]"),
        )
        line = encode_line(Envelope("header", header=header))
        self.header = header
        seq = self._publish([line], [self._msg_id("header")], expected=0)
        self.subject_seq = self.tail_seq = seq
        self.disk.size = len(line)
        self.position.last_sequence = self.event_count = 0
        self.checkpoints = []

    def _adopt(self, messages: Sequence[StoredMessage]) -> None:
        """Recover the state from the subject's messages (validated like a file journal)."""
        data = _lines(messages)
        scan: JournalScan = scan_journal(data)
        if scan.header.session_id != self.session_id:
            raise SessionInputError(
                f"stream subject {self.subject} holds session {scan.header.session_id!r}",
                code="session_identity_mismatch",
            )
        self.header = scan.header
        self.position.last_sequence = scan.last_sequence
        self.event_count = scan.event_count
        self.checkpoints = list(scan.checkpoints)
        self.disk.size = len(data)
        self.subject_seq = messages[-1].seq
        self.tail_seq = messages[0].seq
        for m in messages:
            if b'"record_type":"checkpoint"' in m.data:
                self.tail_seq = m.seq

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
            lines, ids = [batch.data], [self._msg_id(f"{first}-{last}")]
        else:
            lines = batch.data.splitlines(keepends=True)
            ids = [self._msg_id(str(r.sequence)) for r in batch.records]
        self.subject_seq = self._publish(lines, ids, expected=self.subject_seq)
        self.disk.fsyncs += 1
        self.disk.size += len(batch.data)
        self.event_count += len(batch.records)
        if batch.records:
            self.position.last_sequence = batch.records[-1].sequence
        return batch.records

    # ------------------------------------------------------------------ reads

    def _records(self, start_seq: int = 1) -> list[Envelope]:
        messages = self.link.run(lambda: self.link.read_subject(self.subject, start_seq))
        return [_DECODER.decode(raw) for raw in _lines(messages).splitlines() if raw.strip()]

    def events_from(self, sequence: int) -> list[EventRecord]:
        """Every event with a sequence of at least ``sequence``, read from the stream."""
        start = self.tail_seq if sequence > self.last_checkpoint_sequence else 1
        return [
            env.event
            for env in self._records(start)
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
        assert self.header is not None
        self._check_lease()
        if self._resync:
            self._recover()
        events = self.events_from(self.last_checkpoint_sequence + 1)[:CHECKPOINT_MAX_EVENTS]
        if not events:
            raise SessionInputError(
                "no new session events available for checkpoint", code="checkpoint_empty"
            )
        index = len(self.checkpoints) + 1
        prev = self.last_checkpoint_digest
        now = self.options.clock.now_ns()
        pv = self.options.producer_version or self.header.producer_version
        runpack = build_checkpoint_runpack(
            self.header.session_id,
            index,
            self.header.run_id,
            events,
            created_at_ns=now,
            producer_version=pv,
            env=self.options.env,
            signing_key=self.options.signing_key,
        )
        name = Path(runpack_path).name
        data = runpack.zip_bytes()
        objects = self.link.objects
        obj_name = checkpoint_object_name(self.header.session_id, name)
        self.link.run(lambda: objects.put(obj_name, data))
        record = build_checkpoint_record(
            session_id=self.header.session_id,
            run_id=self.header.run_id,
            index=index,
            events=events,
            runpack_path=f"{CHECKPOINT_DIR}/{name}",
            manifest_digest=runpack.manifest_digest,
            prev_digest=prev,
            created_at_ns=now,
            producer_version=pv,
        )
        line = encode_line(Envelope("checkpoint", checkpoint=record))
        seq = self._publish([line], [self._msg_id(f"cp{index}")], expected=self.subject_seq)
        self.subject_seq = self.tail_seq = seq
        self.disk.size += len(line)
        self.disk.fsyncs += 1
        self.checkpoints.append(record)
        self.position.last_sequence = max(self.position.last_sequence, record.sequence_end)
        chain = chain_bytes(self.header, self.header.producer_version, self.checkpoints)
        kv = self.link.kv(self.link.settings.chain_bucket)
        key = subject_token(self.header.session_id)
        self.link.run(lambda: kv.put(key, chain))
        if chain_out is not None:
            write_chain(chain_out, chain)
            return record, chain_out
        return record, Path(f"nats:{self.link.settings.chain_bucket}/{key}")

    # -------------------------------------------------------------- compaction

    def _verify_covering(self, scan: JournalScan) -> None:
        assert scan.events is not None
        dropped = {e.sequence for e in scan.events if e.sequence <= scan.last_checkpoint_end}
        objects = self.link.objects
        with tempfile.TemporaryDirectory(prefix="gait-compact-") as tmp:
            for cp in scan.checkpoints:
                if not any(cp.sequence_start <= s <= cp.sequence_end for s in dropped):
                    continue
                name = checkpoint_object_name(scan.header.session_id, Path(cp.runpack_path).name)
                where = f"checkpoint {cp.checkpoint_index} runpack {name}"
                try:
                    result = self.link.run(lambda n=name: objects.get(n))  # type: ignore[misc]
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
        messages = self.link.run(lambda: self.link.read_subject(self.subject))
        data = _lines(messages)
        result = compact_bytes(data)
        compacted = result.events_after < result.events_before or len(result.data) != len(data)
        report = CompactionReport(
            journal_path=self.subject,
            output_path=self.subject,
            dry_run=dry_run,
            compacted=compacted,
            events_before=result.events_before,
            events_after=result.events_after,
            checkpoints=len(result.scan.checkpoints),
            last_checkpoint_sequence=result.scan.last_checkpoint_end,
            bytes_before=len(data),
            bytes_after=len(result.data),
        )
        if dry_run or not compacted:
            return report
        if result.events_after < result.events_before:
            self._verify_covering(result.scan)
        link, subject = self.link, self.subject
        msg_id = self._msg_id(
            f"compact{self.position.last_sequence}.{len(result.scan.checkpoints)}"
        )
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
            "checkpoint_count": len(self.checkpoints),
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
            _log.warning("releasing the lease of %s: %s", sid, exc)
