"""The server trace log (issue 21): group commit, torn tails, the trace-file exporter, the CLI.

Real files and fsync throughout; the server runs in-process on 127.0.0.1:0 on both
anyio backends. Waits are bounded (``fail_after``) and wait on the exporter's own
progress, never on a sleep.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gait_runtime.artifacts.tracelog import (
    LOG_DIR_NAME,
    decode_line,
    encode_line,
    export_step,
    read_lines,
    segment_paths,
)
from gait_runtime.cli import main
from gait_runtime.supervisor.runtime import Supervisor
from gait_runtime.supervisor.service.trace_log import TraceLog

from .harness import PUBLIC_KEY, running, service_config

pytestmark = pytest.mark.anyio


def _call(session: str | None, n: int = 0, **extra: Any) -> dict[str, Any]:
    context = {"identity": "agent", "workspace": "/srv", "risk_class": "low"}
    if session:
        context["session_id"] = session
    body: dict[str, Any] = {
        "run_id": f"tl-{n}",
        "call": {"name": "tool.read", "args": {"path": f"/srv/{n}"}, "context": context},
    }
    body.update(extra)
    return body


def _log_lines(log_dir: Path) -> list[bytes]:
    return [raw for seg in segment_paths(log_dir) for _, raw in read_lines(seg)]


async def test_a_batch_is_one_append_and_every_caller_waits_for_it(tmp_path: Path) -> None:
    """Concurrent appends share batches; each returns with its line on disk, none torn."""
    log = TraceLog(tmp_path / "log", batch_limit=64)
    async with anyio.create_task_group() as tg:
        await tg.start(log.run)

        async def one(i: int) -> None:
            await log.append(f"trace_{i}.json", f'{{\n  "n": {i}\n}}\n'.encode())
            names = {decode_line(raw).name for raw in _log_lines(tmp_path / "log")}
            assert f"trace_{i}.json" in names  # durable before the caller is answered

        async with anyio.create_task_group() as callers:
            for i in range(100):
                callers.start_soon(one, i)
        log.close()
    assert log.written == 100 and log.batches < 100
    lines = _log_lines(tmp_path / "log")
    assert sorted(decode_line(raw).name for raw in lines) == sorted(
        f"trace_{i}.json" for i in range(100)
    )


async def test_segments_rotate_by_size(tmp_path: Path) -> None:
    log = TraceLog(tmp_path / "log", segment_bytes=200)
    async with anyio.create_task_group() as tg:
        await tg.start(log.run)
        for i in range(10):
            await log.append(f"trace_{i}.json", b"x" * 100)
        log.close()
    segments = segment_paths(tmp_path / "log")
    assert len(segments) >= 4
    assert len(_log_lines(tmp_path / "log")) == 10


async def test_a_torn_tail_is_cut_and_quarantined_without_losing_a_line(tmp_path: Path) -> None:
    """A kill mid-write leaves a partial last line: the next open cuts it into ``.torn-*``."""
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    good = encode_line("trace_a.json", b"{}\n") + encode_line("trace_b.json", b"{}\n")
    segment = log_dir / "tracelog-00000001.jsonl"
    segment.write_bytes(good + b'{"path":"trace_c.js')
    log = TraceLog(log_dir)
    async with anyio.create_task_group() as tg:
        await tg.start(log.run)
        await log.append("trace_d.json", b"{}\n")
        log.close()
    assert log.torn_tails == 1
    assert [decode_line(r).name for r in _log_lines(log_dir)] == [
        "trace_a.json",
        "trace_b.json",
        "trace_d.json",
    ]
    (quarantine,) = log_dir.glob("*.torn-*")
    assert quarantine.read_bytes() == b'{"path":"trace_c.js'
    assert quarantine.name == f"tracelog-00000001.jsonl.torn-{len(good)}"


def test_export_is_idempotent_and_refuses_other_bytes(tmp_path: Path) -> None:
    log_dir, out = tmp_path / "log", tmp_path / "out"
    log_dir.mkdir()
    (log_dir / "tracelog-00000001.jsonl").write_bytes(
        encode_line("trace_a.json", b'{"a": 1}\n') + encode_line("trace_b.json", b'{"b": 2}\n')
    )
    out.mkdir()
    (out / "trace_a.json").write_bytes(b'{"a": 1}\n')  # a kill between the file and the cursor
    (out / "trace_b.json").write_bytes(b"other\n")
    step = export_step(log_dir, out)
    assert (step.exported, step.existing) == (0, 1) and "other bytes" in step.error
    assert sorted(p.name for p in out.iterdir()) == ["trace_a.json", "trace_b.json"]  # no temps
    (out / "trace_b.json").unlink()
    step = export_step(log_dir, out)
    assert (step.exported, step.existing, step.error) == (1, 0, "")
    assert (out / "trace_b.json").read_bytes() == b'{"b": 2}\n'
    assert export_step(log_dir, out).exported == 0  # the cursor moved past both


def _assert_files_match(bodies: list[dict[str, Any]], lines: dict[str, bytes]) -> None:
    for body in bodies:
        path = Path(body["trace_path"])
        assert path.read_bytes() == lines[path.name]
        assert json.loads(path.read_bytes())["trace_id"] == body["trace_id"]


async def test_decisions_are_durable_in_the_log_and_exported_to_the_named_files(
    tmp_path: Path,
) -> None:
    """Each reply's ``trace_path`` is written by the exporter with the log line's exact
    bytes; the files and the log both verify; health and metrics show the log."""
    async with running(tmp_path) as run:
        bodies = []
        for n in range(6):
            response = await run.client.post("/v1/evaluate", json=_call("s1" if n % 2 else None, n))
            assert response.status_code == 200, response.text
            bodies.append(response.json())
        with anyio.fail_after(10):
            await run.supervisor.traces_exported()
        health = (await run.client.get("/v1/health")).json()
        metrics = (await run.client.get("/metrics")).text
    log_dir = tmp_path / "traces" / LOG_DIR_NAME
    lines = {decode_line(raw).name: decode_line(raw).data for raw in _log_lines(log_dir)}
    assert len(lines) == 6
    _assert_files_match(bodies, lines)
    assert health["traces"]["log"]["lines"] == 6
    assert health["traces"]["export"]["exported"] == 6
    assert health["traces"]["export"]["lag_bytes"] == 0
    assert health["traces"]["export"]["failures"] == 0
    assert "gait_trace_log_lines_total 6.0" in metrics
    assert "gait_trace_export_lag_bytes 0.0" in metrics
    assert main(["trace", "verify", str(log_dir), "--public-key", str(PUBLIC_KEY)]) == 0
    assert main(["trace", "verify", bodies[0]["trace_path"], "--public-key", str(PUBLIC_KEY)]) == 0


async def test_a_failing_exporter_never_changes_a_decision_and_shows_in_health(
    tmp_path: Path,
) -> None:
    """The first trace's name is taken by other bytes: the exporter fails and retries,
    decisions go on answering 200 with their usual body, health and metrics say so;
    once the blocker is gone the exporter catches up."""
    stamp = 1_767_225_600_000_000_000
    config = service_config(tmp_path)
    traces = tmp_path / "traces"
    traces.mkdir()
    blocker = traces / "trace_run_tl-0_20260101T000000.000000000.json"
    blocker.write_bytes(b"not this trace\n")
    supervisor = Supervisor(config, clock_ns=lambda: stamp)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(15):
            bound = await tg.start(supervisor.run)
        async with httpx.AsyncClient(base_url=bound.url(), timeout=15) as client:
            first = await client.post("/v1/evaluate", json=_call(None, 0))
            assert first.status_code == 200 and first.json()["verdict"] == "allow"
            assert first.json()["trace_path"] == str(blocker)
            for n in range(1, 4):
                response = await client.post("/v1/evaluate", json=_call(None, n))
                assert response.status_code == 200 and response.json()["verdict"] == "allow"
            with anyio.fail_after(10):
                await supervisor.traces_export_failed()
            health = (await client.get("/v1/health")).json()
            metrics = (await client.get("/metrics")).text
            assert health["traces"]["export"]["lag_bytes"] > 0
            assert "other bytes" in health["traces"]["export"]["last_error"]
            assert "gait_trace_export_failures_total" in metrics
            assert "gait_trace_export_failures_total 0.0" not in metrics
            blocker.unlink()
            with anyio.fail_after(10):
                await supervisor.traces_exported()
        supervisor.request_shutdown()
    assert len(list(traces.glob("trace_*.json"))) == 4
    assert json.loads(blocker.read_bytes())["trace_id"] == first.json()["trace_id"]


async def test_with_trace_files_off_only_the_log_is_written_and_export_makes_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--trace-files off``: replies wait for the log only, no file appears, health says
    the exporter is off; ``gait trace export`` then writes each reply's exact file."""
    async with running(tmp_path, trace_files="off") as run:
        bodies = []
        for n in range(4):
            response = await run.client.post("/v1/evaluate", json=_call("s1" if n % 2 else None, n))
            assert response.status_code == 200, response.text
            bodies.append(response.json())
        with anyio.fail_after(10):
            await run.supervisor.traces_exported()  # returns at once: nothing to wait for
        health = (await run.client.get("/v1/health")).json()
    traces = tmp_path / "traces"
    assert not list(traces.glob("trace_*.json"))
    assert health["traces"]["export"]["enabled"] is False
    assert health["traces"]["log"]["lines"] == 4
    capsys.readouterr()
    assert main(["trace", "export", "--trace-dir", str(traces), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exported"] == 4
    lines = {
        decode_line(raw).name: decode_line(raw).data for raw in _log_lines(traces / LOG_DIR_NAME)
    }
    _assert_files_match(bodies, lines)


def test_trace_export_cli_writes_the_files_and_reports_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = tmp_path / "traces" / LOG_DIR_NAME
    log_dir.mkdir(parents=True)
    (log_dir / "tracelog-00000001.jsonl").write_bytes(encode_line("trace_a.json", b'{"a": 1}\n'))
    code = main(["trace", "export", "--trace-dir", str(tmp_path / "traces"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"] is True and doc["exported"] == 1
    assert (tmp_path / "traces" / "trace_a.json").read_bytes() == b'{"a": 1}\n'


def test_trace_export_cli_without_a_log_is_a_stable_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["trace", "export", "--trace-dir", str(tmp_path / "none"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 6 and doc["ok"] is False and doc["error_detail"] == "trace_log_missing"


def test_trace_verify_checks_every_log_line_and_names_the_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Go-signed traces as log lines verify; one edited verdict fails the log (exit 2)."""
    gate = Path(__file__).parent.parent / "vectors" / "gate"
    good = [p.read_bytes() for p in sorted((gate / "traces").glob("*.json"))[:3]]
    bad = (gate / "tampered" / "trace_verdict_edited.json").read_bytes()
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    segment = log_dir / "tracelog-00000001.jsonl"
    segment.write_bytes(b"".join(encode_line(f"trace_{i}.json", d) for i, d in enumerate(good)))
    args = ["trace", "verify", str(log_dir), "--public-key", str(PUBLIC_KEY), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == 3
    with segment.open("ab") as handle:
        handle.write(encode_line("trace_bad.json", bad))
    assert main(args) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error_detail"] == "trace_log_signature_invalid"
    assert doc["failed_count"] == 1 and doc["failed"][0].startswith("tracelog-00000001.jsonl:4")


def test_an_export_hop_publishes_in_log_order_and_stops_at_the_first_taken_name(
    tmp_path: Path,
) -> None:
    """A hop stages every file, then publishes in order: files before a name taken by
    other bytes appear, the ones after it do not, the cursor stops before it, and no
    temp file is left; once the name is freed the rest follows."""
    log_dir, out = tmp_path / "log", tmp_path / "out"
    log_dir.mkdir()
    names = [f"trace_{n}.json" for n in range(5)]
    (log_dir / "tracelog-00000001.jsonl").write_bytes(
        b"".join(encode_line(name, b'{"n": %d}\n' % n) for n, name in enumerate(names))
    )
    out.mkdir()
    (out / names[2]).write_bytes(b"taken\n")
    step = export_step(log_dir, out)
    assert (step.exported, step.existing, step.more) == (2, 0, False)
    assert "other bytes" in step.error
    assert sorted(p.name for p in out.iterdir()) == names[:3]
    (out / names[2]).unlink()
    step = export_step(log_dir, out)
    assert (step.exported, step.existing, step.error) == (3, 0, "")
    assert [(out / name).read_bytes() for name in names] == [b'{"n": %d}\n' % n for n in range(5)]
    assert export_step(log_dir, out).exported == 0
