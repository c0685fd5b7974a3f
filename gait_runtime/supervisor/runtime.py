"""The Supervisor: one root task group that runs the whole decision server.

Owns: ordered start-up (policy → signing key → session manager, which locks the
session directory → trace log, trace-file exporter, trace writer, decision
exporter → HTTP server; each reports readiness with ``task_status.started()``),
metrics wiring (group commits and fsyncs counted by
:func:`~.service.metered_journal.metered_opener`, gauges refreshed per scrape),
policy reload (watch loop and SIGHUP → :class:`~.service.policy_reload.PolicyHolder`),
signals (SIGTERM/SIGINT drain, a second one exits at once, SIGHUP reloads), the
graceful drain (stop accepting, finish in-flight requests within the drain
timeout, close the trace path and exporter, flush every session with final
checkpoints and fsync), the janitor (``janitor.py``), ``/v1/health``
(``status.py``; ``degraded`` while the policy file on disk does not load) and
``/readyz`` (not ready while starting, draining or with an unloadable policy).
Does not own: HTTP routing (``service/http.py``), decisions
(``service/decisions.py``) or journals (``sessions/`` and ``journal/``).
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import anyio.to_thread
import structlog

from ..artifacts.fsutil import ensure_dir
from ..artifacts.keys import KeySource, ResolvedSigningKey, load_public, resolve_signing_key
from ..artifacts.signing import VerifyKey
from ..errors import DependencyMissingError, InternalError
from ..telemetry.export import DecisionExporter
from ..telemetry.metrics import Metrics
from ..telemetry.otel import TracingHandle
from .janitor import Janitor
from .journal.store import FileOpener
from .service.auth import TokenAuth
from .service.config import ServiceConfig
from .service.decisions import DecisionService
from .service.http import GaitApp, Readiness
from .service.metered_journal import metered_opener
from .service.policy_reload import PolicyHolder
from .service.retention import ClassSweep
from .service.server import BoundAddress, HTTPServerSettings, serve_http

if TYPE_CHECKING:
    from ..cluster import ClusterJournal
from ..artifacts.tracelog import LOG_DIR_NAME
from .service.trace_export import NO_EXPORT_STATS, TraceFileExporter
from .service.trace_log import TraceLog
from .service.trace_writer import TraceWriter
from .sessions.config import SessionConfig
from .sessions.manager import SessionManager
from .status import TraceParts, health_document
from .transport.mcp_gateway.host import Mount, MountHost

__all__ = ["Supervisor"]

_log = structlog.get_logger("gait_runtime.supervisor.runtime")

_SHUTDOWN_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


class Supervisor:
    """The long-running decision server.

    Run it with ``await tg.start(supervisor.run)``, which returns the bound
    address once every service is ready; stop it with :meth:`request_shutdown`
    (or SIGTERM/SIGINT when ``handle_signals`` is on).

    Args:
        config: the frozen server configuration.
        handle_signals: install SIGTERM/SIGINT/SIGHUP handling (the CLI does; in-process
            tests do not).
        clock_ns: wall clock in Unix nanoseconds (injected for tests).
        environ: environment for key resolution (defaults to ``os.environ``).
        journal_opener: opens journal descriptors; the session layer's fault-injection
            seam (tests use it to hold a commit mid-fsync), ``None`` for real files.
        tracing: the OpenTelemetry pipeline the CLI installed (its loss counters go to
            ``/v1/health`` and ``/metrics``), or ``None``.
        mcp: the MCP gateway's hook, entered once the decision path runs (its ASGI app
            is served under ``/mcp``) and exited after HTTP drained; ``None`` for none.
        serve_http: ``False`` runs every service but HTTP (``gait mcp proxy`` on stdio);
            ``run`` then reports an empty address and waits for the shutdown request.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        handle_signals: bool = False,
        clock_ns: Callable[[], int] = time.time_ns,
        environ: dict[str, str] | None = None,
        journal_opener: FileOpener | None = None,
        tracing: TracingHandle | None = None,
        mcp: Mount | None = None,
        serve_http: bool = True,
    ) -> None:
        self.config = config
        self._mcp = mcp
        self._serve_http = serve_http
        self._signalled = False
        self._journal_opener = journal_opener
        self._tracing = tracing
        self._handle_signals = handle_signals
        self._clock_ns = clock_ns
        self._environ = environ
        self._shutdown: anyio.Event | None = None
        self._signalled = False
        self._reload_requested: anyio.Event | None = None
        self.policy: PolicyHolder | None = None
        self.metrics = Metrics(version=config.producer_version)
        if tracing is not None and tracing.enabled:
            self.metrics.track_tracing(tracing.stats)
        self.ready = False
        self.draining = False
        self.bound: BoundAddress | None = None
        self.last_retention: list[ClassSweep] = []
        self._app: GaitApp | None = None
        self._service: DecisionService | None = None
        self._sessions: SessionManager | None = None
        self._exporter: DecisionExporter | None = None
        self._traces: TraceWriter | None = None
        self._trace_log: TraceLog | None = None
        self._trace_files: TraceFileExporter | None = None
        self._janitor = Janitor(config, clock_ns, self._open_journals)
        self._approval_key: VerifyKey | None = None
        self.signing: ResolvedSigningKey | None = None
        self.cluster: ClusterJournal | None = None

    # ------------------------------------------------------------------ control

    def request_shutdown(self) -> None:
        """Start the graceful drain (idempotent)."""
        if self._shutdown is not None and not self._shutdown.is_set():
            _log.info("drain_started")
            self.draining = True
            if self._app is not None:
                self._app.accepting = False
            self._shutdown.set()

    async def checkpoint(self, session_id: str) -> str:
        """Checkpoint one session now; return the checkpoint runpack path (``""`` if nothing new).

        Raises:
            InternalError: the server is not running.
        """
        if self._sessions is None:
            raise InternalError("supervisor is not running", code="supervisor_stopped")
        record = await self._sessions.checkpoint(session_id)
        return record.runpack_path if record is not None else ""

    def request_reload(self) -> None:
        """Ask the policy watcher to reload now (what SIGHUP does)."""
        if self._reload_requested is not None:
            self._reload_requested.set()

    # ------------------------------------------------------------------ running

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[BoundAddress] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start every service in order, serve until shutdown, then drain.

        Raises:
            StateDirLockedError: another supervisor owns the state directory.
            PolicyError: the policy is invalid at start-up.
            KeyMaterialError: the signing key cannot be resolved.
            OSError: the listen address cannot be bound.
        """
        config = self.config
        self._shutdown = anyio.Event()
        self._reload_requested = anyio.Event()
        self.policy = PolicyHolder(config.policy_path, profile=config.profile)
        signing = resolve_signing_key(
            config.key_mode,
            KeySource(path=config.private_key, env=config.private_key_env),
            environ=self._environ,
        )
        self.signing = signing
        approval_key = None
        if config.approval_public_key.strip():
            approval_key = load_public(KeySource(path=config.approval_public_key), self._environ)
        self._approval_key = approval_key
        for directory in (config.trace_dir, config.session_dir, config.runpack_dir):
            if directory is not None:
                ensure_dir(directory)
        await self._serve(signing, task_status)

    async def _serve(
        self, signing: ResolvedSigningKey, task_status: anyio.abc.TaskStatus[BoundAddress]
    ) -> None:
        config = self.config
        session_config = SessionConfig(
            session_dir=config.session_dir,
            fsync=config.fsync,
            state_updates=config.state_updates,
            journal_io=config.journal_io,
            lock_lease_s=config.lock_lease_s,
            max_sessions=config.max_sessions,
            mailbox_size=config.mailbox_size,
            batch_limit=config.batch_limit,
            checkpoint_every_events=config.checkpoint_every_events,
            checkpoint_dir=config.runpack_dir,
            # Checkpoint runpacks are signed with a prod key (a dev key dies with the
            # process, so its signatures could never be checked later).
            signing_key=signing.key if signing.mode == "prod" else None,
            producer_version=config.producer_version,
            drain_timeout_s=max(config.drain_timeout_s, 1.0),
        )
        base_opener = replace(session_config, opener=self._journal_opener).journal_opener()
        session_config = replace(session_config, opener=metered_opener(base_opener, self.metrics))
        if config.journal_url:
            self.cluster = await _start_cluster(config, self._clock_ns)
            session_config = replace(session_config, journal_factory=self.cluster.factory)
        try:
            await self._serve_sessions(signing, session_config, task_status)
        finally:
            if self.cluster is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.cluster.close)

    async def _serve_sessions(
        self,
        signing: ResolvedSigningKey,
        session_config: SessionConfig,
        task_status: anyio.abc.TaskStatus[BoundAddress],
    ) -> None:
        config = self.config
        assert self.policy is not None and self._shutdown is not None
        policy = self.policy
        async with anyio.create_task_group() as background:
            async with SessionManager(session_config) as sessions:
                self._sessions = sessions
                async with anyio.create_task_group() as io:
                    self._trace_log = TraceLog(
                        config.trace_dir / LOG_DIR_NAME,
                        batch_limit=config.batch_limit,
                        fsync=config.fsync,
                    )
                    await io.start(self._trace_log.run)
                    if config.trace_files == "export":
                        self._trace_files = TraceFileExporter(self._trace_log, config.trace_dir)
                        await io.start(self._trace_files.run)
                    self._traces = TraceWriter(
                        batch_limit=config.batch_limit,
                        log=self._trace_log,
                        log_trace_dir=config.trace_dir,
                    )
                    await io.start(self._traces.run)
                    if config.export_log_out is not None or config.export_otel_out is not None:
                        self._exporter = DecisionExporter(
                            log_path=config.export_log_out,
                            otel_path=config.export_otel_out,
                            producer_version=config.producer_version,
                        )
                        self.metrics.track_exporter(self._exporter.stats)
                        await io.start(self._exporter.run)
                    self._service = DecisionService(
                        config,
                        policy=lambda: policy.current,
                        signing=signing,
                        trace_writer=self._traces,
                        journal=sessions,
                        exporter=self._exporter,
                        clock_ns=self._clock_ns,
                        metrics=self.metrics,
                        approval_key=self._approval_key,
                    )
                    self.metrics.on_scrape(self._refresh_metrics)
                    mounts = AsyncExitStack()
                    mcp_app = None
                    if self._mcp is not None:
                        mcp_app = await mounts.enter_async_context(
                            self._mcp(
                                MountHost(
                                    self._service,
                                    sessions,
                                    lambda: policy.current,
                                    config,
                                    self._serve_http,
                                )
                            )
                        )
                    self._app = GaitApp(
                        self._service,
                        max_request_bytes=config.max_request_bytes,
                        auth=TokenAuth(config.auth_token) if config.auth_token else None,
                        health=self.health,
                        metrics=self.metrics.render,
                        mcp=mcp_app,
                        readiness=self.readiness,
                        recorder=self.metrics,
                        metrics_access=config.metrics_access,
                        router=self.cluster.route if self.cluster is not None else None,
                    )
                    settings = HTTPServerSettings(
                        header_timeout_s=config.header_timeout_s,
                        read_timeout_s=config.read_timeout_s,
                        drain_timeout_s=config.drain_timeout_s,
                        server=config.http_server,
                        certfile=str(config.certfile) if config.certfile else "",
                        keyfile=str(config.keyfile) if config.keyfile else "",
                    )
                    async with mounts, anyio.create_task_group() as http:
                        if self._serve_http:
                            self.bound = await http.start(
                                partial(
                                    serve_http,
                                    self._app,
                                    config.listen,
                                    settings=settings,
                                    shutdown=self._shutdown,
                                    metrics_listen=config.metrics_listen,
                                )
                            )
                        else:
                            self.bound = BoundAddress()
                            http.start_soon(self._shutdown.wait)
                        background.start_soon(self._watch_policy)
                        background.start_soon(self._janitor.run)
                        if self._handle_signals:
                            await background.start(self._signals)
                        if self.cluster is not None:
                            self.cluster.address = config.advertise or self.bound.url()
                        self.ready = True
                        _log.info(
                            "supervisor_ready",
                            listen=self.bound.display(),
                            url=self.bound.url(),
                            metrics_port=self._app.metrics_port or None,
                        )
                        task_status.started(self.bound)
                    self.ready = False
                    _log.info("http_drained")
                    self._traces.close()
                    self._trace_log.close()
                    if self._trace_files is not None:
                        self._trace_files.close()
                    if self._exporter is not None:
                        self._exporter.close()
                _log.info("flushing_sessions")
            _log.info("drain_complete")
            background.cancel_scope.cancel()

    async def _signals(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(*_SHUTDOWN_SIGNALS, signal.SIGHUP) as received:
            task_status.started()
            async for signum in received:
                if signum == signal.SIGHUP:
                    self.request_reload()
                elif self._signalled:
                    _log.warning("second_signal_exit", signal=int(signum))
                    os._exit(128 + int(signum))
                else:
                    self._signalled = True
                    self.request_shutdown()

    async def _watch_policy(self) -> None:
        assert self.policy is not None and self._reload_requested is not None
        interval = self.config.policy_poll_s if self.config.policy_poll_s > 0 else math.inf
        missing_logged = False
        while True:
            with anyio.move_on_after(interval):
                await self._reload_requested.wait()
            requested = self._reload_requested.is_set()
            self._reload_requested = anyio.Event()
            if not requested and not self.policy.changed_on_disk():
                continue
            if not self.config.policy_path.exists():
                if not missing_logged:
                    self.metrics.policy_reloads.labels(result="failed").inc()
                    self.policy.reload_errors += 1
                    self.policy.last_error = f"policy file missing: {self.config.policy_path}"
                    _log.error(
                        "policy_file_missing",
                        path=str(self.config.policy_path),
                        kept_digest=self.policy.current.digest,
                    )
                    missing_logged = True
                continue
            missing_logged = False
            # Compiling a large policy takes seconds: off the loop, so decisions go on
            # with the old policy until the new one is swapped in (one attribute write).
            errors = self.policy.reload_errors
            await anyio.to_thread.run_sync(self.policy.reload)
            failed = self.policy.reload_errors > errors
            self.metrics.policy_reloads.labels(result="failed" if failed else "ok").inc()

    async def sweep_now(self) -> list[ClassSweep]:
        """Run one retention sweep (in a worker thread) and write its report if configured."""
        sweeps = await self._janitor.sweep_now()
        self.last_retention = sweeps
        return sweeps

    async def traces_exported(self) -> None:
        """Return once every trace durable now has its trace file (bound it with a timeout)."""
        if self._trace_files is not None:
            await self._trace_files.caught_up()

    async def traces_export_failed(self) -> None:
        """Return once the trace-file exporter has failed at least once (bound it)."""
        if self._trace_files is not None:
            await self._trace_files.failed()

    def _open_journals(self) -> set[Path]:
        if self._sessions is None:
            return set()
        return {Path(p).resolve() for p in self._sessions.open_journal_paths()}

    # ------------------------------------------------------------------ health

    def _refresh_metrics(self) -> None:
        """Set the live gauges (sessions, mailboxes, queues) before a ``/metrics`` scrape."""
        metrics = self.metrics
        if self._sessions is not None:
            stats = self._sessions.stats()
            metrics.observe_sessions(
                active=int(stats["sessions_active"]),
                mailbox_depths=stats["mailbox_depths"],
                restarts_total=int(stats["restarts"]),
            )
        if self._traces is not None:
            metrics.mailbox_depth.labels(mailbox="trace_writer").set(self._traces.pending())
        if self._trace_log is not None:
            metrics.mailbox_depth.labels(mailbox="trace_log").set(self._trace_log.pending())
            files = self._trace_files.stats() if self._trace_files else NO_EXPORT_STATS
            metrics.observe_trace_log(
                lines_total=self._trace_log.written,
                exported_total=files["exported"],
                failures_total=files["failures"],
                lag_bytes=files["lag_bytes"],
            )
        if self._exporter is not None:
            metrics.mailbox_depth.labels(mailbox="exporter").set(self._exporter.stats()["queued"])

    def readiness(self) -> Readiness:
        """The ``/readyz`` answer: ready once serving, not draining, policy file loadable."""
        if self.draining:
            return Readiness(False, "draining")
        if not self.ready:
            return Readiness(False, "starting")
        if self.policy is not None and self.policy.last_error:
            return Readiness(False, "policy_unloadable", self.policy.last_error)
        return Readiness(True)

    def health(self) -> dict[str, Any]:
        """The ``GET /v1/health`` document (always 200; ``status`` says ok or degraded)."""
        return health_document(
            self.config,
            ready=self.readiness().ready,
            draining=self.draining,
            listen=self.bound.display() if self.bound else "",
            http_server=self._app.http_server if self._app else "",
            in_flight=self._app.in_flight if self._app else 0,
            policy=self.policy,
            sessions=self._sessions,
            cluster=self.cluster,
            service=self._service,
            exporter=self._exporter,
            traces=TraceParts(self._traces, self._trace_log, self._trace_files),
            tracing=self._tracing,
        )


async def _start_cluster(config: ServiceConfig, clock_ns: Callable[[], int]) -> ClusterJournal:
    """Connect to the JetStream cluster of ``--journal`` (bounded, off the loop).

    Raises:
        DependencyMissingError: the ``nats`` extra is not installed.
        JournalUnavailableError: the cluster did not answer in time.
    """
    try:
        from ..cluster import ClusterJournal as _Cluster
        from ..cluster import NatsSettings
    except ImportError as exc:
        raise DependencyMissingError(
            f"--journal nats://… needs the nats extra (pip install 'gait-runtime[nats]'): {exc}"
        ) from exc
    settings = NatsSettings.from_url(
        config.journal_url,
        replicas=config.journal_replicas,
        timeout_s=config.journal_timeout_s,
        batch_mode=config.journal_batch,
    )
    cluster = _Cluster(settings, lease_s=config.lease_s, now_ns=clock_ns)
    await anyio.to_thread.run_sync(cluster.start)
    return cluster
