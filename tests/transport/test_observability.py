"""Observability of the running decision server, end to end.

In-process tests start the real Supervisor on 127.0.0.1:0 (both anyio
backends) with a real OpenTelemetry SDK pipeline (in-memory exporter, or OTLP
to a closed port); subprocess tests start ``gait serve`` with ``--otel otlp``
against a real OTLP/HTTP receiver in the test that decodes the protobuf. They
cover: one decision span per decision with exactly the locked attribute set
and types, its ``gait.trace.sign`` / ``gait.journal.append`` children and its
tie to the signed trace on disk; W3C ``traceparent`` continuation; a dead
collector or an unwritable export file changing nothing a caller sees while
the loss counters rise in ``/v1/health`` and ``/metrics``; the Go shapes of
the JSONL exports; every listed metric on ``/metrics``; and the correlation
ids on the decision path's log lines. Every wait is a bounded poll.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from gait_runtime.artifacts.timefmt import parse_rfc3339
from gait_runtime.cli.serve import tracing_choice
from gait_runtime.errors import UsageError, exit_code_for
from gait_runtime.supervisor.runtime import Supervisor
from gait_runtime.supervisor.service.config import ServiceConfig
from gait_runtime.telemetry import TracingHandle, configure_logging, reset_logging, setup_tracing
from gait_runtime.telemetry.otel import (
    DECISION_SPAN_NAME,
    JOURNAL_APPEND_SPAN_NAME,
    TRACE_SIGN_SPAN_NAME,
)

from .harness import PRIVATE_KEY, SERVICE, Running, comparable, service_config
from .otlp_receiver import ReceivedSpan, closed_port, grpc_receiving, receiving

REQUESTS = SERVICE / "requests"
EXPORT_VECTORS = SERVICE / "exports"
ALLOW = (REQUESTS / "allow_mcp.json").read_bytes()
BLOCK = (REQUESTS / "block_mcp.json").read_bytes()
APPROVAL = (REQUESTS / "require_approval_mcp.json").read_bytes()
DRY_RUN = (REQUESTS / "dry_run_mcp.json").read_bytes()
OPENAI = (REQUESTS / "allow_openai.json").read_bytes()
MIXED = [ALLOW, BLOCK, APPROVAL, DRY_RUN, OPENAI, BLOCK, ALLOW]
"""Decisions of every verdict; the requests with ``session_id`` are journaled."""
GO_EXPORT_SEQUENCE = [ALLOW, BLOCK, APPROVAL, DRY_RUN, OPENAI, BLOCK, ALLOW, OPENAI]
"""The decisions behind the 8 lines of the Go export vectors, in order."""
JSON = {"content-type": "application/json"}

LOCKED_ATTRIBUTES: dict[str, type] = {
    "gait.run_id": str,
    "gait.session_id": str,
    "gait.trace_path": str,
    "gait.verdict": str,
    "gait.reason_codes": tuple,
    "gait.policy_digest": str,
    "gait.intent_digest": str,
    "gait.decision_latency_ms": int,
    "gait.tool_name": str,
    "gait.delegation_ref": str,
    "gait.delegation_depth": int,
}
"""``spec/otel.md`` §3: the eleven keys of the OTEL-style record, with their types."""
SPAN_ATTRIBUTES: dict[str, type] = {
    **LOCKED_ATTRIBUTES,
    "gait.trace_id": str,
    "gait.event_id": str,
    "gait.created_at": str,
    "gait.intent_created_at": str,
    "gait.surface": str,
    "gen_ai.operation.name": str,
    "gen_ai.tool.name": str,
}
"""§5: the decision span carries the locked set plus the trace tie and GenAI keys, nothing else."""


def _session_of(body: bytes) -> str:
    context = json.loads(body)["call"].get("context", {})
    return str(context.get("session_id") or "")


# ----------------------------------------------------------------------------- in-process


def _config_in(root: Path, **overrides: Any) -> ServiceConfig:
    root.mkdir(parents=True, exist_ok=True)
    return service_config(root, **overrides)


@asynccontextmanager
async def _serving(
    root: Path, *, tracing: TracingHandle | None = None, **overrides: Any
) -> AsyncIterator[Running]:
    """The real Supervisor (with the given tracing pipeline) on 127.0.0.1:0, and a client."""
    config = _config_in(root, **overrides)
    supervisor = Supervisor(config, tracing=tracing)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(15):
            bound = await tg.start(supervisor.run)
        async with httpx.AsyncClient(base_url=bound.url(), timeout=15) as client:
            yield Running(supervisor, bound, client, config)
        supervisor.request_shutdown()


@pytest.fixture
def memory_tracing() -> Iterator[TracingHandle]:
    """The real SDK (bounded batch processor) feeding an in-memory exporter."""
    handle = setup_tracing(
        exporter="memory", service_version="test", install_global=False, schedule_delay_ms=10
    )
    try:
        yield handle
    finally:
        handle.shutdown()


async def _finished_spans(handle: TracingHandle) -> list[ReadableSpan]:
    assert await anyio.to_thread.run_sync(handle.force_flush)
    assert handle.memory_exporter is not None
    return list(handle.memory_exporter.get_finished_spans())


async def _decide_all(run: Running, bodies: list[bytes]) -> list[httpx.Response]:
    responses = [await run.client.post("/v1/evaluate", content=b, headers=JSON) for b in bodies]
    assert [r.status_code for r in responses] == [200] * len(bodies)
    return responses


async def _health(run: Running) -> dict[str, Any]:
    response = await run.client.get("/v1/health")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def _metrics(run: Running) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``/metrics`` parsed with prometheus_client: sample name -> labels -> value."""
    response = await run.client.get("/metrics")
    assert response.status_code == 200
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    """Poll ``check`` until it is true, failing after ``seconds``."""
    with anyio.fail_after(seconds):
        while not await check():  # noqa: ASYNC110  # polling the server's own endpoints
            await anyio.sleep(0.02)


