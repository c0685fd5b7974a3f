"""Prometheus metrics of one gait process, in a registry of its own.

Owns: :class:`Metrics`, which creates every metric in a private
``CollectorRegistry`` (never the global one, so two instances — or two tests —
never share state), the helpers that record a decision or a journal append,
the callback metrics that read exporter and tracing counters at scrape time,
the scrape-time refresh of gauges (:meth:`Metrics.on_scrape`,
:meth:`Metrics.observe_sessions`),
and :meth:`Metrics.render` for a ``/metrics`` endpoint. Does not own: serving
HTTP (the supervisor's transport does that) or deciding what to observe.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS_S", "BATCH_SIZE_BUCKETS", "VERDICTS", "Metrics", "StatsSource"]

VERDICTS: Final = ("allow", "block", "dry_run", "require_approval")
"""Every verdict; each has a ``gait_decisions_total`` series from the start (at 0)."""
HTTP_ROUTES: Final = frozenset(
    {
        "/v1/evaluate",
        "/v1/evaluate/sse",
        "/v1/evaluate/stream",
        "/healthz",
        "/livez",
        "/readyz",
        "/v1/health",
        "/metrics",
    }
)
"""Routes named in the ``route`` label; any other path counts as ``other`` (bounded labels)."""

LATENCY_BUCKETS_S: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
"""Latency buckets in seconds: decisions and appends take sub-millisecond to seconds."""
BATCH_SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
"""Journal records written per group commit."""

StatsSource = Callable[[], Mapping[str, object]]
"""A zero-argument callable returning counters, e.g. ``DecisionExporter.stats``."""


class _StatsCollector(Collector):
    """Reads counters from registered sources each time the registry is scraped."""

    def __init__(self) -> None:
        self.exporters: list[StatsSource] = []
        self.tracing: list[StatsSource] = []

    def collect(self) -> Iterator[Metric]:
        dropped = CounterMetricFamily(
            "gait_exports_dropped",
            "Decision export records dropped (queue full, closed, or not drained).",
        )
        errors = CounterMetricFamily(
            "gait_export_errors", "Decision export lines that could not be written."
        )
        written = CounterMetricFamily("gait_export_lines_written", "Decision export lines written.")
        spans_dropped = CounterMetricFamily(
            "gait_spans_dropped", "Decision spans lost (queue full or failed export)."
        )
        span_errors = CounterMetricFamily(
            "gait_span_export_errors", "Failed span export calls to the collector."
        )
        dropped.add_metric([], float(sum(_read(s, "dropped") for s in self.exporters)))
        errors.add_metric([], float(sum(_read(s, "errors") for s in self.exporters)))
        written.add_metric([], float(sum(_read(s, "written") for s in self.exporters)))
        spans_dropped.add_metric([], float(sum(_read(s, "spans_dropped") for s in self.tracing)))
        span_errors.add_metric([], float(sum(_read(s, "export_errors") for s in self.tracing)))
        yield from (dropped, errors, written, spans_dropped, span_errors)


def _read(source: StatsSource, key: str) -> int:
    try:
        value = source().get(key, 0)
    except Exception:  # a scrape must not fail because one source misbehaves
        return 0
    return value if isinstance(value, int) else 0


class Metrics:
    """Every Prometheus metric of one gait process, in its own registry.

    Attributes:
        registry: the private registry; :meth:`render` serialises it.
        decisions: counter of decisions, label ``verdict``.
        decision_latency: histogram of decision latency (seconds).
        append_latency: histogram of journal append latency (seconds).
        batch_size: histogram of records per journal group commit.
        fsyncs: counter of journal fsync calls.
        mailbox_depth: gauge of messages waiting, label ``mailbox``.
        sessions_active: gauge of live sessions.
        actor_restarts: counter of actor restarts after a crash.
        http_requests: counter of HTTP requests, labels ``method``, ``route``, ``status``.
        http_duration: histogram of HTTP request duration (seconds), label ``route``.
        policy_reloads: counter of policy reloads, label ``result`` (``ok``/``failed``).
        sessions_open: gauge of sessions with a live actor (alias of sessions_active
            under the name operators look for).
        build_info: ``gait_build_info`` (version, python), value 1.

    Args:
        version: the gait version for ``gait_build_info``.
        process_collectors: also register the standard process, platform and
            Python GC collectors (off for throwaway registries in benchmarks).
    """

    def __init__(self, *, version: str = "", process_collectors: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        if process_collectors:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.decisions = Counter(
            "gait_decisions", "Gate decisions by verdict.", ["verdict"], registry=r
        )
        for verdict in VERDICTS:
            self.decisions.labels(verdict=verdict)
        self.http_requests = Counter(
            "gait_http_requests",
            "HTTP requests answered, by method, route and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "gait_http_request_duration_seconds",
            "Time from request start to the last response byte.",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.policy_reloads = Counter(
            "gait_policy_reloads", "Policy reloads by result.", ["result"], registry=r
        )
        for result in ("ok", "failed"):
            self.policy_reloads.labels(result=result)
        self.sessions_open = Gauge("gait_sessions_open", "Sessions with a live actor.", registry=r)
        self.build_info = Info("gait_build", "Build of this gait process.", registry=r)
        self.build_info.info({"version": version, "python": platform.python_version()})
        self.decision_latency = Histogram(
            "gait_decision_latency_seconds",
            "Time to produce one decision.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.append_latency = Histogram(
            "gait_journal_append_latency_seconds",
            "Time to append (and fsync) one journal batch.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.batch_size = Histogram(
            "gait_journal_batch_size",
            "Journal records written per group commit.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.fsyncs = Counter("gait_journal_fsyncs", "Journal fsync calls.", registry=r)
        self.mailbox_depth = Gauge(
            "gait_mailbox_depth", "Messages waiting in an actor mailbox.", ["mailbox"], registry=r
        )
        self.sessions_active = Gauge("gait_sessions_active", "Live sessions.", registry=r)
        self.actor_restarts = Counter(
            "gait_actor_restarts", "Actor restarts after a crash.", registry=r
        )
        self.trace_log_lines = Counter(
            "gait_trace_log_lines", "Trace lines made durable in the server trace log.", registry=r
        )
        self.trace_export_lag = Gauge(
            "gait_trace_export_lag_bytes",
            "Bytes of the server trace log not yet exported as trace files.",
            registry=r,
        )
        self.trace_export_failures = Counter(
            "gait_trace_export_failures", "Failed trace-file export attempts.", registry=r
        )
        self.trace_exported = Counter(
            "gait_trace_exported", "Trace files written from the server trace log.", registry=r
        )
        self._trace_seen = [0, 0, 0]
        self._stats = _StatsCollector()
        r.register(self._stats)
        self._refreshers: list[Callable[[], None]] = []
        self._restarts_seen = 0
        # Labelled children looked up once per label set (``labels()`` costs a few
        # µs a call; every label set here is bounded: verdicts, routes, statuses).
        self._decision_children: dict[str, Any] = {}
        self._http_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe_decision(self, verdict: str, latency_s: float) -> None:
        """Count one decision and record how long it took."""
        child = self._decision_children.get(verdict)
        if child is None:
            child = self._decision_children[verdict] = self.decisions.labels(verdict=verdict)
        child.inc()
        self.decision_latency.observe(latency_s)

    def observe_http(self, method: str, path: str, status: int, duration_s: float) -> None:
        """Count one answered HTTP request and record its duration."""
        route = path if path in HTTP_ROUTES else "other"
        if method not in ("GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"):
            method = "other"
        key = (method, route, str(status))
        pair = self._http_children.get(key)
        if pair is None:
            pair = self._http_children[key] = (
                self.http_requests.labels(method=method, route=route, status=key[2]),
                self.http_duration.labels(route=route),
            )
        pair[0].inc()
        pair[1].observe(duration_s)

    def observe_append(self, latency_s: float, *, batch_size: int, fsyncs: int) -> None:
        """Record one journal group commit."""
        self.append_latency.observe(latency_s)
        self.batch_size.observe(batch_size)
        if fsyncs:
            self.fsyncs.inc(fsyncs)

    def observe_sessions(
        self, *, active: int, mailbox_depths: Mapping[str, int], restarts_total: int
    ) -> None:
        """Set the session gauges from one snapshot of the session layer.

        ``mailbox_depths`` maps session ids to messages waiting; the gauge keeps
        two series (``mailbox="session_total"`` and ``"session_max"``) instead of
        one per session, so its cardinality stays bounded. ``restarts_total`` is
        the session layer's running total; the counter advances by the increase.
        """
        self.sessions_active.set(active)
        self.sessions_open.set(active)
        depths = list(mailbox_depths.values())
        self.mailbox_depth.labels(mailbox="session_total").set(sum(depths))
        self.mailbox_depth.labels(mailbox="session_max").set(max(depths, default=0))
        if restarts_total > self._restarts_seen:
            self.actor_restarts.inc(restarts_total - self._restarts_seen)
            self._restarts_seen = restarts_total

    def observe_trace_log(
        self, *, lines_total: int, exported_total: int, failures_total: int, lag_bytes: int
    ) -> None:
        """Set the trace-log and trace-file exporter series from running totals."""
        self.trace_export_lag.set(lag_bytes)
        for index, (counter, total) in enumerate(
            (
                (self.trace_log_lines, lines_total),
                (self.trace_exported, exported_total),
                (self.trace_export_failures, failures_total),
            )
        ):
            if total > self._trace_seen[index]:
                counter.inc(total - self._trace_seen[index])
                self._trace_seen[index] = total

    def on_scrape(self, refresh: Callable[[], None]) -> None:
        """Call ``refresh`` (which sets gauges from live state) before each :meth:`render`."""
        self._refreshers.append(refresh)

    def track_exporter(self, stats: StatsSource) -> None:
        """Read ``dropped``/``errors``/``written`` from ``stats`` at every scrape."""
        self._stats.exporters.append(stats)

    def track_tracing(self, stats: StatsSource) -> None:
        """Read ``spans_dropped``/``export_errors`` from ``stats`` at every scrape."""
        self._stats.tracing.append(stats)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type, for ``GET /metrics``.

        Refresh callbacks registered with :meth:`on_scrape` run first; one that
        raises is skipped (a scrape never fails because of it).
        """
        for refresh in self._refreshers:
            try:
                refresh()
            except Exception:  # a scrape must not fail because one source misbehaves
                continue
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
