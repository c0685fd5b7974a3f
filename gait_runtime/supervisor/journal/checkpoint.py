"""Checkpoint runpacks: a prefix of a session's events as a verifiable runpack.

Owns: turning the new events of one checkpoint into the run, intents and
results that ``spec/sessions.md`` §4.2 prescribes (so our entry bytes equal
Go's for the same journal prefix, ``env`` aside), the checkpoint run id, the
checkpoint record of §2.3 with its digest (§4.3), and the default checkpoint
file name the service uses. Building, writing and verifying the runpack itself
is delegated to :mod:`gait_runtime.runpack`; no runpack bytes are produced here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from ...artifacts.jcs import digest
from ...artifacts.signing import SigningKey
from ...artifacts.timefmt import format_ns, parse_rfc3339
from ...runpack import Runpack, build_runpack, write_runpack
from .records import (
    CHECKPOINT_SCHEMA,
    SCHEMA_VERSION,
    CheckpointRecord,
    EventRecord,
    HeaderRecord,
    checkpoint_digest,
    checkpoint_relationship,
    timeline_checkpoint_relationship,
    timeline_event_relationship,
)

__all__ = [
    "build_checkpoint_record",
    "build_checkpoint_runpack",
    "checkpoint_file_name",
    "checkpoint_run_id",
    "go_journal_base",
    "journal_base",
    "write_checkpoint",
]

_ERROR_VERDICTS: Final = frozenset({"block", "require_approval"})
_BASE_UNSAFE: Final = re.compile(r"[/\\ :]")


def checkpoint_run_id(run_id: str, index: int) -> str:
    """``<run_id>_cp_<index zero-padded to 4>`` (§4.1 step 3)."""
    return f"{run_id}_cp_{index:04d}"


_BASE_MAX_BYTES: Final = 64


def go_journal_base(session_id: str) -> str:
    """The Go service's file base for a session id: ``/ \\ space :`` → ``_``, then leading
    and trailing ``.`` and ``_`` stripped (``session`` if empty)."""
    base = _BASE_UNSAFE.sub("_", session_id).strip("._")
    return base or "session"


def journal_base(session_id: str) -> str:
    """File base for a session id: Go's name when it is the id itself, else collision-free.

    Go's rule maps ``x/y``, ``x:y``, ``x y`` and ``x\\y`` all to ``x_y``, so one of them
    would own the journal and the others be refused for good. When the rule changed the
    id (or the id is longer than 64 bytes), the base is Go's (cut to 48 bytes) plus ``-``
    and the first 12 hex of the id's sha256: distinct ids never share a journal, and ids
    that are already safe keep exactly the name the Go implementation gives them.
    """
    base = go_journal_base(session_id)
    if base == session_id and len(base.encode()) <= _BASE_MAX_BYTES:
        return base
    short = base.encode()[:48].decode(errors="ignore")
    return f"{short}-{hashlib.sha256(session_id.encode()).hexdigest()[:12]}"


def checkpoint_file_name(base: str, sequence_end: int) -> str:
    """``<base>_cp_<sequence 6 digits>.zip``, the service's checkpoint name."""
    return f"{base}_cp_{sequence_end:06d}.zip"


def _utc(text: str) -> str:
    return parse_rfc3339(text, field="event.created_at").utc_text()


def _plain(value: object) -> Any:
    return msgspec.to_builtins(value)