def _trace_file(body: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(body["trace_path"]).read_bytes())
    return doc


@pytest.mark.anyio
async def test_every_decision_has_one_span_with_exactly_the_locked_attributes_and_children(
    tmp_path: Path, memory_tracing: TracingHandle
) -> None:
    """N decisions -> N ``gait.gate.decision`` spans tied to their signed trace files."""
    async with _serving(tmp_path, tracing=memory_tracing) as run:
        responses = await _decide_all(run, MIXED)
    spans = await _finished_spans(memory_tracing)
    decisions = [s for s in spans if s.name == DECISION_SPAN_NAME]
    assert len(decisions) == len(MIXED)
    by_path = {str(s.attributes["gait.trace_path"]): s for s in decisions if s.attributes}
    for request, response in zip(MIXED, responses, strict=True):
        body = response.json()
        span = by_path[body["trace_path"]]
        attrs = dict(span.attributes or {})
        assert set(attrs) == set(SPAN_ATTRIBUTES)
        for key, kind in SPAN_ATTRIBUTES.items():
            assert type(attrs[key]) is kind, key
        assert all(type(code) is str for code in attrs["gait.reason_codes"])  # type: ignore[union-attr]
        trace = _trace_file(body)
        assert attrs["gait.trace_id"] == trace["trace_id"]
        assert attrs["gait.event_id"] == trace["event_id"]
        assert attrs["gait.intent_digest"] == trace["intent_digest"]
        assert attrs["gait.policy_digest"] == trace["policy_digest"]
        assert attrs["gait.verdict"] == body["verdict"] == trace["verdict"]
        assert attrs["gait.trace_path"] == body["trace_path"]
        assert list(attrs["gait.reason_codes"]) == body.get("reason_codes", [])  # type: ignore[arg-type]
        assert attrs["gait.surface"] == "mcp_serve"
        assert attrs["gen_ai.operation.name"] == "execute_tool"
        assert attrs["gen_ai.tool.name"] == attrs["gait.tool_name"] == body["tool_name"]
        assert span.kind is SpanKind.INTERNAL
        assert span.status.status_code is StatusCode.OK
        assert [e.name for e in span.events] == ["gait.mcp.proxy.decision"]
        assert span.resource.attributes["service.name"] == "gait"
        assert span.context is not None
        children = [
            s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id
        ]
        expected = [TRACE_SIGN_SPAN_NAME]
        if _session_of(request):
            expected.append(JOURNAL_APPEND_SPAN_NAME)
        assert sorted(s.name for s in children) == sorted(expected)
        for child in children:
            assert child.context is not None
            assert child.context.trace_id == span.context.trace_id
            assert child.status.status_code is not StatusCode.ERROR
    assert memory_tracing.stats()["spans_dropped"] == 0


