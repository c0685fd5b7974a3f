"""Checkpoints of a stream journal: where their runpacks live and how one is built.

Owns: :data:`CHECKPOINT_DIR` and :func:`checkpoint_object_name` (a
checkpoint runpack's name in the object store bucket and, after an export,
on disk) and :func:`build_stream_checkpoint` (the runpack bytes, the record
and its journal line for the next checkpoint; CPU only). Storing them, in
the order runpack → record → chain, is :class:`~.journal.JetStreamJournal`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..supervisor.journal.checkpoint import build_checkpoint_record, build_checkpoint_runpack
from ..supervisor.journal.records import (
    CheckpointRecord,
    Envelope,
    EventRecord,
    HeaderRecord,
    encode_line,
)
from ..supervisor.journal.store import StoreOptions
from ._settings import subject_token

__all__ = [
    "CHECKPOINT_DIR",
    "StreamCheckpoint",
    "build_stream_checkpoint",
    "checkpoint_object_name",
]

CHECKPOINT_DIR = "checkpoints"
"""Checkpoint records name their runpack ``checkpoints/<file>`` (relative): an
export writes the runpacks there, next to the journal and chain."""


def checkpoint_object_name(session_id: str, file_name: str) -> str:
    """Object store name of a session's checkpoint runpack."""
    return f"{subject_token(session_id)}/{file_name}"


@dataclass(frozen=True, slots=True)
class StreamCheckpoint:
    """One checkpoint ready to store: the runpack (object name, zip bytes) and its record."""

    object_name: str
    runpack: bytes
    record: CheckpointRecord
    line: bytes


def build_stream_checkpoint(
    header: HeaderRecord,
    options: StoreOptions,
    *,
    index: int,
    prev_digest: str,
    events: Sequence[EventRecord],
    file_name: str,
) -> StreamCheckpoint:
    """Build checkpoint ``index`` over ``events`` (the record names ``checkpoints/<file_name>``)."""
    now = options.clock.now_ns()
    pv = options.producer_version or header.producer_version
    runpack = build_checkpoint_runpack(
        header.session_id,
        index,
        header.run_id,
        events,
        created_at_ns=now,
        producer_version=pv,
        env=options.env,
        signing_key=options.signing_key,
    )
    record = build_checkpoint_record(
        session_id=header.session_id,
        run_id=header.run_id,
        index=index,
        events=events,
        runpack_path=f"{CHECKPOINT_DIR}/{file_name}",
        manifest_digest=runpack.manifest_digest,
        prev_digest=prev_digest,
        created_at_ns=now,
        producer_version=pv,
    )
    return StreamCheckpoint(
        object_name=checkpoint_object_name(header.session_id, file_name),
        runpack=runpack.zip_bytes(),
        record=record,
        line=encode_line(Envelope("checkpoint", checkpoint=record)),
    )
