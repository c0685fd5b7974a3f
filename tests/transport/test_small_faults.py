"""The smaller faults of issue 13.7, each against the real parts.

Policy reload compiles off the event loop; an empty policy file warns (standard) and is
refused under oss-prod; trace files are created exclusively; ``checkpoint_interval``
beyond int64 is a 400; the tracing shutdown gives up on a hung exporter within its bound.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from gait_runtime.errors import PolicyError
from gait_runtime.gate.policy import load_policy
from gait_runtime.supervisor.service import policy_reload as reload_module
from gait_runtime.supervisor.service.policy_reload import PolicyHolder
from gait_runtime.supervisor.service.trace_writer import _Job, _write_one
from gait_runtime.telemetry.otel import setup_tracing

from .harness import SERVICE, running

ALLOW = json.loads((SERVICE / "requests" / "allow_mcp.json").read_bytes())


@pytest.mark.anyio
async def test_a_slow_policy_compile_never_stalls_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload whose compile is held (as a 20,000-rule policy takes seconds) runs off the
    loop: a decision is answered, with the old policy, while the compile is still held."""
    held, entered = threading.Event(), threading.Event()

    def slow_load(path: Path) -> object:
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            held.wait(20)
        return load_policy(path)

    async with running(tmp_path) as run:
        old = (await run.client.get("/v1/health")).json()["policy"]["digest"]
        monkeypatch.setattr(reload_module, "load_policy", slow_load)
        run.supervisor.request_reload()
        try:
            await anyio.to_thread.run_sync(entered.wait, 10)
            with anyio.fail_after(10):
                response = await run.client.post("/v1/evaluate", json=ALLOW)
            assert response.status_code == 200
            assert response.json()["policy_digest"] == old
        finally:
            held.set()


def test_an_empty_policy_warns_and_is_refused_under_oss_prod(tmp_path: Path) -> None:
    """An empty file loads as 'everything needs approval': standard takes it (and logs a
    warning), oss-prod refuses it with policy_empty."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("# nothing here yet\n\n")
    holder = PolicyHolder(policy, profile="standard")
    assert not holder.current.rules
    with pytest.raises(PolicyError) as refused:
        PolicyHolder(policy, profile="oss-prod")
    assert refused.value.error_code == "policy_empty"


def test_a_trace_file_is_never_overwritten(tmp_path: Path) -> None:
    """Traces are created exclusively: a name that exists is an error, its bytes stay."""
    path = tmp_path / "trace_x.json"
    path.write_bytes(b"first")
    job = _Job(path, b"second")
    _write_one(job)
    assert "File exists" in job.error
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["trace_x.json"]  # no temp file left
    fresh = _Job(tmp_path / "trace_y.json", b"new")
    _write_one(fresh)
    assert fresh.error == "" and fresh.path.read_bytes() == b"new"


@pytest.mark.anyio
async def test_checkpoint_interval_beyond_int64_is_a_400(tmp_path: Path) -> None:
    async with running(tmp_path) as run:
        body = dict(ALLOW, checkpoint_interval=2**63)
        response = await run.client.post("/v1/evaluate", json=body)
        health = (await run.client.get("/v1/health")).json()
    assert response.status_code == 400
    assert "checkpoint_interval" in response.json()["error"]
    assert sum(health["decisions"].values()) == 0


def test_tracing_shutdown_with_a_dead_collector_is_bounded() -> None:
    """A dead OTLP collector used to hold the drain 5.4 s (the exporter retries with
    backoff); shutdown now abandons the queued spans after its 1 s bound and says so."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there: connection refused
    handle = setup_tracing(
        exporter="otlp",
        endpoint=f"http://127.0.0.1:{port}",
        service_version="1",
        install_global=False,
    )
    assert handle.provider is not None
    tracer = handle.provider.get_tracer("t")
    for _ in range(10):
        with tracer.start_as_current_span("s"):
            pass
    started = time.monotonic()
    assert handle.shutdown() is False  # abandoned: its spans were lost, as documented
    assert time.monotonic() - started < 4.0  # the old bound alone was 5 s
