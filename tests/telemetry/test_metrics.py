"""Prometheus metrics in a per-instance registry, rendered in the text format."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gait_runtime.telemetry import DecisionAttributes, DecisionExporter, Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, ctype = metrics.render()
    assert ctype.startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_decisions_are_counted_by_verdict_with_latency() -> None:
    """observe_decision feeds the verdict counter and the latency histogram."""
    m = Metrics()
    m.observe_decision("block", 0.002)
    m.observe_decision("block", 0.0004)
    m.observe_decision("allow", 0.3)
    s = _samples(m)
    assert s[("gait_decisions_total", (("verdict", "block"),))] == 2
    assert s[("gait_decisions_total", (("verdict", "allow"),))] == 1
    assert s[("gait_decision_latency_seconds_count", ())] == 3
    assert s[("gait_decision_latency_seconds_bucket", (("le", "0.0005"),))] == 1
    assert s[("gait_decision_latency_seconds_bucket", (("le", "0.0025"),))] == 2


def test_journal_and_actor_metrics_are_exposed() -> None:
    """Append latency, batch size, fsyncs, mailbox depth, sessions and restarts render."""
    m = Metrics()
    m.observe_append(0.004, batch_size=16, fsyncs=1)
    m.observe_append(0.001, batch_size=1, fsyncs=0)
    m.mailbox_depth.labels(mailbox="journal").set(7)
    m.sessions_active.inc(3)
    m.actor_restarts.inc()
    s = _samples(m)
    assert s[("gait_journal_append_latency_seconds_count", ())] == 2
    assert s[("gait_journal_batch_size_sum", ())] == 17
    assert s[("gait_journal_fsyncs_total", ())] == 1
    assert s[("gait_mailbox_depth", (("mailbox", "journal"),))] == 7
    assert s[("gait_sessions_active", ())] == 3
    assert s[("gait_actor_restarts_total", ())] == 1


def test_each_instance_has_its_own_registry() -> None:
    """Two Metrics objects never share counts (no global registry)."""
    a, b = Metrics(), Metrics()
    a.observe_decision("allow", 0.001)
    assert _samples(a)[("gait_decisions_total", (("verdict", "allow"),))] == 1
    assert _samples(b)[("gait_decisions_total", (("verdict", "allow"),))] == 0
    assert a.registry is not b.registry


@pytest.mark.anyio
async def test_exporter_drops_are_read_at_scrape_time(tmp_path: Path) -> None:
    """The callback metrics follow DecisionExporter.stats() and tracing stats live."""
    m = Metrics()
    exporter = DecisionExporter(log_path=tmp_path / "l.jsonl", producer_version="1", max_queue=1)
    m.track_exporter(exporter.stats)
    m.track_tracing(lambda: {"spans_dropped": 4, "export_errors": 2})
    record = DecisionAttributes(
        run_id="r",
        verdict="allow",
        policy_digest="p",
        intent_digest="i",
        tool_name="t",
        trace_id="x",
    )
    assert exporter.submit_nowait(record)
    assert not exporter.submit_nowait(record)
    assert not exporter.submit_nowait(record)
    s = _samples(m)
    assert s[("gait_exports_dropped_total", ())] == 2
    assert s[("gait_spans_dropped_total", ())] == 4
    assert s[("gait_span_export_errors_total", ())] == 2
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        exporter.close()
    s = _samples(m)
    assert s[("gait_export_lines_written_total", ())] == 1
    assert s[("gait_export_errors_total", ())] == 0


def test_a_broken_stats_source_does_not_break_the_scrape() -> None:
    """A source that raises reads as zero; the other metrics still render."""
    m = Metrics()

    def broken() -> dict[str, int]:
        raise RuntimeError("gone")

    m.track_exporter(broken)
    m.observe_decision("allow", 0.001)
    s = _samples(m)
    assert s[("gait_exports_dropped_total", ())] == 0
    assert s[("gait_decisions_total", (("verdict", "allow"),))] == 1
