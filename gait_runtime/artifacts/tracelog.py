"""The server trace log's files: line format, segments, torn tails, export to trace files.

Owns: the on-disk form of the server trace log (``<trace-dir>/log/``) shared by
the supervisor (which appends to it) and ``gait trace export`` / ``gait trace
verify`` (which read it): segment naming and listing (:func:`segment_paths`),
the line format (:func:`encode_line`, :func:`decode_line`), reading complete
lines (:func:`read_lines`), cutting a torn tail into a quarantine file
(:func:`cut_torn_tail`), the export cursor and :func:`export_step` (write the
next lines as Go-compatible ``trace_<id>.json`` files, durable, then persist
the cursor). Synchronous file code; does not own appending (the supervisor's
``service/trace_log.py``) or signatures (``gate/trace.py``).

One line is ``{"path":"<file name>","trace":<the Go trace file's JSON>}`` and
a newline, the trace's own newlines written as carriage returns (JSON
whitespace), so an exported file is byte-for-byte the file the decision path
used to write. An export is idempotent: a file that already
exists with the same bytes counts as exported (a kill between the files and
the cursor); one with other bytes is an error and the cursor does not pass it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from ..errors import IOFailure
from .fsutil import ensure_dir, fsync_dir, write_atomic

__all__ = [
    "CURSOR_NAME",
    "DEFAULT_EXPORT_HOP",
    "DEFAULT_SEGMENT_BYTES",
    "LOG_DIR_NAME",
    "ExportStep",
    "LogLine",
    "cursor_reached",
    "cut_torn_tail",
    "decode_line",
    "encode_line",
    "export_cursor_segment",
    "export_step",
    "export_step_or_error",
    "log_lag_bytes",
    "read_lines",
    "segment_name",
    "segment_number",
    "segment_paths",
]

LOG_DIR_NAME: Final = "log"
"""The trace log lives in ``<trace-dir>/log/`` (retention's trace class ignores subdirectories)."""

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
"""A segment is closed and a new one started once it reaches this size."""

_SEGMENT_RE: Final = re.compile(r"^tracelog-(\d{8})\.jsonl$")


def segment_number(path: Path) -> int:
    """The number of segment ``path`` (``tracelog-00000001.jsonl`` is 1).

    Raises:
        ValueError: not a segment name.
    """
    match = _SEGMENT_RE.match(path.name)
    if match is None:
        raise ValueError(f"not a trace-log segment: {path.name}")
    return int(match.group(1))


def segment_name(number: int) -> str:
    """The file name of segment ``number``."""
    return f"tracelog-{number:08d}.jsonl"


def segment_paths(log_dir: Path) -> list[Path]:
    """The log's segment files in order (oldest first); ``[]`` when there is no log."""
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise IOFailure(f"list trace log {log_dir}: {exc.strerror or exc}") from None
    numbered = sorted((int(m.group(1)), n) for n in names if (m := _SEGMENT_RE.match(n)))
    return [log_dir / name for _, name in numbered]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One decoded log line: the trace file's name and its exact bytes."""

    name: str
    data: bytes


def _prefix(name: str) -> bytes:
    # Printable ASCII (the usual name): msgspec escapes only ``"`` and ``\``, as
    # ``json.dumps`` does; anything else takes ``json.dumps`` (ASCII-escaped).
    if name.isascii() and name.isprintable():
        quoted = msgspec.json.encode(name)
    else:
        quoted = json.dumps(name).encode("ascii")
    return b'{"path":' + quoted + b',"trace":'


def encode_line(name: str, data: bytes) -> bytes:
    """The log line (newline-terminated) for trace file ``name`` with bytes ``data``.

    ``data`` (the pretty Go JSON of a trace file) goes in as the ``trace`` value with
    each newline turned into a carriage return: still the same JSON (``\r`` is JSON
    whitespace and never appears raw inside a JSON string), one line, and exactly
    reversible. Bytes that already hold a carriage return go in as a JSON string
    (``trace_file``) instead.
    """
    if b"\r" not in data:
        return _prefix(name) + data.replace(b"\n", b"\r") + b"}\n"
    text = json.dumps({"path": name, "trace_file": data.decode("utf-8")}, separators=(",", ":"))
    return text.encode("ascii") + b"\n"


def decode_line(raw: bytes) -> LogLine:
    """Decode one log line (with or without its newline): the file name and exact bytes.

    Raises:
        ValueError: not a trace-log line.
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a trace-log line: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("path"), str) or not doc["path"]:
        raise ValueError("not a trace-log line: no path")
    name: str = doc["path"]
    if os.path.basename(name) != name or name in (".", ".."):
        raise ValueError(f"not a trace-log line: unsafe file name {name!r}")
    if set(doc) == {"path", "trace_file"} and isinstance(doc["trace_file"], str):
        return LogLine(name, doc["trace_file"].encode("utf-8"))
    body = raw.rstrip(b"\n")
    prefix = _prefix(name)
    if set(doc) != {"path", "trace"} or not body.startswith(prefix) or not body.endswith(b"}"):
        raise ValueError("not a trace-log line: expected path and trace")
    return LogLine(name, body[len(prefix) : -1].replace(b"\r", b"\n"))


def read_lines(segment: Path, offset: int = 0) -> Iterator[tuple[int, bytes]]:
    """Yield ``(end_offset, line)`` for each complete line of ``segment`` from ``offset``.

    A trailing partial line (no newline yet) is not yielded.
    """
    with open(segment, "rb") as handle:
        handle.seek(offset)
        position = offset
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            position += len(raw)
            yield position, raw


def cut_torn_tail(segment: Path) -> int:
    """Cut a partial last line into ``<segment>.torn-<offset>``; return the clean size."""
    with open(segment, "r+b") as handle:
        data = handle.read()
        clean = data.rfind(b"\n") + 1
        if clean == len(data):
            return clean
        quarantine = segment.with_name(f"{segment.name}.torn-{clean}")
        fd = os.open(quarantine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data[clean:])
            os.fsync(fd)
        finally:
            os.close(fd)
        handle.truncate(clean)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(segment.parent)
    return clean


CURSOR_NAME: Final = "export.cursor"
"""The exporter's persisted position: ``{"segment": "<name>", "offset": <bytes>}``."""

DEFAULT_EXPORT_HOP: Final = 256
"""Most trace files written per worker-thread hop."""

_RETRY_S: Final = 1.0
_FINAL_PASS_S: Final = 5.0


@dataclass(slots=True)
class ExportStep:
    """What one export step did."""

    exported: int = 0
    existing: int = 0
    more: bool = False
    error: str = ""
    pid: int = 0
    """The process that ran the step (set by :func:`export_step_or_error`)."""


def _read_cursor(log_dir: Path) -> tuple[str, int]:
    try:
        doc = json.loads((log_dir / CURSOR_NAME).read_bytes())
        return str(doc["segment"]), int(doc["offset"])
    except FileNotFoundError:
        return "", 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IOFailure(f"read export cursor in {log_dir}: {exc}") from None


def export_cursor_segment(log_dir: Path) -> str:
    """The segment name the export cursor is in (``""`` before any export or unreadable)."""
    try:
        return _read_cursor(log_dir)[0]
    except IOFailure:
        return ""


def log_lag_bytes(log_dir: Path) -> int:
    """Bytes of the log after the export cursor (0 when everything is exported)."""
    try:
        name, offset = _read_cursor(log_dir)
        lag = 0
        for segment in segment_paths(log_dir):
            if name and segment.name < name:
                continue
            size = segment.stat().st_size
            lag += size - offset if segment.name == name else size
        return max(lag, 0)
    except (OSError, IOFailure):
        return 0


class _Staged:
    """One trace file written to its temp name, not yet synced or linked."""

    __slots__ = ("data", "fd", "path", "position", "tmp")

    def __init__(self, path: Path, data: bytes, position: tuple[str, int]) -> None:
        self.path = path
        self.data = data
        self.position = position
        self.tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(6)}"
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            self.discard()
            raise

    def publish(self) -> bool:
        """Sync, then link under the real name; ``False`` when it exists with these bytes.

        Raises:
            OSError: the sync or link failed, or the name holds other bytes.
        """
        try:
            os.fsync(self.fd)
            try:
                os.link(self.tmp, self.path)
            except FileExistsError:
                if self.path.read_bytes() == self.data:
                    return False
                raise OSError(f"{self.path} exists with other bytes") from None
            return True
        finally:
            self.discard()

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            self.tmp.unlink()
        except OSError:
            pass