@pytest.mark.anyio
async def test_traceparent_from_the_caller_continues_its_trace(
    tmp_path: Path, memory_tracing: TracingHandle
) -> None:
    """A request with ``traceparent`` yields a SERVER span in that trace, child of the
    caller's span, and the decision span is the SERVER span's child."""
    trace_hex, parent_hex = os.urandom(16).hex(), os.urandom(8).hex()
    async with _serving(tmp_path, tracing=memory_tracing) as run:
        with_parent = await run.client.post(
            "/v1/evaluate",
            content=ALLOW,
            headers={**JSON, "traceparent": f"00-{trace_hex}-{parent_hex}-01"},
        )
        without = await run.client.post("/v1/evaluate", content=BLOCK, headers=JSON)
    assert with_parent.status_code == without.status_code == 200
    spans = {
        s.attributes["gait.trace_path"]: s
        for s in await _finished_spans(memory_tracing)
        if s.name == DECISION_SPAN_NAME and s.attributes
    }
    finished = await _finished_spans(memory_tracing)
    servers = {s.context.span_id: s for s in finished if s.kind is SpanKind.SERVER and s.context}
    continued = spans[with_parent.json()["trace_path"]]
    assert continued.context is not None and continued.parent is not None
    assert f"{continued.context.trace_id:032x}" == trace_hex
    server = servers[continued.parent.span_id]
    assert server.name == "POST /v1/evaluate"
    assert server.parent is not None and server.parent.is_remote
    assert f"{server.parent.span_id:016x}" == parent_hex
    assert server.attributes is not None
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/v1/evaluate"
    assert server.attributes["http.response.status_code"] == 200
    fresh = spans[without.json()["trace_path"]]
    assert fresh.parent is not None and fresh.parent.span_id in servers
    assert servers[fresh.parent.span_id].parent is None
    assert fresh.context is not None and f"{fresh.context.trace_id:032x}" != trace_hex


def _comparable(response: httpx.Response, run: Running) -> tuple[int, Any]:
    body = comparable(
        response.json(),
        trace_dir=str(run.config.trace_dir),
        session_dir=str(run.config.session_dir),
    )
    body.pop("trace_id", None)
    for key in ("log_export", "otel_export"):
        body.pop(key, None)
    return response.status_code, body


@pytest.mark.anyio
async def test_a_dead_collector_changes_no_decision_and_the_loss_is_counted(
    tmp_path: Path,
) -> None:
    """OTLP to a closed port: same statuses and bodies as OTEL off; drops and errors rise."""
    async with _serving(tmp_path / "off") as run:
        baseline = [_comparable(r, run) for r in await _decide_all(run, MIXED)]
    dead = setup_tracing(
        exporter="otlp",
        endpoint=f"http://127.0.0.1:{closed_port()}",
        service_version="test",
        install_global=False,
        schedule_delay_ms=20,
        export_timeout_s=0.5,
    )
    try:
        async with _serving(tmp_path / "on", tracing=dead) as run:
            answers = [_comparable(r, run) for r in await _decide_all(run, MIXED)]
            assert answers == baseline

            async def lost() -> bool:
                tracing = (await _health(run))["tracing"]
                return bool(tracing["export_errors"] >= 1 and tracing["spans_dropped"] >= 1)

            await _until(lost)
            health = await _health(run)
            assert health["tracing"]["enabled"] is True
            assert health["tracing"]["spans_exported"] == 0
            assert health["decisions"]["allow"] == 3
            metrics = await _metrics(run)
            assert metrics["gait_spans_dropped_total"][()] >= 1
            assert metrics["gait_span_export_errors_total"][()] >= 1
    finally:
        dead.shutdown(timeout_s=5)


