"""Fixtures for telemetry tests: an in-memory tracing pipeline and sample decisions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gait_runtime.telemetry import DecisionAttributes, TracingHandle, setup_tracing


@pytest.fixture
def tracing() -> Iterator[TracingHandle]:
    """The real SDK with a bounded batch processor feeding an in-memory exporter."""
    handle = setup_tracing(exporter="memory", service_version="9.9.9", install_global=False)
    try:
        yield handle
    finally:
        handle.shutdown()


@pytest.fixture
def block_decision() -> DecisionAttributes:
    """A completed ``block`` decision with every field set."""
    return DecisionAttributes(
        run_id="run_vec-block",
        session_id="sess-svc",
        trace_path="traces/compat/trace_run_vec-block_20261121T110159.543598248.json",
        verdict="block",
        reason_codes=("destructive_tool_blocked", "destructive_apply_requires_approval"),
        policy_digest="d92c3966d161f294f1a85e5da078b5564d6b3697c4df46e2c222877256578072",
        intent_digest="a11c9e3c3b498724ecf211f526921ff198dc194e1cf32d87bd11b8922365bb60",
        decision_latency_ms=1,
        tool_name="tool.delete",
        trace_id="990f9d6381bb4c1b4da03022",
        event_id="evt_1",
        created_at="2026-03-01T09:31:05.123456789Z",
        surface="mcp_serve",
    )
