"""Export one session from the stream to files: journal, chain, checkpoint runpacks.

Owns: :func:`export_session`. The journal file is the subject's payloads
concatenated (byte for byte the journal the file backend would have written,
or its compacted form after a compaction), the chain file is the chain
document from the KV bucket (rebuilt from the journal's checkpoint records if
the bucket has none), and every checkpoint runpack is fetched from the object
store to ``<out>/checkpoints/<file>``, the relative path its checkpoint record
names, so ``gait verify session-chain`` run in ``<out>`` verifies it exactly
like a file session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nats.js.errors

from ..artifacts.fsutil import ensure_dir, write_atomic
from ..errors import SessionInputError, VerificationError
from ..supervisor.journal.checkpoint import journal_base
from ..supervisor.journal.scan import chain_bytes, chain_path_for, scan_journal, write_chain
from ._settings import subject_token
from ._stream_checkpoint import CHECKPOINT_DIR, checkpoint_object_name
from .link import NatsLink

__all__ = ["ExportResult", "export_session"]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (paths relative to nothing: as written)."""

    session_id: str
    run_id: str
    journal_path: Path
    chain_path: Path | None
    checkpoints: list[Path] = field(default_factory=list)
    events: int = 0
    last_sequence: int = 0

    def to_json(self) -> dict[str, object]:
        """The ``--json`` ``export`` object."""
        return {
            "session_id": self.session_id,
            "run_id": self.run_id,
            "journal_path": str(self.journal_path),
            "chain_path": str(self.chain_path) if self.chain_path else "",
            "checkpoints": [str(p) for p in self.checkpoints],
            "events": self.events,
            "last_sequence": self.last_sequence,
        }


def export_session(link: NatsLink, session_id: str, out: Path) -> ExportResult:
    """Write the session's journal, chain and checkpoints under ``out``.

    Raises:
        SessionInputError: the stream has no such session (``session_unknown``).
        VerificationError: a checkpoint runpack named by the journal is missing
            from the object store.
        JournalUnavailableError: the cluster did not answer in time.
    """
    subject = link.settings.subject(session_id)
    messages = link.run(lambda: link.read_subject(subject))
    if not messages:
        raise SessionInputError(
            f"no session {session_id!r} in stream {link.settings.stream}", code="session_unknown"
        )
    data = b"".join(m.data for m in messages)
    scan = scan_journal(data)
    ensure_dir(out)
    journal = out / f"{journal_base(session_id)}.journal.jsonl"
    write_atomic(journal, data)
    written: list[Path] = []
    objects = link.objects
    for cp in scan.checkpoints:
        name = Path(cp.runpack_path).name
        obj = checkpoint_object_name(session_id, name)
        try:
            result = link.run(lambda o=obj: objects.get(o))  # type: ignore[misc]
        except nats.js.errors.NotFoundError as exc:
            raise VerificationError(
                f"checkpoint {cp.checkpoint_index} runpack {obj} is not in the object store",
                code="checkpoint_missing",
            ) from exc
        target = out / CHECKPOINT_DIR / name
        ensure_dir(target.parent)
        write_atomic(target, result.data or b"", mode=0o600)
        written.append(target)
    chain_path: Path | None = None
    if scan.checkpoints:
        kv = link.kv(link.settings.chain_bucket)
        key = subject_token(session_id)
        try:
            entry = link.run(lambda: kv.get(key))
            chain = entry.value or b""
        except nats.js.errors.KeyNotFoundError:
            chain = b""
        rebuilt = chain_bytes(scan.header, scan.header.producer_version, scan.checkpoints)
        chain_path = chain_path_for(journal)
        # The chain is a projection of the journal's checkpoint records; one lagging
        # behind the journal (a crash between record and chain update) is rebuilt.
        write_chain(chain_path, chain if chain == rebuilt else rebuilt)
    return ExportResult(
        session_id=scan.header.session_id,
        run_id=scan.header.run_id,
        journal_path=journal,
        chain_path=chain_path,
        checkpoints=written,
        events=scan.event_count,
        last_sequence=scan.last_sequence,
    )
