"""``gait serve`` / ``gait mcp serve`` as a process: start-up line, exit codes, signals, crashes.

Start-up validation runs in-process through ``main``. Everything about signals
and crashes runs ``python -m gait_runtime serve --json`` as a real subprocess on
127.0.0.1:0, reads the start-up line for the port, drives it with ``httpx``
and bounds every wait.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from gait_runtime.cli import main
from tests.conftest import JOURNAL_IO_PATHS, RING_UNUSABLE

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
SERVICE = VECTORS / "service"
POLICY = (SERVICE / "policy.yaml").read_bytes()


# --------------------------------------------------------------------------- start-up errors


@pytest.mark.parametrize(
    ("name", "args", "env"),
    [
        ("auth_token_without_env", ["--auth-mode", "token"], {}),
        (
            "auth_token_env_unset",
            ["--auth-mode", "token", "--auth-token-env", "GAIT_VEC_UNSET_TOKEN"],
            {},
        ),
        ("bad_verdict_status", ["--http-verdict-status", "loud"], {}),
        ("zero_max_request_bytes", ["--max-request-bytes", "0"], {}),
    ],
)
def test_startup_errors_match_the_go_envelopes(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    args: list[str],
    env: dict[str, str],
) -> None:
    """Vectors: start-up failures exit 6 with the Go envelope plus ``executed: false``."""
    monkeypatch.delenv("GAIT_VEC_UNSET_TOKEN", raising=False)
    (in_tmp / "policy.yaml").write_bytes(POLICY)
    code = main(
        ["mcp", "serve", "--policy", "policy.yaml", "--listen", "127.0.0.1:18934", *args, "--json"]
    )
    got = json.loads(capsys.readouterr().out)
    want = json.loads((SERVICE / "responses" / "startup" / f"{name}.json").read_text())
    assert code == 6
    for key, value in want.items():
        if key != "correlation_id":
            assert got[key] == value, key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "expected --policy <policy.yaml>"),
        (
            ["--policy", "policy.yaml", "--listen", "0.0.0.0:0"],
            "non-loopback --listen requires --auth-mode token",
        ),
        (
            ["--policy", "policy.yaml", "--listen", "nope"],
            "invalid --listen address: address nope: missing port in address",
        ),
        (
            ["--policy", "policy.yaml", "--auth-mode", "jwt"],
            "unsupported --auth-mode value (expected off or token)",
        ),
        (
            ["--policy", "policy.yaml", "--trace-max-age=-1h"],
            "retention max-age values must be >= 0",
        ),
        (
            ["--policy", "policy.yaml", "--session-max-count=-1"],
            "retention max-count values must be >= 0",
        ),
        (
            ["--policy", "policy.yaml", "--profile", "oss-prod"],
            "oss-prod profile requires --key-mode prod",
        ),
        (
            ["--policy", "policy.yaml", "--backend", "trio", "--http-server", "uvicorn"],
            "--http-server uvicorn needs --backend asyncio (trio: hypercorn)",
        ),
    ],
)
def test_bad_flags_exit_6(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Spec §1: each flag rule fails at start-up with the Go message (exit 6)."""
    (in_tmp / "policy.yaml").write_bytes(POLICY)
    assert main(["serve", *args, "--json"]) == 6
    doc = json.loads(capsys.readouterr().out)
    assert (doc["error"], doc["executed"], doc["ok"]) == (message, False, False)


