"""Faults on the trace log path (issue 21): SIGKILL under load, a full disk.

SIGKILL runs ``python -m gait_runtime serve --json`` as a real subprocess on
127.0.0.1:0 under concurrent load, kills it, checks the files it left, restarts it
and waits (bounded) for its exporter. The full disk is a real 1 MiB tmpfs under
the trace directory (mounting needs root, as CI has), the server in-process.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gait_runtime.artifacts.tracelog import LOG_DIR_NAME, decode_line, read_lines, segment_paths
from gait_runtime.cli import main
from tests.cli.test_serve_cli import _HTTPX_ABORTED_BODY, _journal_events, serving

from .harness import PUBLIC_KEY, running
from .test_disk_full import _fill, _mount_tmpfs, needs_root

pytestmark = pytest.mark.anyio


def _call(session: str | None, n: int) -> dict[str, Any]:
    context = {"identity": "agent", "workspace": "/srv", "risk_class": "low"}
    if session:
        context["session_id"] = session
    return {
        "run_id": f"kill-{session or 'none'}",
        "call": {"name": "tool.read", "args": {"path": f"/srv/{n}"}, "context": context},
    }


def _journal_of(body: dict[str, Any]) -> tuple[str, int] | None:
    for warning in body.get("warnings", []):
        if warning.startswith("session_journal="):
            journal, _, sequence = warning.removeprefix("session_journal=").partition(" sequence=")
            return journal, int(sequence)
    return None


async def _load(url: str, acked: list[dict[str, Any]], *, workers: int = 8) -> None:
    async def worker(index: int) -> None:
        session = None if index % 2 else f"s{index % 4}"
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            for n in range(400):
                try:
                    response = await client.post("/v1/evaluate", json=_call(session, n))
                except httpx.TransportError:
                    return
                if response.status_code != 200:
                    return
                acked.append(response.json())

    async with anyio.create_task_group() as tg:
        for index in range(workers):
            tg.start_soon(worker, index)


def _log_lines(log_dir: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for segment in segment_paths(log_dir):
        for _, raw in read_lines(segment):
            line = decode_line(raw)  # every complete line decodes: nothing torn inside
            found[line.name] = line.data
    return found


def _assert_acked_durable(root: Path, acked: list[dict[str, Any]]) -> None:
    lines = _log_lines(root / "traces" / LOG_DIR_NAME)
    journals: dict[str, dict[int, str]] = {}
    for body in acked:
        data = lines[Path(body["trace_path"]).name]
        assert json.loads(data)["trace_id"] == body["trace_id"]
        journal = _journal_of(body)
        if journal is not None:
            if journal[0] not in journals:
                journals[journal[0]] = _journal_events(Path(journal[0]))
            assert journals[journal[0]].get(journal[1]) == body["trace_id"], journal


def _assert_files_exported(acked: list[dict[str, Any]]) -> None:
    for body in acked:
        path = Path(body["trace_path"])
        assert json.loads(path.read_bytes())["trace_id"] == body["trace_id"]
    sample = acked[0]["trace_path"]
    assert main(["trace", "verify", sample, "--public-key", str(PUBLIC_KEY)]) == 0


async def _wait_exported(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        with anyio.fail_after(30):
            while True:
                health = (await client.get("/v1/health")).json()
                if health["traces"]["export"]["lag_bytes"] == 0:
                    return
                await anyio.sleep(0.05)  # waiting on the child's exporter


def _key_args() -> list[str]:
    keys = Path(__file__).resolve().parent.parent / "vectors" / "keys"
    return ["--key-mode", "prod", "--private-key", str(keys / "gait_private.key")]


@_HTTPX_ABORTED_BODY
async def test_kill_9_under_load_keeps_every_acknowledged_trace_and_exports_after_restart(
    tmp_path: Path,
) -> None:
    """Every acknowledged decision's log line (and journal event) survives ``kill -9``;
    none is torn; the restarted server's exporter writes every acknowledged file."""
    acked: list[dict[str, Any]] = []
    async with serving(tmp_path, *_key_args(), name="first") as server:
        url = f"http://{server.startup['listen']}"
        async with anyio.create_task_group() as tg:
            tg.start_soon(_load, url, acked)
            with anyio.fail_after(60):
                while len(acked) < 120:  # noqa: ASYNC110  # waiting on load progress
                    await anyio.sleep(0.01)
            server.process.kill()
        with anyio.fail_after(30):
            assert await server.process.wait() == -signal.SIGKILL
    assert len(acked) >= 120
    _assert_acked_durable(tmp_path, acked)
    async with serving(tmp_path, *_key_args(), name="second") as again:
        url = f"http://{again.startup['listen']}"
        await _wait_exported(url)
        again.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await again.process.wait() == 0
    _assert_files_exported(acked)
    assert (
        main(
            [
                "trace",
                "verify",
                str(tmp_path / "traces" / LOG_DIR_NAME),
                "--public-key",
                str(PUBLIC_KEY),
            ]
        )
        == 0
    )


@pytest.fixture
def small_traces(tmp_path: Path) -> Iterator[Path]:
    import subprocess

    mount = tmp_path / "traces"
    mount.mkdir()
    reason = _mount_tmpfs(mount, "1m")
    assert not reason, f"root could not mount a 1 MiB tmpfs: {reason}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@needs_root
async def test_a_full_trace_disk_fails_closed_and_recovers(
    tmp_path: Path, small_traces: Path
) -> None:
    """ENOSPC under the trace log: a decision whose line cannot be made durable is answered
    block (500), never acknowledged; every acknowledged one's line is in the log; once
    space returns decisions are acknowledged again."""
    acked: list[dict[str, Any]] = []
    refused = 0
    async with running(tmp_path, trace_dir=small_traces) as run:
        for n in range(3):
            response = await run.client.post("/v1/evaluate", json=_call(None, n))
            assert response.status_code == 200
            acked.append(response.json())
        filler = _fill(small_traces)
        for n in range(3, 40):
            response = await run.client.post("/v1/evaluate", json=_call(None, n))
            body = response.json()
            if response.status_code == 200:
                acked.append(body)
                continue
            refused += 1
            assert response.status_code == 500, body
            assert body["verdict"] == "block" and body["executed"] is False
        assert refused >= 30
        health = (await run.client.get("/v1/health")).json()
        assert health["traces"]["log"]["failures"] >= refused
        filler.unlink()
        for n in range(40, 43):
            response = await run.client.post("/v1/evaluate", json=_call(None, n))
            assert response.status_code == 200, response.text
            acked.append(response.json())
        with anyio.fail_after(10):
            await run.supervisor.traces_exported()
    lines = _log_lines(small_traces / LOG_DIR_NAME)
    assert len(lines) == len(acked)  # nothing un-acknowledged is in the log
    _assert_files_exported(acked)
