"""What an operator expects of the running server (issue 20): access and decision log
lines, auth-failure warnings, per-task log ids, /livez and /readyz, degraded health,
metrics (parsed with prometheus_client's parser), metrics access rules, TLS."""

from __future__ import annotations

import datetime
import io
import json
import shlex
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gait_runtime.supervisor.service.config import ListenAddress
from gait_runtime.telemetry import configure_logging, reset_logging

from .harness import SERVICE, Running, every_server, running

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
ALLOW = (SERVICE / "requests" / "allow_mcp.json").read_bytes()
BLOCK = (SERVICE / "requests" / "block_mcp.json").read_bytes()
TOKEN = "s3cret-token"
ACCESS_FIELDS = {"method", "path", "status", "bytes", "duration_ms", "request_id", "client"}
LOCKED = {
    "run_id",
    "session_id",
    "trace_path",
    "verdict",
    "reason_codes",
    "policy_digest",
    "intent_digest",
    "decision_latency_ms",
    "tool_name",
    "trace_id",
}


def _session(body: bytes) -> str:
    return str(json.loads(body)["call"].get("context", {}).get("session_id") or "")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every structlog and stdlib line of the process, as JSON, into one stream."""
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream, capture_stdlib=True)
    try:
        yield stream
    finally:
        reset_logging()


def _parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is JSON


def _metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_one_access_line_per_request_and_one_decision_line_per_decision(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    """Every request: one ``http_request`` info line with method, path, status, bytes,
    duration, request id and client; every decision: one ``decision`` info line with the
    locked fields."""
    async with running(tmp_path) as run:
        decided = [
            await run.client.post("/v1/evaluate", content=b, headers=JSON) for b in (ALLOW, BLOCK)
        ]
        missing = await run.client.get("/nope")
        health = await run.client.get("/v1/health")
    lines = _parsed(log_lines)
    access = {x["request_id"]: x for x in lines if x["event"] == "http_request"}
    for response in [*decided, missing, health]:
        line = access[response.headers["x-request-id"]]
        assert set(line) >= ACCESS_FIELDS
        assert line["level"] == "info"
        assert line["status"] == response.status_code
        assert line["bytes"] == len(response.content)
        assert line["path"] == response.request.url.path
        assert line["method"] == response.request.method
        assert line["client"].startswith("127.0.0.1:")
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert len(access) == 4 == len([x for x in lines if x["event"] == "http_request"])
    decisions = [x for x in lines if x["event"] == "decision"]
    assert len(decisions) == 2
    for line, response in zip(decisions, decided, strict=True):
        body = response.json()
        assert line["level"] == "info"
        assert set(line) >= LOCKED
        assert line["request_id"] == response.headers["x-request-id"]
        assert (line["verdict"], line["trace_id"], line["trace_path"]) == (
            body["verdict"],
            body["trace_id"],
            body["trace_path"],
        )
        assert line["reason_codes"] == body.get("reason_codes", [])


async def test_failed_authentication_is_a_warning_line(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    """A refused caller gets 401 and one ``auth_failed`` warning naming the path and reason,
    never the presented token."""
    async with running(tmp_path, auth_token=TOKEN) as run:
        missing = await run.client.post("/v1/evaluate", content=ALLOW, headers=JSON)
        wrong = await run.client.post(
            "/v1/evaluate", content=ALLOW, headers={**JSON, "authorization": "Bearer nope-123"}
        )
        good = await run.client.post(
            "/v1/evaluate", content=ALLOW, headers={**JSON, "authorization": f"Bearer {TOKEN}"}
        )
    assert (missing.status_code, wrong.status_code, good.status_code) == (401, 401, 200)
    lines = _parsed(log_lines)
    failed = [x for x in lines if x["event"] == "auth_failed"]
    assert [(x["level"], x["reason"], x["path"]) for x in failed] == [
        ("warning", "missing bearer authorization", "/v1/evaluate"),
        ("warning", "invalid bearer authorization", "/v1/evaluate"),
    ]
    assert [x["request_id"] for x in failed] == [
        missing.headers["x-request-id"],
        wrong.headers["x-request-id"],
    ]
    assert "nope-123" not in log_lines.getvalue() and TOKEN not in log_lines.getvalue()


async def test_session_actor_lines_do_not_carry_the_opening_requests_id(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    """Context does not leak across tasks: the session actors a request opened log their
    own lines (at drain) with their session id and no request id."""
    journaled = [b for b in (ALLOW, BLOCK) if _session(b)]
    assert journaled
    async with running(tmp_path) as run:
        for body in journaled:
            assert (
                await run.client.post("/v1/evaluate", content=body, headers=JSON)
            ).status_code == 200
    lines = _parsed(log_lines)
    request_events = {"http_request", "decision", "auth_failed"}
    leaked = [x for x in lines if "request_id" in x and x["event"] not in request_events]
    assert leaked == []
    sessions = {_session(b) for b in journaled}
    actor_lines = [
        x for x in lines if x.get("session_id") in sessions and x["event"] not in request_events
    ]
    assert actor_lines, "the session actors logged nothing at drain"
    assert all("request_id" not in x for x in actor_lines)


async def test_livez_and_readyz_answer_without_a_token_and_readyz_is_503_while_draining(
    tmp_path: Path,
) -> None:
    """/livez: 200 while the loop runs. /readyz: 200 when serving; 503 ``draining`` once
    the drain started (asked of the running app while the drain is under way)."""
    async with running(tmp_path, auth_token=TOKEN) as run:
        live = await run.client.get("/livez")
        ready = await run.client.get("/readyz")
        assert (live.status_code, live.json()) == (200, {"ok": True, "status": "live"})
        assert (ready.status_code, ready.json()) == (200, {"ok": True, "ready": True})
        run.supervisor.request_shutdown()
        status, body = await _asgi_get(run, "/readyz")
        assert (status, body) == (503, {"ok": False, "ready": False, "reason": "draining"})
        assert run.supervisor.health()["ready"] is False


def test_readyz_says_starting_before_the_services_are_up(tmp_path: Path) -> None:
    """Before ``run`` has started every service the supervisor is not ready: ``starting``."""
    from gait_runtime.supervisor.runtime import Supervisor

    from .harness import service_config

    supervisor = Supervisor(service_config(tmp_path))
    state = supervisor.readiness()
    assert (state.ready, state.reason) == (False, "starting")


async def _asgi_get(run: Running, path: str) -> tuple[int, dict[str, Any]]:
    """One GET through the server's ASGI app itself (the listener may already be closed)."""
    app = run.supervisor._app
    assert app is not None
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", run.bound.port),
        "scheme": "http",
        "http_version": "1.1",
    }
    with anyio.fail_after(5):
        await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), json.loads(body)


