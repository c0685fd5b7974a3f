"""The Go service's captured requests give the Go service's responses (``spec/service.md`` §2–5).

Each test starts a real server (127.0.0.1, ephemeral port, both backends),
replays a README table of ``tests/vectors/service`` in order with a real HTTP
client, and compares status, content type and body. Bodies are compared
modulo what varies per run: ``decision_latency_ms``, directory prefixes and
the timestamp inside trace / runpack file names. Trace ids, digests,
relationships and journal sequence numbers must be identical.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from gait_runtime.artifacts.keys import KeySource, load_public
from gait_runtime.gate.trace import verify_trace

from .harness import SERVICE, comparable, every_server, parse_http_vector, running

pytestmark = pytest.mark.anyio

JSON = "application/json"
COMPAT = [
    ("GET", "/healthz", None, None, "01_healthz"),
    ("POST", "/v1/evaluate", "allow_mcp.json", JSON, "02_allow_mcp"),
    ("POST", "/v1/evaluate", "block_mcp.json", JSON, "03_block_mcp"),
    ("POST", "/v1/evaluate", "require_approval_mcp.json", JSON, "04_require_approval_mcp"),
    ("POST", "/v1/evaluate", "dry_run_mcp.json", JSON, "05_dry_run_mcp"),
    ("POST", "/v1/evaluate", "allow_openai.json", JSON, "06_allow_openai"),
    ("POST", "/v1/evaluate/sse", "block_mcp.json", JSON, "07_block_sse"),
    ("POST", "/v1/evaluate/stream", "allow_mcp.json", JSON, "08_allow_stream"),
    ("GET", "/v1/evaluate", None, None, "09_get_evaluate_405"),
    ("POST", "/v1/evaluate", "lockdown_trace_path.json", JSON, "10_lockdown_trace_path_400"),
    ("POST", "/v1/evaluate", "allow_mcp.json", "text/plain", "11_content_type_415"),
    ("POST", "/v1/evaluate", "bad_json.txt", JSON, "12_bad_json_400"),
    ("POST", "/v1/evaluate", "missing_call.json", JSON, "13_missing_call_400"),
    ("POST", "/v1/nope", "allow_mcp.json", JSON, "14_unknown_path_404"),
    ("POST", "/v1/evaluate", "two_values.txt", JSON, "15_two_values_400"),
    ("POST", "/v1/evaluate", "allow_openai.json", None, "16_no_content_type"),
    ("POST", "/healthz", "allow_mcp.json", JSON, "17_post_healthz_405"),
]
STRICT: list[tuple[str, str, str | None, str | None, str]] = [
    ("POST", "/v1/evaluate", "allow_mcp.json", JSON, "01_allow"),
    ("POST", "/v1/evaluate", "block_mcp.json", JSON, "02_block_403"),
    ("POST", "/v1/evaluate", "require_approval_mcp.json", JSON, "03_require_approval_409"),
    ("POST", "/v1/evaluate", "dry_run_mcp.json", JSON, "04_dry_run_409"),
    ("POST", "/v1/evaluate/sse", "block_mcp.json", JSON, "05_block_sse_403"),
    ("POST", "/v1/evaluate", "missing_call.json", JSON, "06_missing_call_400"),
    ("POST", "/v1/evaluate", "allow_mcp_emit_runpack.json", JSON, "07_allow_emit_runpack"),
]
TOKEN = "vector-test-token-123"
AUTH = [
    ("GET", "/healthz", None, None, None, "01_healthz_no_auth"),
    ("POST", "/v1/evaluate", "allow_mcp.json", JSON, None, "02_missing_token_401"),
    ("POST", "/v1/evaluate", "allow_mcp.json", JSON, "Bearer wrong-token", "03_wrong_token_401"),
    ("POST", "/v1/evaluate", "allow_mcp.json", JSON, f"bearer {TOKEN}", "04_lowercase_bearer_401"),
    ("POST", "/v1/evaluate", "allow_mcp.json", JSON, f"Bearer {TOKEN}", "05_valid_token_200"),
    ("POST", "/v1/evaluate", "oversized.json", JSON, f"Bearer {TOKEN}", "06_oversized_413"),
    ("POST", "/v1/evaluate", "oversized.json", JSON, None, "07_oversized_no_token_401"),
    ("GET", "/v1/evaluate", None, None, None, "08_wrong_method_no_token_405"),
]


def _load_json(path: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(Path(path).read_bytes())
    return loaded


def _load_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


async def _replay(
    run: object,
    rows: list[tuple[str, str, str | None, str | None, str | None, str]],
    folder: str,
    *,
    trace_dir: Path,
    session_dir: Path,
) -> list[dict[str, object]]:
    from .harness import Running

    assert isinstance(run, Running)
    bodies = []
    for method, path, request, content_type, authorization, name in rows:
        expected = parse_http_vector(SERVICE / "responses" / folder / f"{name}.http")
        headers = {}
        if content_type:
            headers["content-type"] = content_type
        if authorization:
            headers["authorization"] = authorization
        content = (SERVICE / "requests" / request).read_bytes() if request else None
        response = await run.client.request(method, path, content=content, headers=headers)
        assert response.status_code == expected.status, name
        assert response.headers["content-type"] == expected.headers["content-type"], name
        for header in ("cache-control", "connection", "x-content-type-options"):
            if header in expected.headers:
                assert response.headers.get(header) == expected.headers[header], (name, header)
        if expected.headers["content-type"].startswith("text/plain"):
            assert response.content == expected.body, name
            continue
        if name.endswith("sse") or name.endswith("sse_403"):
            assert response.content.startswith(b"event: evaluate\ndata: {"), name
            assert response.content.endswith(b"}\n\n"), name
        else:
            assert response.content.endswith(b"}\n"), name
        got = expected.json().__class__(json.loads(response.content.split(b"data: ", 1)[-1]))
        want = expected.json()
        dirs = {"trace_dir": str(trace_dir), "session_dir": str(session_dir)}
        want_cmp = comparable(want, trace_dir="traces/" + folder, session_dir="sessions/" + folder)
        got_cmp = comparable(got, **dirs)
        assert got_cmp == want_cmp, name
        assert list(got) == [k for k in want if k != "decision_latency_ms" or k in got], name
        bodies.append(got)
    return bodies


def _rows(
    rows: list[tuple[str, str, str | None, str | None, str]],
) -> list[tuple[str, str, str | None, str | None, str | None, str]]:
    return [(m, p, r, c, None, n) for m, p, r, c, n in rows]


@every_server
async def test_compat_vectors(tmp_path: Path, http_server: str) -> None:
    """Vectors (compat server): every status, header and body of the Go capture, in order."""
    exports = tmp_path / "exports"
    async with running(
        tmp_path,
        http_server=http_server,
        export_log_out=exports / "decisions_log.jsonl",
        export_otel_out=exports / "decisions_otel.jsonl",
    ) as run:
        bodies = await _replay(
            run,
            _rows(COMPAT),
            "compat",
            trace_dir=tmp_path / "traces",
            session_dir=tmp_path / "sessions",
        )
    decisions = [b for b in bodies if "verdict" in b]
    assert [b["verdict"] for b in decisions] == [
        "allow",
        "block",
        "require_approval",
        "dry_run",
        "allow",
        "block",
        "allow",
        "allow",
    ]
    assert all(b["executed"] is False for b in decisions)
    public = load_public(KeySource(path=str(SERVICE.parent / "keys" / "gait_public.key")))
    for body in decisions:
        trace = _load_json(str(body["trace_path"]))
        assert verify_trace(trace, public).ok
        assert trace["trace_id"] == body["trace_id"]
    assert len({b["trace_path"] for b in decisions}) == len(decisions)
    journal = tmp_path / "sessions" / "sess-svc.journal.jsonl"
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    go_lines = [
        json.loads(x)
        for x in (SERVICE / "sessions" / "compat" / "sess-svc.journal.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [x["record_type"] for x in lines] == [x["record_type"] for x in go_lines]
    for ours, theirs in zip(lines[1:], go_lines[1:], strict=True):
        a, b = dict(ours["event"]), dict(theirs["event"])
        for key in ("created_at", "trace_path", "producer_version", "relationship"):
            a.pop(key), b.pop(key)
        assert a == b
    log_lines = (exports / "decisions_log.jsonl").read_text().splitlines()
    assert len(log_lines) == len(decisions)


@every_server
async def test_strict_vectors(tmp_path: Path, http_server: str) -> None:
    """Vectors (strict server): 403/409 for non-allow with the same decision bodies; runpack."""
    async with running(
        tmp_path,
        http_server=http_server,
        http_verdict_status="strict",
        runpack_dir=tmp_path / "runpacks",
    ) as run:
        bodies = await _replay(
            run,
            _rows(STRICT),
            "strict",
            trace_dir=tmp_path / "traces",
            session_dir=tmp_path / "sessions",
        )
    ours = zipfile.ZipFile(io.BytesIO(_load_bytes(str(bodies[-1]["runpack_path"]))))
    theirs = zipfile.ZipFile(
        SERVICE / "runpacks" / "strict" / "runpack_run_vec-runpack_20261121T110216.666359442.zip"
    )
    for name in ("intents.jsonl", "results.jsonl", "refs.json"):
        assert ours.read(name) == theirs.read(name), name
    assert sorted(ours.namelist()) == sorted(theirs.namelist())


@every_server
async def test_auth_vectors(tmp_path: Path, http_server: str) -> None:
    """Vectors (token auth, 1 KiB limit): method before auth before size; 413 closes."""
    async with running(
        tmp_path, http_server=http_server, auth_token=TOKEN, max_request_bytes=1024
    ) as run:
        await _replay(
            run, AUTH, "auth", trace_dir=tmp_path / "traces", session_dir=tmp_path / "sessions"
        )
