"""Reading a journal back: the full scan with torn-tail repair, the uncheckpointed tail, events.

Owns: :func:`full_scan` (validate the whole journal, move a torn final line to
a quarantine file and cut the journal back to its last good line, then adopt
what was read into the counters), :func:`tail_events` (the events after the
last checkpoint, read line by line and bounded, for the next checkpoint) and
:func:`events_since` (every event from a sequence on). The
:class:`~.store.JournalStore` calls these under its session lock; nothing here
takes a lock or writes a record.
"""

from __future__ import annotations

from typing import Final

import msgspec

from .disk import JournalDisk
from .files import io_error
from .position import JournalPosition
from .records import Envelope, EventRecord
from .scan import scan_journal, split_torn_tail

__all__ = ["events_since", "full_scan", "tail_events"]

_DECODER: Final = msgspec.json.Decoder(Envelope)


def full_scan(disk: JournalDisk, position: JournalPosition) -> None:
    """Validate the whole journal, repair a torn final line, adopt the result.

    Raises:
        SessionInputError: the journal (apart from a torn final line) is invalid.
        IOFailure: the journal cannot be read or the torn tail not moved.
    """
    data = disk.read_all()
    good, torn = split_torn_tail(data)
    # Judge what stays before moving anything: only a torn *final* line is
    # repaired. When the rest is invalid too, nothing is quarantined and every
    # start refuses the journal with the same error (never one line per try).
    scan = scan_journal(data[:good] if torn else data)
    if torn:
        disk.quarantine(torn, good)
    position.adopt_scan(scan)
    disk.size = scan.size


def tail_events(
    disk: JournalDisk, position: JournalPosition, limit: int
) -> tuple[list[EventRecord], int]:
    """Up to ``limit`` events after the last checkpoint, read line by line.

    Returns:
        The events and the journal offset just past the last one returned (where
        the events of the next checkpoint start; the journal size once all are in).
    """
    assert position.tail_offset is not None
    covered = position.last_checkpoint_sequence
    events: list[EventRecord] = []
    offset = end = position.tail_offset
    try:
        with open(disk.path, "rb") as fh:
            fh.seek(offset)
            while offset < disk.size and len(events) < limit:
                raw = fh.readline()
                if not raw:
                    break
                offset += len(raw)
                if not raw.strip():
                    continue
                env = _DECODER.decode(raw)
                if env.event is not None and env.event.sequence > covered:
                    events.append(env.event)
                    end = offset
    except OSError as exc:
        raise io_error("read session journal", disk.path, exc) from exc
    return events, (disk.size if offset >= disk.size else end)


def events_since(data: bytes, sequence: int) -> list[EventRecord]:
    """Every event record in journal bytes ``data`` with a sequence of at least ``sequence``."""
    return [
        env.event
        for raw in data.split(b"\n")
        if raw.strip()
        and (env := _DECODER.decode(raw)).event is not None
        and env.event.sequence >= sequence
    ]
