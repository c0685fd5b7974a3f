"""Trace files are written by a worker process, off the server's interpreter (issue 21).

The server runs in-process on 127.0.0.1:0 on both anyio backends; the worker is the
real ``python -m gait_runtime.artifacts._export_worker`` child. Waits are bounded and
wait on the exporter's own progress.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from gait_runtime.artifacts.tracelog import (
    LOG_DIR_NAME,
    decode_line,
    read_lines,
    segment_paths,
)
from gait_runtime.supervisor.service.trace_export import EXPORT_PROCESS_ENV

from .harness import Running, running

pytestmark = pytest.mark.anyio


def _call(n: int) -> dict[str, Any]:
    context = {"identity": "agent", "workspace": "/srv", "risk_class": "low"}
    return {
        "run_id": f"tw-{n}",
        "call": {"name": "tool.read", "args": {"path": f"/srv/{n}"}, "context": context},
    }


async def _decide(run: Running, first: int, count: int) -> list[dict[str, Any]]:
    bodies = []
    for n in range(first, first + count):
        response = await run.client.post("/v1/evaluate", json=_call(n))
        assert response.status_code == 200, response.text
        assert response.json()["verdict"] == "allow"
        bodies.append(response.json())
    return bodies


def _assert_exported(tmp_path: Path, bodies: list[dict[str, Any]]) -> None:
    log_dir = tmp_path / "traces" / LOG_DIR_NAME
    lines = {
        decode_line(raw).name: decode_line(raw).data
        for segment in segment_paths(log_dir)
        for _, raw in read_lines(segment)
    }
    for body in bodies:
        path = Path(body["trace_path"])
        assert path.read_bytes() == lines[path.name]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_trace_files_are_written_by_a_worker_process_that_ends_with_the_server(
    tmp_path: Path,
) -> None:
    """The hop runs in a child whose command line is the export worker; the files are the
    log's bytes; the child is gone once the server has drained."""
    async with running(tmp_path) as run:
        bodies = await _decide(run, 0, 5)
        with anyio.fail_after(20):
            await run.supervisor.traces_exported()
        export = (await run.client.get("/v1/health")).json()["traces"]["export"]
        worker = export["worker_pid"]
        assert export["worker"] == "process"
        assert worker not in (0, os.getpid())
        command = (await anyio.Path(f"/proc/{worker}/cmdline").read_bytes()).split(b"\0")
        assert b"gait_runtime.artifacts._export_worker" in command
        assert export["exported"] == 5 and export["failures"] == 0
    _assert_exported(tmp_path, bodies)
    assert not _alive(worker)


async def test_a_killed_worker_fails_one_step_and_a_new_one_catches_up(tmp_path: Path) -> None:
    """SIGKILL of the worker: decisions keep answering 200; the failed step is counted and
    named in health; a new worker exports everything the log holds."""
    async with running(tmp_path) as run:
        bodies = await _decide(run, 0, 3)
        with anyio.fail_after(20):
            await run.supervisor.traces_exported()
        first = (await run.client.get("/v1/health")).json()["traces"]["export"]["worker_pid"]
        os.kill(first, signal.SIGKILL)
        bodies += await _decide(run, 3, 4)
        with anyio.fail_after(20):
            await run.supervisor.traces_export_failed()
        with anyio.fail_after(20):
            await run.supervisor.traces_exported()
        export = (await run.client.get("/v1/health")).json()["traces"]["export"]
    assert export["failures"] >= 1
    assert export["last_error"].startswith("trace export process failed")
    assert export["worker_pid"] not in (0, first, os.getpid())
    assert export["lag_bytes"] == 0
    _assert_exported(tmp_path, bodies)


async def test_export_process_0_keeps_the_hops_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GAIT_TRACE_EXPORT_PROCESS=0``: the same files, written by the server's own process."""
    monkeypatch.setenv(EXPORT_PROCESS_ENV, "0")
    async with running(tmp_path) as run:
        bodies = await _decide(run, 0, 3)
        with anyio.fail_after(20):
            await run.supervisor.traces_exported()
        export = (await run.client.get("/v1/health")).json()["traces"]["export"]
    assert export["worker"] == "thread"
    assert export["worker_pid"] == os.getpid()
    _assert_exported(tmp_path, bodies)


def test_the_worker_answers_a_bad_request_with_an_error_and_goes_on(tmp_path: Path) -> None:
    """A line that is not a request is a failed step, not a dead worker; the next request
    is answered; the worker exits 0 at the end of its input."""
    (tmp_path / "traces").mkdir()
    good = {
        "log_dir": str(tmp_path / "traces" / LOG_DIR_NAME),
        "trace_dir": str(tmp_path / "traces"),
        "hop": 8,
        "durable": None,
    }
    done = subprocess.run(
        [sys.executable, "-m", "gait_runtime.artifacts._export_worker"],
        input=b"not json\n" + json.dumps(good).encode() + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    bad, ok = (json.loads(line) for line in done.stdout.splitlines())
    assert bad["error"].startswith("trace export worker: JSONDecodeError")
    assert ok["error"] == "" and ok["exported"] == 0 and ok["more"] is False
    assert bad["pid"] == ok["pid"] != os.getpid()
