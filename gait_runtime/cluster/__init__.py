"""Session journals on NATS JetStream: several supervisors, failover without losing a decision.

Owns the public surface of ``gait_runtime.cluster`` (needs the ``nats`` extra):
:class:`NatsSettings` and :class:`NatsLink` (the connection, on its own event
loop), :class:`JetStreamJournal` (one session's journal on the shared stream,
behind the supervisor's journal backend Protocol), :class:`LeaseTable` (session
ownership in a KV bucket), :class:`ClusterJournal` (what ``gait serve
--journal nats://…`` holds) and :func:`export_session` (a stream session to a
journal + chain + checkpoint files that ``gait verify session-chain`` accepts).
See ``docs/cluster.md``.
"""

from __future__ import annotations

from ._settings import NatsSettings as NatsSettings
from ._settings import subject_token as subject_token
from .export import ExportResult as ExportResult
from .export import export_session as export_session
from .journal import JetStreamJournal as JetStreamJournal
from .leases import Lease as Lease
from .leases import LeaseTable as LeaseTable
from .link import NatsLink as NatsLink
from .service import ClusterJournal as ClusterJournal

__all__ = [
    "ClusterJournal",
    "ExportResult",
    "JetStreamJournal",
    "Lease",
    "LeaseTable",
    "NatsLink",
    "NatsSettings",
    "export_session",
    "subject_token",
]