@pytest.mark.anyio
async def test_an_unwritable_export_file_changes_no_decision_and_is_counted(
    tmp_path: Path,
) -> None:
    """Export paths that are directories: every decision still answers as without exports.

    Go would turn the failed export write into an HTTP 400 for the whole call;
    here the write failure is logged and counted, never surfaced to the caller.
    """
    async with _serving(tmp_path / "plain") as run:
        baseline = [_comparable(r, run) for r in await _decide_all(run, MIXED)]
    blocked = tmp_path / "blocked"
    (blocked / "log_is_a_dir").mkdir(parents=True)
    (blocked / "otel_is_a_dir").mkdir()
    async with _serving(
        tmp_path / "exports",
        export_log_out=blocked / "log_is_a_dir",
        export_otel_out=blocked / "otel_is_a_dir",
    ) as run:
        responses = await _decide_all(run, MIXED)
        assert [_comparable(r, run) for r in responses] == baseline
        assert all(r.json()["otel_export"] == str(blocked / "otel_is_a_dir") for r in responses)

        async def failed() -> bool:
            exports = (await _health(run))["exports"]
            return bool(exports["errors"] == 2 * len(MIXED))

        await _until(failed)
        health = await _health(run)
        assert health["exports"]["written"] == 0
        assert health["exports"]["enabled"] is True
        metrics = await _metrics(run)
        assert metrics["gait_export_errors_total"][()] == 2 * len(MIXED)
        assert metrics["gait_export_lines_written_total"][()] == 0
        assert () in metrics["gait_exports_dropped_total"]


def _vector_lines(name: str) -> list[dict[str, Any]]:
    text = (EXPORT_VECTORS / name).read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.anyio
async def test_exports_written_by_the_server_have_the_go_shapes(tmp_path: Path) -> None:
    """The 8 Go-vector decisions replayed: same key order, keys, types and decision values.

    One divergence on purpose (issue 20): the plain log's ``created_at`` is the observed
    decision time (the signed trace's ``observed_at``) when the call gave none, where Go
    writes 1980-01-01; the OTEL-style record keeps Go's deterministic time."""
    log_path, otel_path = tmp_path / "out" / "log.jsonl", tmp_path / "out" / "otel.jsonl"
    async with _serving(tmp_path, export_log_out=log_path, export_otel_out=otel_path) as run:
        responses = [
            await run.client.post("/v1/evaluate", content=b, headers=JSON)
            for b in GO_EXPORT_SEQUENCE
        ]

        async def written() -> bool:
            return bool((await _health(run))["exports"]["written"] == 2 * len(responses))

        await _until(written)
    bodies = [r.json() for r in responses]
    raw_log = log_path.read_text().splitlines()
    raw_otel = otel_path.read_text().splitlines()
    go_log, go_otel = _vector_lines("decisions_log.jsonl"), _vector_lines("decisions_otel.jsonl")
    assert len(raw_log) == len(raw_otel) == len(go_log) == len(go_otel) == len(bodies)
    variable = {"trace_id", "trace_path", "decision_latency_ms", "created_at"}
    for line, go, body in zip(raw_log, go_log, bodies, strict=True):
        ours = json.loads(line)
        assert line == json.dumps(ours, separators=(",", ":"), ensure_ascii=False)
        assert [k for k in ours if k != "decision_latency_ms"] == [
            k for k in go if k != "decision_latency_ms"
        ]
        assert {k: v for k, v in ours.items() if k not in variable} == {
            k: v for k, v in go.items() if k not in variable
        }
        assert ours["trace_id"] == body["trace_id"]
        assert ours["trace_path"] == body["trace_path"]
        assert type(ours.get("decision_latency_ms", 0)) is int
        assert go["created_at"] == "1980-01-01T00:00:00Z"
        observed = parse_rfc3339(_trace_file(body)["observed_at"], field="observed_at")
        assert parse_rfc3339(ours["created_at"], field="created_at") == observed
    attr_variable = {"gait.trace_path", "gait.decision_latency_ms"}
    for line, go, body in zip(raw_otel, go_otel, bodies, strict=True):
        ours = json.loads(line)
        assert list(ours) == sorted(ours) == sorted(go)
        attrs, go_attrs = ours["attributes"], go["attributes"]
        assert list(attrs) == sorted(attrs) == sorted(go_attrs)
        assert {k: type(v) for k, v in attrs.items()} == {k: type(v) for k, v in go_attrs.items()}
        assert {k: v for k, v in attrs.items() if k not in attr_variable} == {
            k: v for k, v in go_attrs.items() if k not in attr_variable
        }
        assert {k: v for k, v in ours.items() if k not in ("attributes", "trace_id")} == {
            k: v for k, v in go.items() if k not in ("attributes", "trace_id")
        }
        assert ours["trace_id"] == body["trace_id"]
        assert attrs["gait.trace_path"] == body["trace_path"]


