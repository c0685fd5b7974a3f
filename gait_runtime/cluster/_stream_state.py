"""What a stream journal keeps between batches, in the shapes the session actor reads.

Owns: :class:`StreamDisk` (bytes on the subject; every acknowledged batch is
one durability step), :class:`StreamPosition` (the last sequence and the
checkpoint records recovered from the stream), :class:`NoLock` (a stream
journal has no writer lock file), :func:`record_msg_id` (the ``Nats-Msg-Id``
of a record), :func:`stream_lines` (the journal bytes of a subject's
messages) and :func:`uncovered_tail` (where the events no checkpoint covers
start). No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from ..supervisor.journal.records import CheckpointRecord, Envelope, HeaderRecord
from ._settings import subject_token
from .link import StoredMessage

__all__ = [
    "NoLock",
    "StreamDisk",
    "StreamPosition",
    "record_msg_id",
    "stream_lines",
    "uncovered_tail",
]

_DECODER = msgspec.json.Decoder(Envelope)


def stream_lines(messages: Sequence[StoredMessage]) -> bytes:
    """The concatenated payloads of a subject's messages: a journal, byte for byte."""
    return b"".join(m.data for m in messages)


def uncovered_tail(messages: Sequence[StoredMessage], covered_to: int) -> int:
    """Stream sequence of the first message holding an event past ``covered_to``.

    Reading the subject from there finds every event no checkpoint covers yet, also
    after a checkpoint bounded by ``checkpoint_max_events`` (its record is published
    after events it does not cover). The last message when there is no such event.
    Events ascend through the subject, so the walk goes backwards and decodes one
    event per message until a message ends at or below ``covered_to``.
    """
    tail = messages[-1].seq
    for m in reversed(messages):
        last = _last_event_sequence(m.data)
        if last is None:
            continue
        if last <= covered_to:
            break
        tail = m.seq
    return tail


def _last_event_sequence(data: bytes) -> int | None:
    if b'"record_type":"event"' not in data:
        return None
    for raw in reversed(data.splitlines()):
        if raw.strip():
            env = _DECODER.decode(raw)
            if env.event is not None:
                return env.event.sequence
    return None


def record_msg_id(header: HeaderRecord | None, suffix: str) -> str:
    """``<session token>:<run id>:<suffix>``, the message id of one record of a session."""
    assert header is not None
    return f"{subject_token(header.session_id)}:{header.run_id}:{suffix}"


class StreamDisk:
    """Bytes on the subject; every acknowledged batch counts as one durability step."""

    def __init__(self) -> None:
        self.size = 0
        self.dirty = False
        self.fsyncs = 0
        self.quarantined: list[Path] = []

    def sync(self) -> bool:
        """Nothing pending: every acknowledged batch is stored by JetStream."""
        return False


class StreamPosition:
    """The recovered sequence state of a stream journal: last sequence and checkpoints."""

    def __init__(self) -> None:
        self.last_sequence = 0
        self.checkpoints: list[CheckpointRecord] = []

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
        return max(0, self.last_sequence - self.last_checkpoint_sequence)

    def next_checkpoint_end(self, limit: int) -> int:
        """The last sequence the next checkpoint covers, at most ``limit`` events on."""
        return min(self.last_sequence, self.last_checkpoint_sequence + limit)


class NoLock:
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
