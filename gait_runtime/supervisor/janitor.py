"""The supervisor's retention janitor: timed sweeps of traces, trace-log segments, sessions.

Owns: :class:`Janitor` (the sweep loop at ``--retention-interval``, one sweep on
demand, the JSON report when ``--retention-report`` is set, and the protection
rules handed to :func:`~.service.retention.sweep_class`: open session journals,
the trace log's tail segment and every segment the exporter has not finished).
Does not own: the caps (``ServiceConfig``) or the sweep itself (``service/retention.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import structlog

from ..artifacts.fsutil import write_atomic
from ..artifacts.gojson import go_json
from ..artifacts.tracelog import LOG_DIR_NAME, export_cursor_segment, segment_paths
from ..errors import GaitError
from .service.config import RetentionRule, ServiceConfig
from .service.retention import ClassSweep, sweep_class, sweep_report

__all__ = ["Janitor"]

_log = structlog.get_logger("gait_runtime.supervisor.janitor")


class Janitor:
    """Retention sweeps for the running server.

    Args:
        config: the server configuration (caps, directories, report path).
        clock_ns: wall clock in Unix nanoseconds (report stamps).
        open_journals: the resolved paths of the session journals open now.
    """

    def __init__(
        self,
        config: ServiceConfig,
        clock_ns: Callable[[], int],
        open_journals: Callable[[], set[Path]],
    ) -> None:
        self._config = config
        self._clock_ns = clock_ns
        self._open_journals = open_journals
        self.last: list[ClassSweep] = []

    def _rules(self) -> list[tuple[str, Path, RetentionRule]]:
        config = self.config
        rules = [
            ("trace", config.trace_dir, config.trace_retention),
            ("trace_log", config.trace_dir / LOG_DIR_NAME, config.trace_retention),
            ("session", config.session_dir, config.session_retention),
        ]
        if config.runpack_dir is not None:
            rules.append(("runpack", config.runpack_dir, config.runpack_retention))
        return rules

    @property
    def config(self) -> ServiceConfig:
        """The configuration swept by."""
        return self._config

    async def run(self) -> None:
        """Sweep every ``retention_interval_s`` while any cap is set (runs until cancelled)."""
        if not any(rule.enabled for _, _, rule in self._rules()):
            return
        while True:
            await self.sweep_now()
            await anyio.sleep(self._config.retention_interval_s)

    async def sweep_now(self) -> list[ClassSweep]:
        """Run one retention sweep (in a worker thread) and write its report if configured."""
        config = self._config
        rules = self._rules()
        open_journals = self._open_journals()
        log_dir = config.trace_dir / LOG_DIR_NAME

        def run() -> list[ClassSweep]:
            # with trace files off, nothing waits for the exporter: only the tail is kept
            keep = _unexported_segments(log_dir, exported=config.trace_files == "export")
            sweeps = []
            for kind, directory, rule in rules:
                guard = keep if kind == "trace_log" else open_journals
                sweeps.append(sweep_class(kind, directory, rule, protected=_member_of(guard)))
            return sweeps

        sweeps = await anyio.to_thread.run_sync(run)
        self.last = sweeps
        removed = sum(len(s.removed) for s in sweeps)
        if removed:
            _log.info("retention_sweep", removed=removed)
        if config.retention_report is not None and removed:
            report = sweep_report(
                sweeps,
                dry_run=False,
                now_ns=self._clock_ns(),
                producer_version=config.producer_version,
            )
            try:
                await anyio.to_thread.run_sync(
                    write_atomic, config.retention_report, go_json(report) + b"\n"
                )
            except GaitError as exc:
                _log.warning("retention_report_failed", error=exc.message)
        return sweeps


def _member_of(paths: set[Path]) -> Callable[[Path], bool]:
    def protected(path: Path) -> bool:
        return path.resolve() in paths

    return protected


def _unexported_segments(log_dir: Path, *, exported: bool = True) -> set[Path]:
    """The tail segment and every segment at or after the export cursor (resolved)."""
    try:
        segments = segment_paths(log_dir)
    except GaitError:
        return set()
    if not segments:
        return set()
    cursor = export_cursor_segment(log_dir)
    keep = {segments[-1].resolve()}
    if not exported:
        return keep
    keep.update(s.resolve() for s in segments if not cursor or s.name >= cursor)
    return keep