@pytest.mark.anyio
async def test_metrics_show_every_listed_metric_after_a_few_decisions(tmp_path: Path) -> None:
    """Decisions, latencies, batches, fsyncs, mailboxes, sessions, restarts and drops."""
    export = tmp_path / "exports" / "otel.jsonl"
    async with _serving(tmp_path, export_otel_out=export) as run:
        await _decide_all(run, MIXED)
        metrics = await _metrics(run)
    journaled = sum(1 for b in MIXED if _session_of(b))
    decisions = metrics["gait_decisions_total"]
    assert decisions == {
        (("verdict", "allow"),): 3.0,
        (("verdict", "block"),): 2.0,
        (("verdict", "require_approval"),): 1.0,
        (("verdict", "dry_run"),): 1.0,
    }
    assert metrics["gait_decision_latency_seconds_count"][()] == len(MIXED)
    assert 0 < metrics["gait_decision_latency_seconds_sum"][()] < 60
    assert metrics["gait_journal_append_latency_seconds_count"][()] == journaled
    assert metrics["gait_journal_append_latency_seconds_sum"][()] > 0
    assert metrics["gait_journal_batch_size_count"][()] >= 1
    assert metrics["gait_journal_batch_size_sum"][()] >= journaled
    assert metrics["gait_journal_fsyncs_total"][()] >= metrics["gait_journal_batch_size_count"][()]
    depth = metrics["gait_mailbox_depth"]
    for mailbox in ("session_total", "session_max", "trace_writer", "exporter"):
        assert depth[(("mailbox", mailbox),)] >= 0
    actors = {(_session_of(b), json.loads(b)["run_id"]) for b in MIXED if _session_of(b)}
    assert metrics["gait_sessions_active"][()] == len(actors)  # one actor per (session, run)
    assert metrics["gait_actor_restarts_total"][()] == 0
    assert metrics["gait_exports_dropped_total"][()] == 0
    assert metrics["gait_export_lines_written_total"][()] >= 0
    assert metrics["gait_spans_dropped_total"][()] == 0


@pytest.mark.anyio
async def test_one_session_id_per_decision_for_journal_span_body_and_log(
    tmp_path: Path, memory_tracing: TracingHandle
) -> None:
    """``request.session_id`` wins over ``call.context.session_id`` everywhere the decision
    names its session (journal, response, decision and journal spans, log line); the signed
    trace keeps the Go shape: its ``parent_ref`` is the intent's own context session."""
    doc = json.loads(ALLOW)
    doc["session_id"] = "sess-request"
    doc["call"].setdefault("context", {})["session_id"] = "sess-context"
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream, capture_stdlib=False)
    try:
        async with _serving(tmp_path, tracing=memory_tracing) as run:
            (response,) = await _decide_all(run, [json.dumps(doc).encode()])
    finally:
        reset_logging()
    body = response.json()
    assert body["session_id"] == "sess-request"
    journal = [w for w in body["warnings"] if w.startswith("session_journal=")]
    assert len(journal) == 1 and "sess-request.journal.jsonl" in journal[0]
    assert list((tmp_path / "sessions").glob("sess-request*.journal.jsonl"))
    assert not list((tmp_path / "sessions").glob("sess-context*"))
    spans = await _finished_spans(memory_tracing)
    (decision,) = [s for s in spans if s.name == DECISION_SPAN_NAME]
    (append,) = [s for s in spans if s.name == JOURNAL_APPEND_SPAN_NAME]
    assert dict(decision.attributes or {})["gait.session_id"] == "sess-request"
    assert dict(append.attributes or {})["gait.session_id"] == "sess-request"
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines() if '"decision"' in x]
    assert line["session_id"] == "sess-request"
    assert _trace_file(body)["relationship"]["parent_ref"] == {
        "kind": "session",
        "id": "sess-context",
    }


