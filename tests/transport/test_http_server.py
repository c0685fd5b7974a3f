"""Behaviour of the real decision server beyond the Go captures.

Every test starts the Supervisor in-process on 127.0.0.1:0 (both anyio
backends) and talks to it with ``httpx``. Waits are bounded polls of the
server's own ``/v1/health``; nothing sleeps for timing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from gait_runtime.artifacts.keys import DEV_KEY_WARNING, decode_public
from gait_runtime.runpack import verify_runpack
from gait_runtime.supervisor.journal.store import JournalFile, OsJournalFile
from gait_runtime.supervisor.runtime import Supervisor
from gait_runtime.supervisor.service.config import ListenAddress
from tests.conftest import JOURNAL_IO_PATHS

from .harness import PUBLIC_KEY, SERVICE, Running, every_server, running, service_config

pytestmark = pytest.mark.anyio

ALLOW = (SERVICE / "requests" / "allow_mcp.json").read_bytes()
APPROVAL = json.loads((SERVICE / "requests" / "require_approval_mcp.json").read_bytes())


def _call(session: str | None = None, tool: str = "tool.read", **extra: Any) -> dict[str, Any]:
    context: dict[str, str] = {"identity": "agent-1", "workspace": "/srv", "risk_class": "low"}
    if session:
        context["session_id"] = session
    body: dict[str, Any] = {
        "run_id": "r1",
        "call": {"name": tool, "args": {"path": "/srv/a"}, "context": context},
    }
    body.update(extra)
    return body


async def _health(run: Running) -> dict[str, Any]:
    token = run.config.auth_token
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await run.client.get("/v1/health", headers=headers)
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` (bounded: 10 s) until true; ``what`` names the wait in the failure."""
    with anyio.fail_after(10):
        while not await check():  # noqa: ASYNC110  # polling the server's own health endpoint
            await anyio.sleep(0.01)
    assert what


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _load(path: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(path).read_bytes())
    return doc


def _key_id(trace_path: str) -> str:
    return str(json.loads(Path(trace_path).read_bytes())["signature"]["key_id"])


def _exists(path: Path) -> bool:
    return path.exists()


async def test_health_and_metrics_report_state(tmp_path: Path) -> None:
    """Our addition: ``/v1/health`` (ready, sessions, fsync, digest, exports) and ``/metrics``."""
    async with running(tmp_path) as run:
        assert (await run.client.post("/v1/evaluate", content=ALLOW)).status_code == 200
        health = await _health(run)
        metrics = await run.client.get("/metrics")
    assert health["ready"] is True and health["draining"] is False
    assert health["fsync"] == "always"
    assert health["policy"]["digest"] == (
        "d92c3966d161f294f1a85e5da078b5564d6b3697c4df46e2c222877256578072"
    )
    assert health["sessions"]["sessions_active"] == 1
    assert health["sessions"]["mailbox_depths"] == {"sess-svc": 0}
    assert health["sessions"]["restarts"] == 0
    assert health["exports"]["dropped"] == 0
    assert health["decisions"]["allow"] == 1
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'gait_decisions_total{verdict="allow"} 1.0' in metrics.text


@every_server
async def test_health_and_metrics_need_the_token_when_auth_is_on(
    tmp_path: Path, http_server: str
) -> None:
    """Our rule: only ``/healthz`` is open; our additive endpoints are authenticated."""
    async with running(tmp_path, http_server=http_server, auth_token="t0k") as run:
        assert (await run.client.get("/healthz")).status_code == 200
        assert (await run.client.get("/v1/health")).status_code == 401
        assert (await run.client.get("/metrics")).status_code == 401
        ok = await run.client.get("/metrics", headers={"authorization": "Bearer t0k"})
        assert ok.status_code == 200
        assert (await run.client.post("/v1/health")).json() == {
            "error": "expected GET",
            "ok": False,
        }


async def test_decision_is_journaled_before_the_reply(tmp_path: Path) -> None:
    """Issue: a decision with a session id is in its journal when the answer arrives."""
    async with running(tmp_path) as run:
        for expected_sequence in (1, 2, 3):
            body = (await run.client.post("/v1/evaluate", json=_call("s-1"))).json()
            journal = tmp_path / "sessions" / "s-1.journal.jsonl"
            events = [r["event"] for r in _read_lines(journal) if r["record_type"] == "event"]
            assert events[-1]["sequence"] == expected_sequence
            assert events[-1]["trace_path"] == body["trace_path"]
            assert events[-1]["trace_id"] == body["trace_id"]
            assert body["warnings"] == [f"session_journal={journal} sequence={expected_sequence}"]