async def test_a_failed_reload_keeps_health_200_but_degraded_and_readyz_503(
    tmp_path: Path,
) -> None:
    """An unloadable policy file on reload: decisions go on with the old policy,
    /v1/health stays 200 with ``status: degraded``, /readyz answers 503; a good file
    makes both healthy again. Reloads are counted ok/failed."""
    async with running(tmp_path) as run:
        assert (await run.client.get("/v1/health")).json()["status"] == "ok"
        policy = run.config.policy_path
        good = policy.read_bytes()
        policy.write_text("rules: [this is: not a policy\n")
        run.supervisor.request_reload()
        await _until(run, lambda h: h["status"] == "degraded")
        health = await run.client.get("/v1/health")
        assert health.status_code == 200 and health.json()["policy"]["last_error"]
        ready = await run.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["reason"] == "policy_unloadable" and ready.json()["error"]
        decision = await run.client.post("/v1/evaluate", content=ALLOW, headers=JSON)
        assert decision.status_code == 200 and decision.json()["verdict"] == "allow"
        policy.write_bytes(good)
        run.supervisor.request_reload()
        await _until(run, lambda h: h["status"] == "ok")
        assert (await run.client.get("/readyz")).status_code == 200
        metrics = _metrics((await run.client.get("/metrics")).text)
    assert metrics["gait_policy_reloads_total"][(("result", "failed"),)] == 1
    assert metrics["gait_policy_reloads_total"][(("result", "ok"),)] == 1


async def _until(run: Running, check: Any) -> None:
    with anyio.fail_after(10):
        while not check((await run.client.get("/v1/health")).json()):  # noqa: ASYNC110  # polling the server's own endpoint
            await anyio.sleep(0.02)