def _stage_hop(
    log_dir: Path,
    trace_dir: Path,
    step: ExportStep,
    cursor: tuple[str, int],
    limit: int,
    durable: tuple[str, int] | None,
) -> tuple[list[_Staged], tuple[str, int] | None]:
    """Write up to ``limit`` lines after ``cursor`` to temp files (no sync yet).

    Returns the staged files and where the cursor goes once all of them are published
    (past the last line staged, or the start of the next segment when the hop ended on
    a finished segment); ``None`` when nothing moves or a read failed after the last one.
    """
    name, offset = cursor
    segments = [s for s in segment_paths(log_dir) if not name or s.name >= name]
    if durable is not None:
        segments = [s for s in segments if s.name <= durable[0]]
    staged: list[_Staged] = []
    boundary: tuple[str, int] | None = None
    try:
        for index, segment in enumerate(segments):
            start = offset if segment.name == name else 0
            for end, raw in read_lines(segment, start):
                if durable is not None and segment.name == durable[0] and end > durable[1]:
                    break
                if len(staged) >= limit:
                    step.more = True
                    break
                line = decode_line(raw)
                staged.append(_Staged(trace_dir / line.name, line.data, (segment.name, end)))
                boundary = (segment.name, end)
            if step.more:
                break
            if index + 1 < len(segments):
                # A finished segment: the cursor moves to the start of the next one.
                boundary = (segments[index + 1].name, 0)
    except (OSError, ValueError, IOFailure) as exc:
        step.error = f"export trace: {exc}"
        boundary = staged[-1].position if staged else None
    return staged, boundary


