"""Sessions: one supervised actor per session journal, behind a manager.

- ``manager``: :class:`SessionManager`, the registry and supervisor of session
  actors (start on first use, idle stop, one_for_one restarts with an
  intensity limit, drain with final checkpoints, ``stats()`` for health).
- ``actor``: :class:`SessionActor`, one task owning one journal and a bounded
  mailbox; **group commit** lives in its serve loop (take one message, drain
  what is waiting up to the batch limit, one write + fsync, then reply to all).
- ``messages``: the mailbox messages, their one-shot :class:`Reply` and
  :class:`AppendAck`, and the shared actor counters.
- ``supervision``: the rules the manager supervises by (restart intensity,
  eviction under the session bound, journal naming, stranded messages).
- ``config``: :class:`SessionConfig`, the frozen settings, and the
  :data:`FsyncPolicy` / journal-I/O / state-update mode names.
"""

from __future__ import annotations

from .actor import SessionActor as SessionActor
from .config import FsyncPolicy as FsyncPolicy
from .config import SessionConfig as SessionConfig
from .manager import SessionManager as SessionManager
from .manager import journal_path_for as journal_path_for
from .messages import AppendAck as AppendAck

__all__ = [
    "AppendAck",
    "FsyncPolicy",
    "SessionActor",
    "SessionConfig",
    "SessionManager",
    "journal_path_for",
]