async def test_metrics_from_start_and_after_traffic(tmp_path: Path) -> None:
    """Parsed with prometheus_client: process and Python collectors, build info, every
    verdict series at zero from the start; then HTTP counts by status, a duration
    histogram, sessions open and dropped exports."""
    async with running(tmp_path, export_log_out=tmp_path / "x" / "log.jsonl") as run:
        first = _metrics((await run.client.get("/metrics")).text)
        for verdict in ("allow", "block", "dry_run", "require_approval"):
            assert first["gait_decisions_total"][(("verdict", verdict),)] == 0
        assert first["process_resident_memory_bytes"][()] > 0
        assert first["process_cpu_seconds_total"][()] >= 0
        assert "python_gc_collections_total" in first and "python_info" in first
        (labels,) = first["gait_build_info"]
        assert dict(labels)["version"] == run.config.producer_version
        for body in (ALLOW, BLOCK, ALLOW):
            await run.client.post("/v1/evaluate", content=body, headers=JSON)
        await run.client.get("/nope")
        after = _metrics((await run.client.get("/metrics")).text)
    requests = after["gait_http_requests_total"]
    assert requests[(("method", "POST"), ("route", "/v1/evaluate"), ("status", "200"))] == 3
    assert requests[(("method", "GET"), ("route", "other"), ("status", "404"))] == 1
    assert requests[(("method", "GET"), ("route", "/metrics"), ("status", "200"))] == 1
    assert after["gait_http_request_duration_seconds_count"][(("route", "/v1/evaluate"),)] == 3
    assert after["gait_decisions_total"][(("verdict", "allow"),)] == 2
    assert after["gait_sessions_open"][()] >= 1
    assert after["gait_exports_dropped_total"][()] == 0


async def test_metrics_without_token_from_loopback_only_when_configured(tmp_path: Path) -> None:
    """``metrics_access=token``: /metrics needs the API token; ``loopback``: a loopback
    scraper needs none, and everything else still does."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running(tmp_path / "a", auth_token=TOKEN) as run:
        assert (await run.client.get("/metrics")).status_code == 401
        ok = await run.client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
    async with running(tmp_path / "b", auth_token=TOKEN, metrics_access="loopback") as run:
        assert (await run.client.get("/metrics")).status_code == 200
        assert (await run.client.get("/v1/health")).status_code == 401
        denied = await run.client.post("/v1/evaluate", content=ALLOW, headers=JSON)
        assert denied.status_code == 401


@every_server
async def test_a_separate_metrics_listener_serves_only_metrics_and_probes(
    tmp_path: Path, http_server: str
) -> None:
    async with running(
        tmp_path,
        http_server=http_server,
        auth_token=TOKEN,
        metrics_listen=ListenAddress("127.0.0.1", 0),
    ) as run:
        app = run.supervisor._app
        assert app is not None and app.metrics_port and app.metrics_port != run.bound.port
        base = f"http://127.0.0.1:{app.metrics_port}"
        async with httpx.AsyncClient(base_url=base, timeout=15) as side:
            metrics = await side.get("/metrics")
            assert metrics.status_code == 200 and "gait_decisions_total" in metrics.text
            assert (await side.get("/readyz")).status_code == 200
            assert (await side.post("/v1/evaluate", content=ALLOW, headers=JSON)).status_code == 404
            assert (await side.get("/v1/health")).status_code == 404
        assert (await run.client.get("/metrics")).status_code == 401


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here with ``cryptography``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gait-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@every_server
async def test_tls_with_a_self_signed_certificate(tmp_path: Path, http_server: str) -> None:
    """``certfile``/``keyfile``: the server answers HTTPS (the HTTP server's TLS) to a client
    trusting that certificate, decisions included; plain HTTP gets no answer."""
    certfile, keyfile = _self_signed(tmp_path)
    async with running(
        tmp_path, http_server=http_server, certfile=certfile, keyfile=keyfile
    ) as run:
        assert run.bound.url().startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(certfile))
        async with httpx.AsyncClient(base_url=run.bound.url(), verify=trusted, timeout=15) as tls:
            assert (await tls.get("/healthz")).status_code == 200
            decision = await tls.post("/v1/evaluate", content=ALLOW, headers=JSON)
            assert decision.status_code == 200 and decision.json()["verdict"] == "allow"
        async with httpx.AsyncClient(base_url=run.bound.url(), timeout=15) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get("/healthz")
        plain = f"http://127.0.0.1:{run.bound.port}"
        async with httpx.AsyncClient(base_url=plain, timeout=5) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get("/healthz")


def test_logfmt_lines_are_key_value_pairs_with_quoting() -> None:
    """``--log-format kv`` is logfmt: ``key=value`` pairs, values with spaces quoted."""
    import structlog

    stream = io.StringIO()
    configure_logging(level="info", fmt="logfmt", stream=stream, capture_stdlib=False)
    try:
        structlog.get_logger("t").info(
            "http_request", path="/v1/evaluate", note="two words", status=200
        )
    finally:
        reset_logging()
    (line,) = stream.getvalue().splitlines()
    pairs = dict(token.split("=", 1) for token in shlex.split(line))
    assert pairs["event"] == "http_request" and pairs["level"] == "info"
    assert pairs["note"] == "two words" and pairs["status"] == "200"
    assert pairs["path"] == "/v1/evaluate" and "timestamp" in pairs
    assert line.startswith("timestamp=")
    assert 'note="two words"' in line