async def test_request_session_id_overrides_the_call_context(tmp_path: Path) -> None:
    """Spec §3.1: ``session_id`` in the request names the journal (and the response)."""
    async with running(tmp_path) as run:
        body = (await run.client.post("/v1/evaluate", json=_call("ctx", session_id="req"))).json()
    assert body["session_id"] == "req"
    assert _exists(tmp_path / "sessions" / "req.journal.jsonl")
    assert not _exists(tmp_path / "sessions" / "ctx.journal.jsonl")


async def test_dev_mode_uses_one_ephemeral_key_per_process(tmp_path: Path) -> None:
    """Decision: dev key mode signs with one key per process (Go: one per request)."""
    async with running(tmp_path, key_mode="dev", private_key="") as run:
        first = (await run.client.post("/v1/evaluate", json=_call())).json()
        second = (await run.client.post("/v1/evaluate", json=_call())).json()
    assert DEV_KEY_WARNING in first["warnings"]
    keys = {_key_id(b["trace_path"]) for b in (first, second)}
    assert len(keys) == 1
    assert first["trace_path"] != second["trace_path"]


async def test_checkpoint_interval_checkpoints_the_session(tmp_path: Path) -> None:
    """Spec §3.1: ``checkpoint_interval`` with ``--runpack-dir`` checkpoints every N events."""
    async with running(tmp_path, runpack_dir=tmp_path / "runpacks") as run:
        first = (
            await run.client.post("/v1/evaluate", json=_call("cp", checkpoint_interval=2))
        ).json()
        second = (
            await run.client.post("/v1/evaluate", json=_call("cp", checkpoint_interval=2))
        ).json()
    assert len(first["warnings"]) == 1
    checkpoint = second["warnings"][1]
    assert checkpoint.startswith(f"session_checkpoint={tmp_path / 'runpacks'}/")
    assert checkpoint.endswith(f"chain={tmp_path / 'sessions' / 'cp.journal_chain.json'}")
    zip_path = Path(checkpoint.split("=", 1)[1].split(" ")[0])
    assert _exists(zip_path)
    # Our decision: with a prod key the checkpoint runpack is signed (Go never signs).
    report = verify_runpack(zip_path, verify_key=decode_public(PUBLIC_KEY.read_text()))
    assert (report.ok, report.signature_status) == (True, "verified")


async def test_dev_key_checkpoints_are_unsigned(tmp_path: Path) -> None:
    """Our decision: a dev key dies with the process, so checkpoints are left unsigned."""
    async with running(
        tmp_path, runpack_dir=tmp_path / "runpacks", key_mode="dev", private_key=""
    ) as run:
        for _ in range(2):
            await run.client.post("/v1/evaluate", json=_call("cp", checkpoint_interval=2))
    (zip_path,) = (tmp_path / "runpacks").glob("*_cp_*.zip")
    report = verify_runpack(zip_path)
    assert (report.ok, report.signature_status) == (True, "missing")


async def test_internal_failure_answers_block_never_allow(tmp_path: Path) -> None:
    """Issue: a failure on the decision path (trace write) answers block, not allow."""
    async with running(tmp_path, allow_client_artifact_paths=True) as run:
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("not a directory")
        response = await run.client.post(
            "/v1/evaluate", json=_call("fail-sess", trace_path=str(blocker / "t.json"))
        )
        health = await _health(run)
    body = response.json()
    assert response.status_code == 500
    assert body["verdict"] == "block" and body["executed"] is False and body["ok"] is False
    assert body["reason_codes"] == ["internal_failure"] and body["exit_code"] == 3
    assert str(blocker) in body["error"]
    assert health["errors"]["internal_failures"] == 1
    assert not list((tmp_path / "sessions").glob("fail-sess*"))


