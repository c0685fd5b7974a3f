"""The anyio runtime of gait-runtime: session journals run as supervised actors.

Owns the public surface of ``gait_runtime.supervisor``: :class:`SessionManager`
(one actor per session, group commit, checkpoints, compaction, crash recovery),
:class:`SessionConfig`, the append types (:class:`EventFields`,
:class:`AppendAck`), the checkpoint record, the compaction report and
:func:`acquire_state_dir_lock`. Formats follow ``spec/sessions.md``; the
modules behind these names are listed in ``docs/sessions.md``.
"""

from __future__ import annotations

from .actor import AppendAck as AppendAck
from .actor import SessionActor as SessionActor
from .compaction import CompactionReport as CompactionReport
from .config import FsyncPolicy as FsyncPolicy
from .config import SessionConfig as SessionConfig
from .lock import StateDirLock as StateDirLock
from .lock import acquire_state_dir_lock as acquire_state_dir_lock
from .records import CheckpointRecord as CheckpointRecord
from .records import EventFields as EventFields
from .records import decode_event_fields as decode_event_fields
from .sessions import SessionManager as SessionManager
from .sessions import journal_path_for as journal_path_for
from .store import JournalStore as JournalStore

__all__ = [
    "AppendAck",
    "CheckpointRecord",
    "CompactionReport",
    "EventFields",
    "FsyncPolicy",
    "JournalStore",
    "SessionActor",
    "SessionConfig",
    "SessionManager",
    "StateDirLock",
    "acquire_state_dir_lock",
    "decode_event_fields",
    "journal_path_for",
]