def build_checkpoint_runpack(
    session_id: str,
    index: int,
    run_id: str,
    events: Sequence[EventRecord],
    *,
    created_at_ns: int,
    producer_version: str,
    env: dict[str, str] | None = None,
    signing_key: SigningKey | None = None,
) -> Runpack:
    """Build the checkpoint runpack of §4.2 for ``events`` (not written).

    Args:
        session_id: the session's id.
        index: checkpoint index (1-based).
        run_id: the session's run id (the runpack's is derived from it).
        events: the new events, in sequence order.
        created_at_ns: the checkpoint time.
        producer_version: version written into every entry.
        env: ``run.json`` ``env``; defaults to this host's (Go writes its own).
        signing_key: sign the manifest when given (Go never does).
    """
    cp_run = checkpoint_run_id(run_id, index)
    t_cp = format_ns(created_at_ns)
    timeline: list[dict[str, Any]] = []
    intents: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, ev in enumerate(events, start=1):
        entry: dict[str, Any] = {"event": "session_event", "ts": _utc(ev.created_at)}
        if ev.trace_id:
            entry["ref"] = ev.trace_id
        entry["relationship"] = _plain(timeline_event_relationship(cp_run, session_id, ev))
        timeline.append(entry)
        intent_id = ev.intent_id or f"intent_{i}"
        args_digest = ev.intent_digest or digest(
            {
                "session_id": session_id,
                "sequence": ev.sequence,
                "trace_id": ev.trace_id,
                "trace_path": ev.trace_path,
            }
        )
        intents.append(
            {
                "intent_id": intent_id,
                "tool_name": ev.tool_name,
                "created_at": ev.created_at,
                "args_digest": args_digest,
            }
        )
        result_digest = digest(
            {
                "verdict": ev.verdict,
                "reason_codes": list(ev.reason_codes) or None,
                "violations": list(ev.violations) or None,
                "trace_id": ev.trace_id,
                "trace_path": ev.trace_path,
            }
        )
        results.append(
            {
                "intent_id": intent_id,
                "status": "error" if ev.verdict in _ERROR_VERDICTS else "ok",
                "created_at": ev.created_at,
                "result_digest": result_digest,
            }
        )
    timeline.append(
        {
            "event": "session_checkpoint_emitted",
            "ts": t_cp,
            "ref": f"checkpoint:{index}",
            "relationship": _plain(timeline_checkpoint_relationship(cp_run, index)),
        }
    )
    run: dict[str, Any] = {
        "run_id": cp_run,
        "created_at": t_cp,
        "producer_version": producer_version,
        "timeline": timeline,
    }
    if env is not None:
        run["env"] = dict(env)
    return build_runpack(
        run,
        intents,
        results,
        None,
        capture_mode="reference",
        signing_key=signing_key,
        producer_version=producer_version,
        now_ns=created_at_ns,
    )


def build_checkpoint_record(
    *,
    session_id: str,
    run_id: str,
    index: int,
    events: Sequence[EventRecord],
    runpack_path: Path | str,
    manifest_digest: str,
    prev_digest: str,
    created_at_ns: int,
    producer_version: str,
) -> CheckpointRecord:
    """The §2.3 checkpoint record for a written checkpoint runpack."""
    start, end = events[0].sequence, events[-1].sequence
    cp_digest = checkpoint_digest(manifest_digest, prev_digest, index, start, end)
    safety_version = safety_hash = ""
    for ev in reversed(events):
        if ev.safety_invariant_version and ev.safety_invariant_hash:
            safety_version, safety_hash = ev.safety_invariant_version, ev.safety_invariant_hash
            break
    return CheckpointRecord(
        schema_id=CHECKPOINT_SCHEMA,
        schema_version=SCHEMA_VERSION,
        created_at=format_ns(created_at_ns),
        producer_version=producer_version or "0.0.0-dev",
        session_id=session_id,
        run_id=run_id,
        checkpoint_index=index,
        sequence_start=start,
        sequence_end=end,
        runpack_path=str(runpack_path),
        manifest_digest=manifest_digest,
        prev_checkpoint_digest=prev_digest if index > 1 else "",
        checkpoint_digest=cp_digest,
        safety_invariant_version=safety_version,
        safety_invariant_hash=safety_hash,
        relationship=checkpoint_relationship(
            session_id, run_id, checkpoint_run_id(run_id, index), cp_digest, manifest_digest
        ),
    )


def write_checkpoint(
    header: HeaderRecord,
    index: int,
    prev_digest: str,
    events: Sequence[EventRecord],
    runpack_path: Path,
    *,
    created_at_ns: int,
    producer_version: str,
    env: dict[str, str] | None = None,
    signing_key: SigningKey | None = None,
) -> CheckpointRecord:
    """Write the checkpoint runpack of ``events`` (§4.2) and return its record (§2.3).

    Raises:
        IOFailure: the runpack could not be written.
    """
    runpack = build_checkpoint_runpack(
        header.session_id,
        index,
        header.run_id,
        events,
        created_at_ns=created_at_ns,
        producer_version=producer_version,
        env=env,
        signing_key=signing_key,
    )
    write_runpack(runpack_path, runpack)
    return build_checkpoint_record(
        session_id=header.session_id,
        run_id=header.run_id,
        index=index,
        events=events,
        runpack_path=runpack_path,
        manifest_digest=runpack.manifest_digest,
        prev_digest=prev_digest,
        created_at_ns=created_at_ns,
        producer_version=producer_version,
    )