class _Gate:
    """Holds journal fsyncs once armed, so a test can fill a mailbox deterministically."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def opener(self, path: Path) -> JournalFile:
        gate = self

        class GatedFile(OsJournalFile):
            def fsync(self) -> None:
                if gate.armed.is_set():
                    gate.entered.set()
                    gate.release.wait(20)
                super().fsync()

        return GatedFile(path)


async def test_full_mailbox_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Decision: a full session mailbox answers 503 + ``Retry-After: 1``, never queues."""
    gate = _Gate()
    async with running(tmp_path, journal_opener=gate.opener, mailbox_size=1) as run:
        assert (await run.client.post("/v1/evaluate", json=_call("busy"))).status_code == 200
        gate.armed.set()
        answers: dict[str, httpx.Response] = {}

        async def post(name: str) -> None:
            answers[name] = await run.client.post("/v1/evaluate", json=_call("busy"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(post, "committing")
            await anyio.to_thread.run_sync(gate.entered.wait, 10)
            tg.start_soon(post, "queued")

            async def queued() -> bool:
                return bool((await _health(run))["sessions"]["mailbox_depths"].get("busy") == 1)

            await _until(queued, "second append queued")
            refused = await run.client.post("/v1/evaluate", json=_call("busy"))
            gate.release.set()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {"error": "session mailbox full", "ok": False}
    assert answers["committing"].status_code == 200 and answers["queued"].status_code == 200
    sequences = sorted(int(a.json()["warnings"][0].rsplit("=", 1)[1]) for a in answers.values())
    assert sequences == [2, 3]
    events = [r for r in _read_lines(tmp_path / "sessions" / "busy.journal.jsonl") if "event" in r]
    assert len(events) == 3


NEW_POLICY = (
    (SERVICE / "policy.yaml")
    .read_text()
    .replace(
        "tool_names: [tool.read, tool.search]", "tool_names: [tool.read, tool.search, tool.deploy]"
    )
)


async def test_reload_under_load_switches_digest_without_failures(tmp_path: Path) -> None:
    """Issue: a reload under load fails no request; later requests use the new digest."""
    async with running(tmp_path) as run:
        old = (await _health(run))["policy"]["digest"]
        started = 0
        switch_at: list[int] = []
        results: list[tuple[int, int, str, str]] = []

        async def worker() -> None:
            nonlocal started
            # bounded: at most 200 calls each; stop once 40 calls began after the switch
            for _ in range(200):
                if switch_at and started > switch_at[0] + 40:
                    return
                started += 1
                mine = started
                response = await run.client.post("/v1/evaluate", json=APPROVAL)
                body = response.json()
                results.append(
                    (
                        mine,
                        response.status_code,
                        body.get("policy_digest", ""),
                        body.get("verdict", ""),
                    )
                )

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(worker)

            async def warmed() -> bool:
                return len(results) >= 20

            await _until(warmed, "some decisions before the reload")
            (tmp_path / "policy.yaml").write_text(NEW_POLICY)
            run.supervisor.request_reload()

            async def switched() -> bool:
                return bool((await _health(run))["policy"]["digest"] != old)

            await _until(switched, "digest switched")
            switch_at.append(started)
    assert {status for _, status, _, _ in results} == {200}
    digests = {digest for _, _, digest, _ in results}
    assert old in digests and len(digests) == 2
    later = [(d, v) for seq, _, d, v in results if seq > switch_at[0]]
    assert later and all(d != old and v == "allow" for d, v in later)


async def test_policy_file_change_is_picked_up(tmp_path: Path) -> None:
    """Issue: a changed policy file is compiled and swapped without SIGHUP."""
    async with running(tmp_path, policy_poll_s=0.05) as run:
        old = (await _health(run))["policy"]["digest"]
        policy = tmp_path / "policy.yaml"
        policy.write_text(NEW_POLICY)
        os.utime(policy, ns=(1, 1))

        async def switched() -> bool:
            return bool((await _health(run))["policy"]["digest"] != old)

        await _until(switched, "digest switched")
        body = (await run.client.post("/v1/evaluate", json=APPROVAL)).json()
    assert body["verdict"] == "allow" and body["policy_digest"] != old


@pytest.mark.parametrize("breakage", ["invalid", "deleted"])
async def test_bad_reload_keeps_the_old_policy(tmp_path: Path, breakage: str) -> None:
    """Issue: an invalid or deleted policy keeps the old one, reports the error, serves on."""
    async with running(tmp_path) as run:
        old = (await _health(run))["policy"]["digest"]
        policy = tmp_path / "policy.yaml"
        if breakage == "invalid":
            policy.write_text("schema_id: gait.gate.policy\nrules: [\n")
        else:
            policy.unlink()
        run.supervisor.request_reload()

        async def errored() -> bool:
            return bool((await _health(run))["policy"]["last_error"])

        await _until(errored, "reload error reported")
        health = await _health(run)
        response = await run.client.post("/v1/evaluate", json=_call("after-reload"))
    assert health["policy"]["digest"] == old and health["policy"]["reload_errors"] == 1
    assert response.status_code == 200 and response.json()["policy_digest"] == old


@every_server
async def test_slow_headers_are_cut_off(tmp_path: Path, http_server: str) -> None:
    """Spec (timeouts): a client that never finishes its headers is disconnected."""
    async with running(tmp_path, http_server=http_server, header_timeout_s=0.3) as run:
        stream = await anyio.connect_tcp(run.bound.host, run.bound.port)
        async with stream:
            await stream.send(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-")
            with anyio.fail_after(10):
                received = b""
                try:
                    while True:
                        received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
        assert not received.startswith(b"HTTP/1.1 200")
        assert (await run.client.post("/v1/evaluate", content=ALLOW)).status_code == 200


@every_server
async def test_bad_inputs_get_clear_errors_and_journal_nothing(
    tmp_path: Path, http_server: str
) -> None:
    """Issue (bad input): clear status and body, no decision, nothing journaled."""
    bad = "bad-sess"
    async with running(
        tmp_path, http_server=http_server, auth_token="tok", max_request_bytes=1024
    ) as run:
        auth = {"authorization": "Bearer tok"}
        cases = [
            (
                b'{"session_id":"bad-sess","call":{"name":',
                auth,
                400,
                "decode request: unexpected EOF",
            ),
            (
                json.dumps(_call(bad)).encode(),
                {**auth, "content-type": "text/html"},
                415,
                "content-type must be application/json",
            ),
            (
                json.dumps(_call(bad, blob="x" * 2000)).encode(),
                auth,
                413,
                "request body exceeds max-request-bytes",
            ),
            (
                json.dumps(_call(bad, adapter="smtp")).encode(),
                auth,
                400,
                "unsupported adapter: smtp",
            ),
            (
                json.dumps(_call(bad, bogus=1)).encode(),
                auth,
                400,
                'decode request: json: unknown field "bogus"',
            ),
            (
                json.dumps(_call(bad)).encode(),
                {"authorization": "Bearer nope"},
                401,
                "invalid bearer authorization",
            ),
            (
                json.dumps(_call(bad)).encode(),
                {**auth, "content-type": "application/json; x"},
                415,
                "invalid content-type header",
            ),
            (b"", auth, 400, "decode request: EOF"),
            (b"[1]", auth, 400, None),
            (json.dumps({"call": {}}).encode(), auth, 400, "request.call is required"),
        ]
        for content, headers, status, message in cases:
            response = await run.client.post("/v1/evaluate", content=content, headers=headers)
            assert response.status_code == status, message
            body = response.json()
            assert body["ok"] is False and "verdict" not in body
            if message is not None:
                assert body == {"error": message, "ok": False}
        health = await _health(run)
    assert sum(health["decisions"].values()) == 0
    assert not list((tmp_path / "sessions").glob("*.jsonl"))
    assert not list((tmp_path / "traces").glob("*.json"))


async def test_strict_profile_requires_a_session_id(tmp_path: Path) -> None:
    """Spec §6.1: ``oss-prod`` refuses a call without ``context.session_id`` (400)."""
    async with running(tmp_path, profile="oss-prod") as run:
        response = await run.client.post("/v1/evaluate", json=_call(None))
        accepted = await run.client.post("/v1/evaluate", json=_call("strict-s"))
    assert response.status_code == 400
    assert response.json() == {
        "error": "context.session_id is required in strict profile",
        "ok": False,
    }
    assert accepted.status_code == 200 and "warnings" in accepted.json()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"trace_path": "t.json"}, "request.trace_path is not allowed by server configuration"),
        ({"runpack_out": "r.zip"}, "request.runpack_out is not allowed by server configuration"),
        (
            {"session_journal": "j.jsonl"},
            "request.session_journal is not allowed by server configuration",
        ),
        ({"pack_out": "p.zip"}, "request.pack_out is not allowed by server configuration"),
        ({"emit_pack": True}, "request.emit_pack requires server --pack-dir"),
    ],
)
async def test_client_paths_are_refused_before_evaluating(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    """Spec §4: presence-based lockdown; decision: checked before any trace is written."""
    async with running(tmp_path) as run:
        response = await run.client.post("/v1/evaluate", json=_call("lock-s", **extra))
    assert response.status_code == 400 and response.json() == {"error": message, "ok": False}
    assert not list((tmp_path / "traces").glob("*.json"))


async def test_context_envelope_path_is_refused(tmp_path: Path) -> None:
    """Spec §4: ``call.context.context_envelope_path`` is out of scope and refused."""
    body = _call()
    body["call"]["context"]["context_envelope_path"] = "env.json"
    async with running(tmp_path) as run:
        response = await run.client.post("/v1/evaluate", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "call.context.context_envelope_path is not supported; use --context-envelope at the boundary"
    )


async def test_escape_hatch_allows_client_trace_paths_without_traversal(tmp_path: Path) -> None:
    """Spec §4: with the escape hatch, client paths are used; relative ``..`` is refused."""
    target = tmp_path / "mine" / "t.json"
    async with running(tmp_path, allow_client_artifact_paths=True) as run:
        used = await run.client.post("/v1/evaluate", json=_call(trace_path=str(target)))
        refused = await run.client.post("/v1/evaluate", json=_call(trace_path="../t.json"))
    assert used.status_code == 200 and used.json()["trace_path"] == str(target)
    assert _exists(target)
    assert refused.status_code == 400
    assert refused.json()["error"] == "relative trace path must not traverse parent directories"


@every_server
async def test_unix_socket_listener_serves(tmp_path: Path, http_server: str) -> None:
    """Our addition: ``--listen unix:/path``."""
    sock = tmp_path / "gait.sock"
    transport = httpx.AsyncHTTPTransport(uds=str(sock))
    async with running(
        tmp_path,
        http_server=http_server,
        listen=ListenAddress(unix_path=str(sock)),
        transport=transport,
    ) as run:
        assert run.bound.display() == f"unix:{sock}"
        assert (await run.client.get("/healthz")).status_code == 200
        assert (await run.client.post("/v1/evaluate", content=ALLOW)).json()["verdict"] == "allow"
    assert not _exists(sock)


@every_server
async def test_drain_finishes_in_flight_requests_and_refuses_new_ones(
    tmp_path: Path, http_server: str
) -> None:
    """Issue: on shutdown, stop accepting, let the in-flight decision finish and journal it."""
    gate = _Gate()
    async with running(tmp_path, http_server=http_server, journal_opener=gate.opener) as run:
        assert (await run.client.post("/v1/evaluate", json=_call("drain"))).status_code == 200
        gate.armed.set()
        answers: dict[str, httpx.Response] = {}

        async def in_flight() -> None:
            answers["in_flight"] = await run.client.post("/v1/evaluate", json=_call("drain"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(in_flight)
            await anyio.to_thread.run_sync(gate.entered.wait, 10)
            run.supervisor.request_shutdown()
            assert run.supervisor.draining
            async with httpx.AsyncClient(base_url=run.bound.url(), timeout=2) as fresh:
                with anyio.fail_after(10), pytest.raises(httpx.TransportError):
                    await fresh.post("/v1/evaluate", json=_call("late"))
            gate.release.set()
    assert answers["in_flight"].status_code == 200
    events = [r for r in _read_lines(tmp_path / "sessions" / "drain.journal.jsonl") if "event" in r]
    assert [e["event"]["sequence"] for e in events] == [1, 2]
    assert not _exists(tmp_path / "sessions" / "late.journal.jsonl")


async def test_approval_token_grants_a_require_approval_decision(tmp_path: Path) -> None:
    """Our addition: ``approval_tokens`` verified with ``--approval-public-key`` turn
    ``require_approval`` into ``allow`` (gate eval's flow); a foreign token does not."""
    from gait_runtime.artifacts.keys import init_key_pair
    from gait_runtime.gate.approval import mint_token, required_scope

    approver, _, public = init_key_pair(tmp_path / "keys", "approver")
    stranger, _, _ = init_key_pair(tmp_path / "keys", "stranger")
    async with running(tmp_path, approval_public_key=str(public)) as run:
        first = (await run.client.post("/v1/evaluate", json=APPROVAL)).json()
        assert first["verdict"] == "require_approval"

        def token(key: Any) -> dict[str, Any]:
            return mint_token(
                intent_digest=first["intent_digest"],
                policy_digest=first["policy_digest"],
                approver="release-manager",
                reason_code="change_approved",
                scope=required_scope("tool.deploy", "apply", False),
                ttl_ns=600_000_000_000,
                now_ns=time.time_ns(),
                key=key,
                producer_version="test",
            )

        granted = (
            await run.client.post(
                "/v1/evaluate", json={**APPROVAL, "approval_tokens": [token(approver)]}
            )
        ).json()
        refused = (
            await run.client.post(
                "/v1/evaluate", json={**APPROVAL, "approval_tokens": [token(stranger)]}
            )
        ).json()
    assert granted["verdict"] == "allow" and granted["exit_code"] == 0
    assert "approval_granted" in granted["reason_codes"] and granted["approval_ref"]
    assert granted["executed"] is False
    trace = _load(granted["trace_path"])
    assert trace["verdict"] == "allow" and trace["approval_token_ref"] == granted["approval_ref"]
    assert refused["verdict"] == "require_approval"
    assert "approval_token_signature_invalid" in refused["reason_codes"]


async def test_retention_janitor_sweeps_traces_and_writes_a_report(tmp_path: Path) -> None:
    """Issue: the janitor applies ``--trace-max-count`` and writes an auditable JSON report."""
    from gait_runtime.supervisor.service.config import RetentionRule

    report = tmp_path / "retention.json"
    async with running(
        tmp_path,
        trace_retention=RetentionRule(max_count=2),
        retention_interval_s=3600,
        retention_report=report,
    ) as run:
        for _ in range(5):
            assert (await run.client.post("/v1/evaluate", json=_call())).status_code == 200
        # Trace files come from the trace log's exporter: sweep once it has caught up.
        with anyio.fail_after(10):
            await run.supervisor.traces_exported()
        sweeps = await run.supervisor.sweep_now()
    traces = sorted((tmp_path / "traces").glob("trace_*.json"))
    assert len(traces) == 2
    trace_sweep = next(s for s in sweeps if s.kind == "trace")
    assert trace_sweep.removed_count == 3
    doc = json.loads(report.read_bytes())
    assert doc["schema_id"] == "gait.supervisor.retention_report"
    assert doc["classes"][0]["removed_count"] == 3


async def test_decision_span_joins_the_callers_trace(tmp_path: Path) -> None:
    """Our addition (spec/otel.md §5): one ``gait.gate.decision`` span per decision, child
    of the caller's ``traceparent``; its loss counters show in ``/v1/health``."""
    from gait_runtime.telemetry.otel import setup_tracing

    tracing = setup_tracing(exporter="memory", service_version="test", install_global=False)
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        config = service_config(tmp_path)
        supervisor = Supervisor(config, tracing=tracing)
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(15):
                bound = await tg.start(supervisor.run)
            async with httpx.AsyncClient(base_url=bound.url(), timeout=15) as client:
                headers = {"traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01"}
                body = (
                    await client.post("/v1/evaluate", json=_call("traced"), headers=headers)
                ).json()
                health = (await client.get("/v1/health")).json()
            supervisor.request_shutdown()
        assert tracing.force_flush()
        assert tracing.memory_exporter is not None
        spans = [
            s
            for s in tracing.memory_exporter.get_finished_spans()
            if s.name == "gait.gate.decision"
        ]
    finally:
        tracing.shutdown()
    assert len(spans) == 1
    span = spans[0]
    assert format(span.context.trace_id, "032x") == parent_trace
    assert dict(span.attributes or {})["gait.trace_id"] == body["trace_id"]
    assert dict(span.attributes or {})["gait.verdict"] == "allow"
    assert health["tracing"]["spans_dropped"] == 0


@pytest.mark.parametrize("journal_io", JOURNAL_IO_PATHS)
async def test_journal_io_is_reported_and_ring_writes_are_metered(
    tmp_path: Path, journal_io: str
) -> None:
    """Our addition: ``--journal-io``; session decisions made under the lock lease go
    through the ring (``uring``) and count in the journal metrics like thread writes."""
    async with running(tmp_path, journal_io=journal_io) as run:
        for _ in range(12):
            response = await run.client.post("/v1/evaluate", json=_call(session="sess-io"))
            assert response.status_code == 200
        health = await _health(run)
        metrics = (await run.client.get("/metrics")).text
    sessions = health["sessions"]
    assert sessions["journal_io"] == journal_io
    assert sessions["appends"] == 12
    if journal_io == "uring":
        assert 1 <= sessions["ring_writes"] < sessions["batches"]
    else:
        assert sessions["ring_writes"] == 0
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("gait_journal_")
    }
    # the journal's header line is a write of its own
    assert values["gait_journal_batch_size_sum"] == 12 + 1
    assert values["gait_journal_batch_size_count"] == sessions["batches"] + 1
    # one durability point per batch plus the header's, whichever path wrote it
    assert values["gait_journal_fsyncs_total"] == sessions["fsyncs"]
