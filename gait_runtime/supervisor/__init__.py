"""The anyio runtime of gait-runtime: session journals run as supervised actors.

Owns the public surface of ``gait_runtime.supervisor``: :class:`SessionManager`
(one actor per session, group commit, checkpoints, compaction, crash recovery),
:class:`SessionConfig`, the append types (:class:`EventFields`,
:class:`AppendAck`), the checkpoint record, the compaction report and
:func:`acquire_state_dir_lock`. Formats follow ``spec/sessions.md``; the
modules behind these names are listed in ``docs/sessions.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .journal.compaction import CompactionReport as CompactionReport
from .journal.lock import StateDirLock as StateDirLock
from .journal.lock import acquire_state_dir_lock as acquire_state_dir_lock
from .journal.records import CheckpointRecord as CheckpointRecord
from .journal.records import EventFields as EventFields
from .journal.records import decode_event_fields as decode_event_fields
from .journal.store import JournalStore as JournalStore
from .sessions.actor import SessionActor as SessionActor
from .sessions.config import FsyncPolicy as FsyncPolicy
from .sessions.config import SessionConfig as SessionConfig
from .sessions.manager import SessionManager as SessionManager
from .sessions.manager import journal_path_for as journal_path_for
from .sessions.messages import AppendAck as AppendAck

if TYPE_CHECKING:
    from ..telemetry.otel import TracingHandle
    from .entry import ServeReady
    from .service.config import ServiceConfig

__all__ = [
    "AppendAck",
    "serve",
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


def serve(
    config: ServiceConfig,
    *,
    tracing: TracingHandle | None = None,
    handle_signals: bool = True,
    use_uvloop: bool = True,
    on_ready: Callable[[ServeReady], None] | None = None,
) -> str:
    """Run one decision server until it has drained; see :func:`.entry.serve`.

    Imported on call, so ``import gait_runtime.supervisor`` does not load the
    HTTP server stack for the one-shot session commands.
    """
    from .entry import serve as _serve

    return _serve(
        config,
        tracing=tracing,
        handle_signals=handle_signals,
        use_uvloop=use_uvloop,
        on_ready=on_ready,
    )
