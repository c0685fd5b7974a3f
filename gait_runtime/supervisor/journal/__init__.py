"""Session journals on disk: the record format, the store that writes them, and their derived files.

Synchronous (no event loop): the session actors call into it from their I/O
thread; the one-shot ``gait run session *`` commands call it directly.

- ``records``: the on-disk envelope and the header/event/checkpoint records.
- ``scan``: reading a journal (torn-tail split), the ``J.state.json`` index and
  the ``<base>_chain.json`` chain file (:func:`chain_path_for`).
- ``files``: the :class:`JournalFile` Protocol and the real (``O_DSYNC``-able)
  file; tests inject faults through the opener.
- ``store``: :class:`JournalStore`, every byte a session writes (group commit's
  one ``write`` + fsync per batch, checkpoints, compaction, state updates).
- ``recovery``: reading a journal back: the full scan that quarantines a torn
  tail, the uncheckpointed tail for the next checkpoint, events from a sequence.
- ``checkpoint``, ``compaction``, ``chain``: checkpoint runpacks, compaction
  and chain verification (``gait verify session-chain``).
- ``lock``: the Go-compatible session lock and the state-directory lock.
- ``oneshot``: the one-shot operations with the Go CLI's semantics.
"""

from __future__ import annotations

from .chain import ChainReport as ChainReport
from .chain import verify_chain as verify_chain
from .compaction import CompactionReport as CompactionReport
from .lock import LockSettings as LockSettings
from .lock import StateDirLock as StateDirLock
from .lock import acquire_state_dir_lock as acquire_state_dir_lock
from .records import CheckpointRecord as CheckpointRecord
from .records import EventFields as EventFields
from .records import EventRecord as EventRecord
from .records import decode_event_fields as decode_event_fields
from .scan import chain_path_for as chain_path_for
from .scan import scan_journal as scan_journal
from .store import JournalStore as JournalStore
from .store import StoreOptions as StoreOptions

__all__ = [
    "ChainReport",
    "CheckpointRecord",
    "CompactionReport",
    "EventFields",
    "EventRecord",
    "JournalStore",
    "LockSettings",
    "StateDirLock",
    "StoreOptions",
    "acquire_state_dir_lock",
    "chain_path_for",
    "decode_event_fields",
    "scan_journal",
    "verify_chain",
]