def export_step(
    log_dir: Path,
    trace_dir: Path,
    *,
    limit: int = DEFAULT_EXPORT_HOP,
    durable: tuple[str, int] | None = None,
) -> ExportStep:
    """Export up to ``limit`` lines after the cursor, then persist the cursor (blocking).

    The hop's files are written to temp names first, then each is synced and linked
    under its real name (the syncs back to back: one journal commit carries most of
    them), then the directory is synced and the cursor moved past the last file
    published. A name appears only once its bytes are durable.

    Args:
        log_dir: the trace log directory.
        trace_dir: where the trace files go.
        limit: most lines exported in this step.
        durable: the live log's durable end ``(segment, size)``; nothing past it is read
            (``None``: the log is not being written, read every complete line).

    Raises:
        IOFailure: the log or cursor cannot be read.
    """
    step = ExportStep()
    cursor = _read_cursor(log_dir)
    try:
        ensure_dir(trace_dir)
    except (OSError, IOFailure) as exc:
        step.error = f"export trace: {exc}"
        return step
    staged, position = _stage_hop(log_dir, trace_dir, step, cursor, limit, durable)
    published: tuple[str, int] | None = None
    for index, file in enumerate(staged):
        try:
            if file.publish():
                step.exported += 1
            else:
                step.existing += 1
        except OSError as exc:
            step.error = f"export trace: {exc}"
            step.more = False
            for rest in staged[index + 1 :]:
                rest.discard()
            position = published
            break
        published = file.position
    if position is not None and position != cursor:
        if step.exported:
            fsync_dir(trace_dir)
        doc = {"segment": position[0], "offset": position[1]}
        try:
            write_atomic(log_dir / CURSOR_NAME, json.dumps(doc).encode() + b"\n")
        except IOFailure as exc:
            step.error = step.error or exc.message
    return step


def cursor_reached(log_dir: Path, target: tuple[str, int]) -> bool:
    """Whether the export cursor is at or past ``target`` ``(segment, offset)``."""
    try:
        name, offset = _read_cursor(log_dir)
    except IOFailure:
        return False
    if target[1] == 0:
        return not name or name >= target[0]
    return (name, offset) >= target


def export_step_or_error(
    log_dir: Path, trace_dir: Path, limit: int, durable: tuple[str, int] | None
) -> ExportStep:
    """:func:`export_step` with an :class:`~gait_runtime.errors.IOFailure` as the step's
    ``error`` (positional and importable on its own: the server runs it in a worker
    process)."""
    try:
        step = export_step(log_dir, trace_dir, limit=limit, durable=durable)
    except IOFailure as exc:
        step = ExportStep(error=exc.message)
    step.pid = os.getpid()
    return step
