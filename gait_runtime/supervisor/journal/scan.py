"""Reading journals, and the two derived files: the state index and the chain.

Owns: reader validation exactly as ``spec/sessions.md`` §2.4 (the Go reader's
rules and its error texts where the vectors show them), detection of a torn
tail (bytes after the last newline, or a last line that is not JSON), the state
index ``J.state.json`` (§6: its trust rule and our fix of the Go compaction
defect, §5), and the chain file ``<base>_chain.json`` (§4.4). Pure functions
over bytes plus explicitly named ``load_*``/``write_*`` helpers; no locks, no
tasks. Writing the journal itself is :mod:`.store`'s job.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from ...artifacts.fsutil import ensure_dir, write_atomic
from ...artifacts.gojson import go_json_indent
from ...errors import IOFailure, SessionInputError
from .records import (
    CheckpointRecord,
    Envelope,
    EventRecord,
    HeaderRecord,
    checkpoint_digest,
)

__all__ = [
    "CHAIN_SCHEMA",
    "STATE_SCHEMA",
    "JournalScan",
    "SessionState",
    "chain_bytes",
    "chain_path_for",
    "load_state",
    "scan_journal",
    "split_torn_tail",
    "state_bytes",
    "write_state_fast",
]

STATE_SCHEMA: Final = "gait.runpack.session_state"
CHAIN_SCHEMA: Final = "gait.runpack.session_chain"
_DECODER: Final = msgspec.json.Decoder(Envelope)
_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


def _invalid(message: str, **details: object) -> SessionInputError:
    return SessionInputError(message, code="session_journal_invalid", details=dict(details))


@dataclass(slots=True)
class JournalScan:
    """What a full, validated read of a journal established.

    Attributes:
        header: the header record.
        event_count: event records present.
        last_event_sequence: sequence of the last event (0 when none).
        checkpoints: every checkpoint record, in order.
        size: bytes read (the journal's size when nothing was torn).
        tail_offset: byte offset just after the last checkpoint record (after the
            header when there is none): uncheckpointed events start here.
        events: the event records, when the caller asked to keep them.
    """

    header: HeaderRecord
    event_count: int = 0
    last_event_sequence: int = 0
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    size: int = 0
    tail_offset: int = 0
    events: list[EventRecord] | None = None

    @property
    def last_checkpoint_end(self) -> int:
        """``sequence_end`` of the last checkpoint (0 when none)."""
        return self.checkpoints[-1].sequence_end if self.checkpoints else 0

    @property
    def last_sequence(self) -> int:
        """Highest sequence ever used: never below the last checkpoint's end (§5 fix)."""
        return max(self.last_event_sequence, self.last_checkpoint_end)


def split_torn_tail(data: bytes) -> tuple[int, bytes]:
    """Split off a torn tail: bytes after the last ``\\n``, or a last line that is not JSON.

    Returns:
        ``(good_length, torn_bytes)``; ``torn_bytes`` is empty when the journal
        ends cleanly. Only JSON syntax is judged here, never the §2.4 rules: a
        complete but invalid record is an error for the reader, not a tear.
    """
    cut = data.rfind(b"\n") + 1
    torn = data[cut:]
    if torn.strip():
        return cut, torn
    cut = len(data)
    end = len(data.rstrip(b"\r\n\t "))
    if end == 0:
        return len(data), b""
    start = data.rfind(b"\n", 0, end) + 1
    try:
        msgspec.json.decode(data[start:end])
    except msgspec.DecodeError:
        return start, data[start:]
    return cut, b""


def _check_time(value: str, line: int, what: str) -> None:
    if value and _RFC3339.match(value) is None:
        raise _invalid(
            f"parse session journal line {line}: {what}: invalid RFC 3339 time {value!r}",
            line=line,
        )


def scan_journal(data: bytes, *, keep_events: bool = False) -> JournalScan:
    """Validate a whole journal with the Go reader's rules (§2.4).

    Args:
        data: the journal bytes (a torn tail must already be split off).
        keep_events: also return every event record (compaction needs them).

    Raises:
        SessionInputError: ``session_journal_invalid``; the message names the
            line and, for sequence gaps, the sequence found and the one expected.
    """
    header: HeaderRecord | None = None
    expected = 1
    last_idx = 0
    last_digest = ""
    last_end = 0
    event_count = 0
    last_event_seq = 0
    checkpoints: list[CheckpointRecord] = []
    events: list[EventRecord] | None = [] if keep_events else None
    tail_offset = 0
    offset = 0
    line_no = 0
    decode = _DECODER.decode
    for raw in data.split(b"\n"):
        line_no += 1
        offset += len(raw) + 1
        if not raw.strip():
            continue
        try:
            env = decode(raw)
        except msgspec.DecodeError as exc:
            raise _invalid(f"parse session journal line {line_no}: {exc}", line=line_no) from exc
        kind = env.record_type
        if kind == "event":
            ev = env.event
            if ev is None:
                raise _invalid(f"missing session event payload line {line_no}", line=line_no)
            if header is None:
                raise _invalid(f"session journal record before header line {line_no}", line=line_no)
            if ev.sequence != expected:
                raise _invalid(
                    f"session event sequence mismatch line {line_no}: "
                    f"got {ev.sequence} want {expected}",
                    line=line_no,
                    got=ev.sequence,
                    expected=expected,
                )
            if ev.session_id != header.session_id or ev.run_id != header.run_id:
                raise _invalid(f"session event identity mismatch line {line_no}", line=line_no)
            _check_time(ev.created_at, line_no, "event.created_at")
            expected += 1
            event_count += 1
            last_event_seq = ev.sequence
            if events is not None:
                events.append(ev)
        elif kind == "checkpoint":
            cp = env.checkpoint
            if cp is None:
                raise _invalid(f"missing session checkpoint payload line {line_no}", line=line_no)
            if header is None:
                raise _invalid(f"session journal record before header line {line_no}", line=line_no)
            if cp.session_id != header.session_id or cp.run_id != header.run_id:
                raise _invalid(f"session checkpoint identity mismatch line {line_no}", line=line_no)
            if cp.checkpoint_index != last_idx + 1:
                raise _invalid(
                    f"session checkpoint index mismatch line {line_no}: "
                    f"got {cp.checkpoint_index} want {last_idx + 1}",
                    line=line_no,
                )
            if not 1 <= cp.sequence_start <= cp.sequence_end:
                raise _invalid(f"invalid session checkpoint range line {line_no}", line=line_no)
            if cp.sequence_start <= last_end:
                raise _invalid(f"session checkpoint sequence overlap line {line_no}", line=line_no)
            if cp.checkpoint_index > 1 and cp.prev_checkpoint_digest != last_digest:
                raise _invalid(
                    f"session checkpoint prev digest mismatch line {line_no}", line=line_no
                )
            want = checkpoint_digest(
                cp.manifest_digest,
                cp.prev_checkpoint_digest,
                cp.checkpoint_index,
                cp.sequence_start,
                cp.sequence_end,
            )
            if cp.checkpoint_digest != want:
                raise _invalid(f"session checkpoint digest mismatch line {line_no}", line=line_no)
            _check_time(cp.created_at, line_no, "checkpoint.created_at")
            last_idx, last_digest, last_end = (
                cp.checkpoint_index,
                cp.checkpoint_digest,
                cp.sequence_end,
            )
            if expected <= cp.sequence_end:
                expected = cp.sequence_end + 1
            checkpoints.append(cp)
            tail_offset = min(offset, len(data))
        elif kind == "header":
            hd = env.header
            if hd is None:
                raise _invalid(f"missing session header payload line {line_no}", line=line_no)
            if header is not None:
                raise _invalid(f"duplicate session journal header line {line_no}", line=line_no)
            if not hd.session_id.strip() or not hd.run_id.strip():
                raise _invalid(
                    f"session journal header requires session_id and run_id line {line_no}",
                    line=line_no,
                )
            _check_time(hd.created_at, line_no, "header.created_at")
            _check_time(hd.started_at, line_no, "header.started_at")
            header = hd
            tail_offset = min(offset, len(data))
        else:
            raise _invalid(
                f"unsupported session record type line {line_no}: {kind!r}", line=line_no
            )
    if header is None:
        raise _invalid("session journal missing header")
    return JournalScan(
        header=header,
        event_count=event_count,
        last_event_sequence=last_event_seq,
        checkpoints=checkpoints,
        size=len(data),
        tail_offset=tail_offset,
        events=events,
    )


class SessionState(msgspec.Struct, omit_defaults=True):
    """The state index ``J.state.json`` (§6), fields in Go order."""

    schema_id: str = STATE_SCHEMA
    schema_version: str = "1.0.0"
    updated_at: str = ""
    producer_version: str = ""
    session_id: str = ""
    run_id: str = ""
    created_at: str = ""
    started_at: str = ""
    event_count: int = 0
    last_sequence: int = 0
    checkpoint_count: int = 0
    last_checkpoint_index: int = 0
    last_checkpoint_sequence: int = 0
    last_checkpoint_digest: str = ""
    journal_size_bytes: int = 0


_STATE_DECODER: Final = msgspec.json.Decoder(SessionState)
# The four header fields and the counters are always written, even when zero.
_STATE_ALWAYS: Final = (
    "schema_id",
    "schema_version",
    "updated_at",
    "producer_version",
    "session_id",
    "run_id",
    "created_at",
    "started_at",
    "event_count",
    "last_sequence",
    "checkpoint_count",
    "last_checkpoint_index",
    "last_checkpoint_sequence",
)


def state_bytes(state: SessionState) -> bytes:
    """Indented JSON (2 spaces) plus ``\\n``, as Go writes it."""
    doc: dict[str, Any] = {}
    for name in SessionState.__struct_fields__:
        value = getattr(state, name)
        if name in _STATE_ALWAYS or value:
            doc[name] = value
    return go_json_indent(doc) + b"\n"


def load_state(path: Path, journal_size: int) -> SessionState | None:
    """Read ``J.state.json`` and return it only if Go's trust rule holds.

    Trusted = parses, schema ids match, counters are non-negative, ids present,
    and ``journal_size_bytes == journal_size``. A trusted state whose
    ``last_sequence`` is below ``last_checkpoint_sequence`` (left by the Go
    compaction defect) is corrected in the returned value.
    """
    try:
        state = _STATE_DECODER.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    counters = (
        state.event_count,
        state.last_sequence,
        state.checkpoint_count,
        state.last_checkpoint_index,
        state.last_checkpoint_sequence,
        state.journal_size_bytes,
    )
    if (
        state.schema_id != STATE_SCHEMA
        or state.schema_version != "1.0.0"
        or any(c < 0 for c in counters)
        or not state.session_id.strip()
        or not state.run_id.strip()
        or state.journal_size_bytes != journal_size
    ):
        return None
    if state.last_sequence < state.last_checkpoint_sequence:
        state.last_sequence = state.last_checkpoint_sequence
    return state


def write_state_fast(path: Path, data: bytes) -> None:
    """Overwrite the state file in place (``pwrite`` + ``ftruncate``), no rename, no fsync.

    Used after every batch, always under the session lock, so no Go or Python
    reader (they read under the same lock) can see a half-written file. The
    state is a cache whose trust rule (its size must match the journal's) makes
    a stale or torn copy after a crash harmless: readers rebuild it. Skipping
    the rename matters: a rename is a metadata operation that makes the next
    journal ``fsync`` wait for a filesystem journal commit.
    :func:`~gait_runtime.artifacts.fsutil.write_atomic` is used instead whenever
    the state must be exact and durable (checkpoint, compaction, stop, drain).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            written = os.pwrite(fd, data, 0)
            if written != len(data):
                raise OSError(errno.EIO, "short write")
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
    except OSError as exc:
        raise IOFailure(f"write {path}: {exc.strerror or exc}") from exc


def chain_path_for(journal: Path) -> Path:
    """Default chain path: ``<dir>/<journal name minus last extension>_chain.json``."""
    stem = journal.name
    if "." in stem:
        stem = stem[: stem.rfind(".")]
    return journal.with_name(f"{stem}_chain.json")


def chain_bytes(header: HeaderRecord, producer: str, checkpoints: list[CheckpointRecord]) -> bytes:
    """The chain document (§4.4): indented JSON (2 spaces) plus ``\\n``."""
    doc: dict[str, Any] = {
        "schema_id": CHAIN_SCHEMA,
        "schema_version": "1.0.0",
        "created_at": header.created_at,
        "producer_version": producer or "0.0.0-dev",
        "session_id": header.session_id,
        "run_id": header.run_id,
        "checkpoints": checkpoints,
    }
    return go_json_indent(doc) + b"\n"


def write_chain(path: Path, data: bytes) -> None:
    """Write a chain file atomically (temp + fsync + rename + fsync dir), creating its directory."""
    ensure_dir(path.parent if str(path.parent) else Path("."))
    write_atomic(path, data)
