"""The ``GET /v1/health`` document, assembled from the supervisor's running parts.

Owns: :func:`health_document` (policy, sessions, journal backend, decision and
error counters, exports, the trace path: trace log, trace-file exporter lag and
failures, OTEL span loss) and :class:`TraceParts`. Does not own: any of the
counters (each part keeps its own) or HTTP (``service/http.py`` serves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..artifacts.tracelog import LOG_DIR_NAME
from ..telemetry.export import DecisionExporter
from ..telemetry.otel import TracingHandle
from .service.config import ServiceConfig
from .service.decisions import DecisionService
from .service.policy_reload import PolicyHolder
from .service.trace_export import NO_EXPORT_STATS, TraceFileExporter
from .service.trace_log import TraceLog
from .service.trace_writer import TraceWriter
from .sessions.manager import SessionManager

if TYPE_CHECKING:
    from ..cluster import ClusterJournal

__all__ = ["TraceParts", "health_document"]


@dataclass(frozen=True, slots=True)
class TraceParts:
    """The trace path's three parts (each ``None`` before start-up)."""

    writer: TraceWriter | None
    log: TraceLog | None
    files: TraceFileExporter | None


def _trace_health(config: ServiceConfig, parts: TraceParts) -> dict[str, Any]:
    writer, log, files = parts.writer, parts.log, parts.files
    return {
        "pending": writer.pending() if writer else 0,
        "written": writer.written if writer else 0,
        "log": {
            "dir": str(config.trace_dir / LOG_DIR_NAME),
            "pending": log.pending() if log else 0,
            "lines": log.written if log else 0,
            "batches": log.batches if log else 0,
            "failures": log.failures if log else 0,
            "torn_tails_cut": log.torn_tails if log else 0,
        },
        "export": {"enabled": True, **files.stats()}
        if files is not None
        else {"enabled": False, **NO_EXPORT_STATS},
    }


def health_document(
    config: ServiceConfig,
    *,
    ready: bool,
    draining: bool,
    listen: str,
    http_server: str,
    in_flight: int,
    policy: PolicyHolder | None,
    sessions: SessionManager | None,
    cluster: ClusterJournal | None,
    service: DecisionService | None,
    exporter: DecisionExporter | None,
    traces: TraceParts,
    tracing: TracingHandle | None,
) -> dict[str, Any]:
    """The health document (``status`` is ``degraded`` while the policy file does not load)."""
    exports = exporter.stats() if exporter is not None else None
    degraded = bool(policy and policy.last_error)
    return {
        "ok": True,
        "status": "degraded" if degraded else "ok",
        "service": "gait.serve",
        "ready": ready,
        "draining": draining,
        "listen": listen,
        "http_server": http_server,
        "in_flight": in_flight,
        "fsync": config.fsync,
        "policy": {
            "path": str(config.policy_path),
            "digest": policy.current.digest if policy else "",
            "reloads": policy.reloads if policy else 0,
            "reload_errors": policy.reload_errors if policy else 0,
            "last_error": policy.last_error if policy else "",
        },
        "sessions": sessions.stats() if sessions is not None else {},
        "journal": cluster.health()
        if cluster is not None
        else {"backend": "file", "session_dir": str(config.session_dir)},
        "decisions": dict(service.stats.decisions) if service else {},
        "errors": {
            "invalid_requests": service.stats.errors if service else 0,
            "internal_failures": service.stats.internal_failures if service else 0,
            "mailbox_full": service.stats.mailbox_full if service else 0,
        },
        "exports": {
            "enabled": exports is not None,
            "dropped": exports["dropped"] if exports else 0,
            "errors": exports["errors"] if exports else 0,
            "written": exports["written"] if exports else 0,
        },
        "traces": _trace_health(config, traces),
        "tracing": {"enabled": True, **tracing.stats()}
        if tracing is not None and tracing.enabled
        else {"enabled": False},
    }