@pytest.mark.anyio
async def test_decision_log_lines_carry_the_correlation_ids(tmp_path: Path) -> None:
    """``request_id`` (also in ``x-request-id``), ``session_id``, ``trace_id``, ``event_id``."""
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream, capture_stdlib=False)
    try:
        async with _serving(tmp_path) as run:
            responses = await _decide_all(run, [ALLOW, APPROVAL, BLOCK])
            health = await run.client.get("/v1/health")
    finally:
        reset_logging()
    request_ids = [r.headers["x-request-id"] for r in responses]
    assert len({*request_ids, health.headers["x-request-id"]}) == 4
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    decided = {line["request_id"]: line for line in lines if line["event"] == "decision"}
    assert set(decided) == set(request_ids)
    for request, response in zip([ALLOW, APPROVAL, BLOCK], responses, strict=True):
        body = response.json()
        line = decided[response.headers["x-request-id"]]
        assert line["level"] == "info"
        assert line["session_id"] == _session_of(request)
        assert line["trace_id"] == body["trace_id"]
        assert line["event_id"] == _trace_file(body)["event_id"]
        assert line["verdict"] == body["verdict"]


# ----------------------------------------------------------------------------- subprocess


@contextmanager
def _gait_serve(workdir: Path, *flags: str, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """``gait serve`` as a subprocess on 127.0.0.1:0; yields (base URL, stderr file)."""
    (workdir / "policy.yaml").write_bytes((SERVICE / "policy.yaml").read_bytes())
    stderr_path = workdir / "stderr.log"
    command = [
        sys.executable,
        "-m",
        "gait_runtime",
        "serve",
        "--policy",
        "policy.yaml",
        "--listen",
        "127.0.0.1:0",
        "--key-mode",
        "prod",
        "--private-key",
        str(PRIVATE_KEY),
        "--trace-dir",
        "traces",
        "--session-dir",
        "sessions",
        "--json",
        *flags,
    ]
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "gait serve did not report its address within 30 s"
        startup = json.loads(process.stdout.readline())
        assert startup["ok"] is True
        yield f"http://{startup['listen']}", stderr_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            process.stdout.close()


def _poll(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_gait_serve_sends_decision_spans_to_a_real_otlp_receiver(tmp_path: Path) -> None:
    """``gait serve --otel otlp --otel-endpoint``: the receiver decodes every decision span,
    the caller's ``traceparent`` continues, and stderr JSON logs carry the correlation ids."""
    trace_hex, parent_hex = os.urandom(16).hex(), os.urandom(8).hex()
    env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    env.pop("OTEL_SDK_DISABLED", None)
    with receiving() as receiver:
        flags = ("--otel", "otlp", "--otel-endpoint", receiver.url)
        logs = ("--log-level", "debug", "--log-format", "json")
        with (
            _gait_serve(tmp_path, *flags, *logs, env=env) as (url, stderr_path),
            httpx.Client(base_url=url, timeout=15) as client,
        ):
            responses = [client.post("/v1/evaluate", content=b, headers=JSON) for b in MIXED]
            headers = {**JSON, "traceparent": f"00-{trace_hex}-{parent_hex}-01"}
            continued = client.post("/v1/evaluate", content=ALLOW, headers=headers)
            assert [r.status_code for r in [*responses, continued]] == [200] * (len(MIXED) + 1)

            def all_received() -> bool:
                return len(receiver.spans(DECISION_SPAN_NAME)) >= len(MIXED) + 1

            _poll(all_received)
            health = client.get("/v1/health").json()
        received = receiver.spans()
    decisions: dict[object, ReceivedSpan] = {
        s.attributes()["gait.trace_path"]: s for s in received if s.span.name == DECISION_SPAN_NAME
    }
    assert len(decisions) == len(MIXED) + 1
    assert {s.path for s in received} == {"/v1/traces"}
    kinds = {str: "string_value", int: "int_value", tuple: "array_value"}
    for response in [*responses, continued]:
        body = response.json()
        span = decisions[body["trace_path"]]
        assert span.resource["service.name"] == "gait"
        assert span.kinds() == {key: kinds[kind] for key, kind in SPAN_ATTRIBUTES.items()}
        attrs = span.attributes()
        trace = json.loads((tmp_path / body["trace_path"]).read_bytes())
        assert attrs["gait.intent_digest"] == trace["intent_digest"]
        assert attrs["gait.policy_digest"] == trace["policy_digest"]
        assert attrs["gait.verdict"] == body["verdict"]
        assert attrs["gait.trace_id"] == trace["trace_id"] == body["trace_id"]
        ids = {s.span.span_id for s in received if s.span.parent_span_id == span.span.span_id}
        assert len(ids) == (2 if "session_id" in body else 1)
    tail = decisions[continued.json()["trace_path"]].span
    assert tail.trace_id.hex() == trace_hex
    servers = {s.span.span_id: s.span for s in received if s.span.kind == s.span.SPAN_KIND_SERVER}
    server = servers[tail.parent_span_id]  # the HTTP SERVER span parents the decision
    assert server.name == "POST /v1/evaluate"
    assert server.parent_span_id.hex() == parent_hex
    assert health["tracing"]["enabled"] is True
    assert health["tracing"]["spans_dropped"] == 0
    lines = [json.loads(x) for x in stderr_path.read_text().splitlines()]  # every line JSON
    decided = {x["request_id"]: x for x in lines if x.get("event") == "decision"}
    for response in [*responses, continued]:
        line = decided[response.headers["x-request-id"]]
        assert line["trace_id"] == response.json()["trace_id"]
        assert line["session_id"] == response.json().get("session_id", "")
        assert line["event_id"]


def test_gait_serve_keeps_answering_with_the_collector_down(tmp_path: Path) -> None:
    """``--otel otlp`` to a closed port: every decision answers as with ``--otel off``."""
    env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    results: dict[str, list[tuple[int, str, list[str]]]] = {}
    for name, flags in (
        ("off", ("--otel", "off")),
        ("dead", ("--otel", "otlp", "--otel-endpoint", f"http://127.0.0.1:{closed_port()}")),
    ):
        workdir = tmp_path / name
        workdir.mkdir()
        with (
            _gait_serve(workdir, *flags, env=env) as (url, _),
            httpx.Client(base_url=url, timeout=15) as client,
        ):
            responses = [client.post("/v1/evaluate", content=b, headers=JSON) for b in MIXED]
            results[name] = [
                (r.status_code, r.json()["verdict"], r.json().get("reason_codes", []))
                for r in responses
            ]
            if name == "dead":

                def counted() -> bool:
                    tracing = client.get("/v1/health").json()["tracing"]
                    return bool(tracing["export_errors"] >= 1 and tracing["spans_dropped"] >= 1)

                _poll(counted)
                text = client.get("/metrics").text
                assert "gait_span_export_errors_total" in text
    assert results["dead"] == results["off"]


# ----------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("otel", "endpoint", "environ", "expected"),
    [
        (None, "", {}, (None, None)),
        ("off", "", {"OTEL_TRACES_EXPORTER": "otlp"}, (None, None)),
        ("otlp", "http://127.0.0.1:4318", {}, ("otlp", "http://127.0.0.1:4318")),
        ("console", "http://127.0.0.1:4318", {}, ("console", None)),
        ("otlp", "", {"OTEL_SDK_DISABLED": "true"}, (None, None)),
        (
            None,
            "http://127.0.0.1:1",
            {"OTEL_TRACES_EXPORTER": "none"},
            ("otlp", "http://127.0.0.1:1"),
        ),
        (None, "", {"OTEL_TRACES_EXPORTER": "console"}, ("console", None)),
        (None, "", {"OTEL_TRACES_EXPORTER": "otlp_proto_http"}, ("otlp", None)),
        (
            None,
            "",
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"},
            (None, None),
        ),
        (None, "", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ("otlp", None)),
        (None, "", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h/v1/traces"}, ("otlp", None)),
    ],
)
def test_span_exporter_precedence_of_flags_and_environment(
    otel: str | None, endpoint: str, environ: dict[str, str], expected: tuple[str | None, ...]
) -> None:
    """OTEL_SDK_DISABLED, then --otel, then --otel-endpoint, then OTEL_TRACES_EXPORTER,
    then an OTLP endpoint variable; otherwise off."""
    assert tracing_choice(otel, endpoint, environ) == expected


def test_an_unsupported_traces_exporter_variable_is_a_usage_error() -> None:
    """``OTEL_TRACES_EXPORTER=zipkin`` without ``--otel`` stops start-up (exit 6)."""
    with pytest.raises(UsageError, match="OTEL_TRACES_EXPORTER") as info:
        tracing_choice(None, "", {"OTEL_TRACES_EXPORTER": "zipkin"})
    assert exit_code_for(info.value) == 6
    assert tracing_choice("off", "", {"OTEL_TRACES_EXPORTER": "zipkin"}) == (None, None)


def test_gait_serve_refuses_an_unknown_log_level(tmp_path: Path) -> None:
    """``--log-level loud`` exits 6 before serving."""
    (tmp_path / "policy.yaml").write_bytes((SERVICE / "policy.yaml").read_bytes())
    done = subprocess.run(
        [
            *(sys.executable, "-m", "gait_runtime", "serve", "--policy", "policy.yaml"),
            *("--listen", "127.0.0.1:0", "--log-level", "loud", "--json"),
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 6
    assert b"log level" in done.stdout + done.stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_standard_otel_variables_name_the_service_and_pick_the_protocol(
    tmp_path: Path, protocol: str
) -> None:
    """No ``--otel`` flag: ``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
    ``OTEL_EXPORTER_OTLP_PROTOCOL`` (HTTP/protobuf or gRPC), ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` reach a real receiver of that protocol; the decision span
    is the child of the request's SERVER span."""
    receiving_ctx = grpc_receiving() if protocol == "grpc" else receiving()
    with receiving_ctx as receiver:
        env = {
            **os.environ,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_SERVICE_NAME": "gate-east",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        env.pop("OTEL_SDK_DISABLED", None)
        with (
            _gait_serve(tmp_path, env=env) as (url, _),
            httpx.Client(base_url=url, timeout=15) as client,
        ):
            response = client.post("/v1/evaluate", content=ALLOW, headers=JSON)
            assert response.status_code == 200

            def arrived() -> bool:
                return bool(receiver.spans(DECISION_SPAN_NAME)) and any(
                    s.span.name == "POST /v1/evaluate" for s in receiver.spans()
                )

            _poll(arrived)
        received = receiver.spans()
    (decision,) = [s for s in received if s.span.name == DECISION_SPAN_NAME]
    (server,) = [s for s in received if s.span.name == "POST /v1/evaluate"]
    assert decision.resource["service.name"] == server.resource["service.name"] == "gate-east"
    assert decision.resource["deployment.environment.name"] == "test"
    assert decision.resource["service.version"]
    assert decision.span.parent_span_id == server.span.span_id
    assert server.span.kind == server.span.SPAN_KIND_SERVER
    attrs = {a.key: a.value for a in server.span.attributes}
    assert attrs["http.response.status_code"].int_value == 200
    assert attrs["http.route"].string_value == "/v1/evaluate"
    assert decision.attributes()["gen_ai.operation.name"] == "execute_tool"


def test_an_unsupported_otlp_protocol_stops_start_up(tmp_path: Path) -> None:
    """``OTEL_EXPORTER_OTLP_PROTOCOL=http/json`` (no exporter for it) exits 6 naming it."""
    (tmp_path / "policy.yaml").write_bytes((SERVICE / "policy.yaml").read_bytes())
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    env.pop("OTEL_SDK_DISABLED", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "gait_runtime", "serve", "--policy", "policy.yaml"),
            *("--listen", "127.0.0.1:0", "--json"),
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 6
    payload = json.loads(done.stdout.splitlines()[-1])
    assert (
        payload["error_detail"] == "otel_protocol_unsupported" and "http/json" in payload["error"]
    )