def test_invalid_policy_exits_6_at_startup(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decision: the policy is compiled at start-up; an invalid one exits 6 before listening."""
    (in_tmp / "bad.yaml").write_text("schema_id: gait.gate.policy\nrules: [\n")
    assert main(["serve", "--policy", "bad.yaml", "--listen", "127.0.0.1:0", "--json"]) == 6
    doc = json.loads(capsys.readouterr().out)
    assert (
        doc["ok"] is False and doc["executed"] is False and doc["error_category"] == "invalid_input"
    )


# --------------------------------------------------------------------------- processes


@dataclass
class Server:
    """A ``gait serve`` subprocess and what its start-up line said."""

    process: anyio.abc.Process
    startup: dict[str, Any]
    stderr: Path
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = "http://" + str(self.startup["listen"])


def _server_args(root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gait_runtime",
        "serve",
        "--policy",
        str(root / "policy.yaml"),
        "--listen",
        "127.0.0.1:0",
        "--trace-dir",
        str(root / "traces"),
        "--session-dir",
        str(root / "sessions"),
        "--drain-timeout",
        "10s",
        "--json",
        *extra,
    ]


async def _read_line(stream: anyio.abc.ByteReceiveStream) -> bytes:
    buffer = b""
    with anyio.fail_after(30):
        while b"\n" not in buffer:
            buffer += await stream.receive()
    return buffer.split(b"\n", 1)[0]


def _with_fd_limit(args: list[str], limit: int) -> list[str]:
    """``args`` run under a soft and hard ``RLIMIT_NOFILE`` of ``limit`` (set, then exec)."""
    setup = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    return [args[0], "-c", setup, *args[1:]]


@asynccontextmanager
async def serving(
    root: Path, *extra: str, name: str = "server", fd_limit: int = 0
) -> AsyncIterator[Server]:
    """Start ``gait serve --json`` and yield once its start-up line names the port."""
    if not (root / "policy.yaml").exists():
        (root / "policy.yaml").write_bytes(POLICY)
    stderr = root / f"{name}.stderr"
    args = _server_args(root, *extra)
    if fd_limit:
        args = _with_fd_limit(args, fd_limit)
    with stderr.open("wb") as err:
        process = await anyio.open_process(args, stderr=err, cwd=root)
    try:
        assert process.stdout is not None
        line = await _read_line(process.stdout)
        startup = json.loads(line)
        assert startup.get("ok") is True, (startup, stderr.read_text()[-2000:])
        yield Server(process, startup, stderr)
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.fail_after(30):
            await process.wait()
        await process.aclose()


@dataclass
class Acks:
    """Acknowledged decisions: (journal path, sequence, trace id)."""

    items: list[tuple[str, int, str]] = field(default_factory=list)


def _decision(session: str, n: int) -> dict[str, Any]:
    return {
        "run_id": f"load-{session}",
        "call": {
            "name": "tool.read",
            "args": {"path": f"/srv/{n}"},
            "context": {
                "identity": "agent",
                "workspace": "/srv",
                "risk_class": "low",
                "session_id": session,
            },
        },
    }


def _journal_warning(body: dict[str, Any]) -> tuple[str, int]:
    """(journal path, sequence) from the ``session_journal=<path> sequence=<n>`` warning."""
    for warning in body["warnings"]:
        if warning.startswith("session_journal="):
            journal, _, sequence = warning.removeprefix("session_journal=").partition(" sequence=")
            return journal, int(sequence)
    raise AssertionError(f"no session_journal warning in {body['warnings']}")


async def _load(url: str, acks: Acks, *, workers: int = 8, per_worker: int = 150) -> None:
    """Drive decisions until the server goes away or each worker sent ``per_worker``."""

    async def worker(index: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            for n in range(per_worker):
                try:
                    response = await client.post("/v1/evaluate", json=_decision(f"s{index % 4}", n))
                except httpx.TransportError:
                    return
                if response.status_code != 200:
                    return
                body = response.json()
                journal, sequence = _journal_warning(body)
                acks.items.append((journal, sequence, body["trace_id"]))

    async with anyio.create_task_group() as tg:
        for index in range(workers):
            tg.start_soon(worker, index)


async def _wait_acks(acks: Acks, count: int) -> None:
    with anyio.fail_after(30):
        while len(acks.items) < count:  # noqa: ASYNC110  # waiting on load generator progress
            await anyio.sleep(0.01)


def _journal_events(path: Path) -> dict[int, str]:
    events: dict[int, str] = {}
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("record_type") == "event":
            events[record["event"]["sequence"]] = record["event"]["trace_id"]
    return events


def _assert_all_acked_journaled(acks: Acks) -> None:
    journals: dict[str, dict[int, str]] = {}
    for journal, sequence, trace_id in acks.items:
        if journal not in journals:
            journals[journal] = _journal_events(Path(journal))
        assert journals[journal].get(sequence) == trace_id, (journal, sequence)


# httpx leaves its request-body generator unfinished when the server closes a
# connection mid-request (what a drain or a kill does); trio reports that at GC.
_HTTPX_ABORTED_BODY = pytest.mark.filterwarnings(
    "ignore:Async generator 'httpx._content.ByteStream.__aiter__':ResourceWarning"
)


@pytest.mark.anyio
@_HTTPX_ABORTED_BODY
async def test_json_startup_line_and_graceful_sigterm_under_load(tmp_path: Path) -> None:
    """Issue: SIGTERM during load drains, exits 0 and loses no acknowledged decision."""
    acks = Acks()
    async with serving(tmp_path) as server:
        startup = server.startup
        assert startup["ok"] is True and startup["profile"] == "standard"
        assert startup["adapter"] == "mcp" and startup["listen"].startswith("127.0.0.1:")
        assert startup["pid"] == server.process.pid
        assert startup["http_server"] == "uvicorn"  # auto on asyncio
        async with anyio.create_task_group() as tg:
            tg.start_soon(_load, server.url, acks)
            await _wait_acks(acks, 40)
            server.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            code = await server.process.wait()
        assert server.process.stdout is not None
        tail = await _read_line(server.process.stdout)
    assert code == 0
    assert json.loads(tail)["event"] == "stopped"
    assert len(acks.items) >= 40
    _assert_all_acked_journaled(acks)


@pytest.mark.anyio
@_HTTPX_ABORTED_BODY
async def test_kill_9_under_load_then_restart_keeps_every_acknowledged_decision(
    tmp_path: Path,
) -> None:
    """Issue: after ``kill -9`` during load, a restart finds every acknowledged decision."""
    acks = Acks()
    async with serving(tmp_path, name="first") as server:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_load, server.url, acks)
            await _wait_acks(acks, 60)
            server.process.kill()
        with anyio.fail_after(30):
            assert await server.process.wait() == -signal.SIGKILL
    _assert_all_acked_journaled(acks)
    async with serving(tmp_path, name="second") as again:
        async with httpx.AsyncClient(base_url=again.url, timeout=20) as client:
            for index in range(4):
                response = await client.post("/v1/evaluate", json=_decision(f"s{index}", 999))
                assert response.status_code == 200
                journal, sequence = _journal_warning(response.json())
                events = _journal_events(Path(journal))
                assert sequence == max(events)
                assert sorted(events) == list(range(1, sequence + 1))
        again.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await again.process.wait() == 0
    _assert_all_acked_journaled(acks)


@pytest.mark.anyio
async def test_second_supervisor_on_the_same_directory_exits_6_naming_the_pid(
    tmp_path: Path,
) -> None:
    """Issue: a second supervisor on one state directory exits 6 and names the holder."""
    async with serving(tmp_path) as first:
        result = await anyio.run_process(_server_args(tmp_path), cwd=tmp_path, check=False)
        doc = json.loads(result.stdout)
        assert result.returncode == 6
        assert doc["ok"] is False and doc["executed"] is False
        assert f"pid {first.process.pid}" in doc["error"]
        first.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await first.process.wait() == 0


@pytest.mark.anyio
async def test_sighup_reloads_the_policy(tmp_path: Path) -> None:
    """Issue: SIGHUP compiles the policy again and swaps it; decisions record the new digest."""
    async with serving(tmp_path, "--policy-poll", "0") as server:
        old = server.startup["policy_digest"]
        new_policy = POLICY.replace(
            b"tool_names: [tool.write]", b"tool_names: [tool.write, tool.deploy]"
        )
        (tmp_path / "policy.yaml").write_bytes(new_policy)
        server.process.send_signal(signal.SIGHUP)
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            with anyio.fail_after(20):
                while (await client.get("/v1/health")).json()["policy"]["digest"] == old:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            body = (
                await client.post("/v1/evaluate", json={"call": {"name": "tool.deploy"}})
            ).json()
        assert body["verdict"] == "dry_run" and body["policy_digest"] != old
        server.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await server.process.wait() == 0


def test_mcp_serve_alias_help_lists_the_go_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """Spec §1: ``gait mcp serve`` takes the Go flags (help exits 0)."""
    assert main(["mcp", "serve", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--policy",
        "--listen",
        "--adapter",
        "--profile",
        "--auth-mode",
        "--auth-token-env",
        "--max-request-bytes",
        "--http-verdict-status",
        "--allow-client-artifact-paths",
        "--trace-dir",
        "--session-dir",
        "--runpack-dir",
        "--trace-max-age",
        "--session-max-count",
        "--export-log-out",
        "--export-otel-out",
        "--key-mode",
        "--private-key-env",
        "--backend",
        "--drain-timeout",
    ):
        assert flag in text, flag


def test_serve_runs_the_trio_backend_too(tmp_path: Path) -> None:
    """Our addition: ``--backend trio`` serves decisions and drains on SIGTERM (exit 0)."""
    (tmp_path / "policy.yaml").write_bytes(POLICY)
    process = subprocess.Popen(
        _server_args(tmp_path, "--backend", "trio"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        startup = json.loads(process.stdout.readline())
        assert startup["backend"] == "trio" and startup["http_server"] == "hypercorn"
        response = httpx.post(
            f"http://{startup['listen']}/v1/evaluate",
            content=(SERVICE / "requests" / "allow_mcp.json").read_bytes(),
            timeout=20,
        )
        assert response.json()["verdict"] == "allow"
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.anyio
async def test_second_signal_during_a_drain_exits_at_once(tmp_path: Path) -> None:
    """Issue: while draining (an in-flight request holds the drain), a second signal exits now."""
    async with serving(tmp_path, "--drain-timeout", "120s") as server:
        host, _, port = str(server.startup["listen"]).rpartition(":")
        stream = await anyio.connect_tcp(host, int(port))
        async with stream:
            await stream.send(
                b"POST /v1/evaluate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 1000\r\n\r\n{"
            )
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
                with anyio.fail_after(20):
                    # the health request itself is in flight too
                    while (await client.get("/v1/health")).json()["in_flight"] < 2:  # noqa: ASYNC110
                        await anyio.sleep(0.02)
            server.process.send_signal(signal.SIGTERM)
            async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
                with anyio.fail_after(20):
                    while True:
                        try:
                            await client.get("/healthz")
                        except httpx.TransportError:
                            break
                        await anyio.sleep(0.02)
            assert server.process.returncode is None
            server.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                code = await server.process.wait()
    assert code == 128 + signal.SIGTERM


def _parsed_with_posture(*argv: str) -> Any:
    from gait_runtime.cli._frame import Parser
    from gait_runtime.cli.serve import apply_posture, build_serve

    parser = Parser(prog="gait serve")
    build_serve(parser)
    ns = parser.parse_intermixed_args(list(argv))
    ns.gait_argv = ["serve", *argv]
    return apply_posture(parser, ns, "serve")


def test_posture_profile_sets_serve_flags_and_explicit_flags_win() -> None:
    """Issue (soak): runtime postures in profiles/ drive `gait serve --posture NAME`."""
    ns = _parsed_with_posture("--posture", "oss-prod", "--policy", "p.yaml")
    assert (ns.profile, ns.auth_mode, ns.auth_token_env) == (
        "oss-prod",
        "token",
        "GAIT_SERVE_TOKEN",
    )
    assert (ns.key_mode, ns.http_verdict_status, ns.trace_max_age) == ("prod", "strict", "168h")
    ns = _parsed_with_posture("--posture", "oss-prod", "--http-verdict-status", "compat")
    assert ns.http_verdict_status == "compat"
    ns = _parsed_with_posture("--posture", "dev")
    assert (ns.key_mode, ns.auth_mode) == ("dev", "off")


def test_unknown_posture_exits_6(tmp_path: Path) -> None:
    """A posture that cannot be found is invalid input, before anything starts."""
    out = io.StringIO()
    code = main(["serve", "--posture", "nope", "--policy", "x.yaml", "--json"], out=out)
    assert code == 6
    assert "posture" in json.loads(out.getvalue())["error"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flags", "journal_io", "ring_used"),
    [
        (["--journal-io", "thread"], "thread", False),
        # auto: the ring where this machine has one; no lease: every batch takes the lock
        (["--lock-lease", "0s"], JOURNAL_IO_PATHS[0], False),
        *([(["--journal-io", "uring", "--lock-lease", "1m"], "uring", True)] * (not RING_UNUSABLE)),
    ],
)
async def test_journal_io_and_lock_lease_flags_reach_the_sessions(
    tmp_path: Path, flags: list[str], journal_io: str, ring_used: bool
) -> None:
    """Our flags: ``--journal-io`` picks the append path, ``--lock-lease`` how long a busy
    session keeps its Go lock (only appends under a lease ride the ring); health shows both
    effects, and every acknowledged decision is in its journal."""
    acks = Acks()
    async with serving(tmp_path, *flags) as server:
        await _load(server.url, acks, workers=4, per_worker=10)
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            sessions = (await client.get("/v1/health")).json()["sessions"]
    assert len(acks.items) == 40
    assert sessions["journal_io"] == journal_io
    assert sessions["appends"] == 40
    assert (sessions["ring_writes"] > 0) is ring_used
    _assert_all_acked_journaled(acks)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the server is the subprocess
async def test_distinct_sessions_under_a_descriptor_limit_never_exhaust_it(
    tmp_path: Path,
) -> None:
    """Issue 13.2: 600 distinct session ids under RLIMIT_NOFILE 256 used to take every
    descriptor (trace writes and /v1/health failed). Now the session bound derived from
    the limit closes idle sessions early: every decision is answered 200 and journaled,
    health answers throughout, open sessions stay under the bound."""
    answers: list[int] = []
    async with (
        serving(tmp_path, fd_limit=256) as server,
        httpx.AsyncClient(base_url=server.url, timeout=20) as client,
    ):

        async def worker(index: int) -> None:
            for n in range(75):
                body = _decision(f"fd-{index}-{n}", n)
                answers.append((await client.post("/v1/evaluate", json=body)).status_code)
                if n % 25 == 0:
                    assert (await client.get("/v1/health")).status_code == 200

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for index in range(8):
                    tg.start_soon(worker, index)
        health = (await client.get("/v1/health")).json()
    assert answers.count(200) == 600, sorted(set(answers))
    sessions = health["sessions"]
    assert sessions["max_sessions"] == (256 - 64) // 2
    assert sessions["sessions_open"] <= sessions["max_sessions"]
    assert sessions["session_evictions"] >= 600 - sessions["max_sessions"]
    assert health["errors"]["internal_failures"] == 0
    assert len(list((tmp_path / "sessions").glob("fd-*.journal.jsonl"))) == 600
    assert len(list((tmp_path / "traces").glob("trace_*.json"))) == 600
