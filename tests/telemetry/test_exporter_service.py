"""DecisionExporter: a bounded, never-blocking, best-effort writer of the export files."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from gait_runtime.errors import ArtifactInputError
from gait_runtime.telemetry import DecisionAttributes, DecisionExporter

pytestmark = pytest.mark.anyio


def _record(i: int, *, created_at: str = "") -> DecisionAttributes:
    return DecisionAttributes(
        run_id=f"run_{i}",
        session_id="sess-1",
        verdict="block" if i % 2 else "allow",
        reason_codes=("r",),
        policy_digest="p" * 64,
        intent_digest="i" * 64,
        tool_name="tool.read",
        trace_id=f"{i:024x}",
        created_at=created_at,
        decision_latency_ms=i,
    )


async def test_records_are_written_to_both_files_in_order(tmp_path: Path) -> None:
    """Each submitted record becomes one line per enabled stream, in submit order."""
    exporter = DecisionExporter(
        log_path=tmp_path / "exports" / "log.jsonl",
        otel_path=tmp_path / "exports" / "otel.jsonl",
        producer_version="0.1.0",
    )
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        for i in range(5):
            assert exporter.submit_nowait(_record(i))
        exporter.close()
    log = [json.loads(x) for x in (tmp_path / "exports" / "log.jsonl").read_text().splitlines()]
    otel = [json.loads(x) for x in (tmp_path / "exports" / "otel.jsonl").read_text().splitlines()]
    assert [d["run_id"] for d in log] == [f"run_{i}" for i in range(5)]
    assert [d["attributes"]["gait.run_id"] for d in otel] == [f"run_{i}" for i in range(5)]
    assert log[0]["producer_version"] == "0.1.0"
    assert exporter.stats() == {"queued": 0, "written": 10, "dropped": 0, "errors": 0}


async def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    """With the writer not running, submits past the bound return False at once."""
    exporter = DecisionExporter(log_path=tmp_path / "log.jsonl", producer_version="1", max_queue=3)
    results = [exporter.submit_nowait(_record(i)) for i in range(10)]
    assert results == [True] * 3 + [False] * 7
    assert exporter.stats() == {"queued": 3, "written": 0, "dropped": 7, "errors": 0}
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        exporter.close()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3
    assert exporter.stats()["written"] == 3


async def test_write_failure_is_counted_and_logged_not_raised(tmp_path: Path) -> None:
    """A target that is a directory costs an error count; the service keeps going."""
    bad = tmp_path / "is_a_dir.jsonl"
    bad.mkdir()
    exporter = DecisionExporter(
        log_path=bad, otel_path=tmp_path / "otel.jsonl", producer_version="1"
    )
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(exporter.run)
            assert exporter.submit_nowait(_record(1))
            assert exporter.submit_nowait(_record(2))
            exporter.close()
    assert exporter.stats() == {"queued": 0, "written": 2, "dropped": 0, "errors": 2}
    assert len((tmp_path / "otel.jsonl").read_text().splitlines()) == 2
    failures = [e for e in logs if e["event"] == "export_write_failed"]
    assert len(failures) == 2
    assert failures[0]["log_level"] == "warning"
    assert failures[0]["path"] == str(bad)


async def test_lock_timeout_is_counted_not_raised(tmp_path: Path) -> None:
    """A lock held by someone else past the timeout is an error, not an exception."""
    target = tmp_path / "log.jsonl"
    await anyio.Path(f"{target}.lock").write_bytes(b"")
    exporter = DecisionExporter(log_path=target, producer_version="1", lock_timeout=0.02)
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        exporter.submit_nowait(_record(1))
        exporter.close()
    assert exporter.stats() == {"queued": 0, "written": 0, "dropped": 0, "errors": 1}
    assert not target.exists()


async def test_invalid_record_is_counted_per_stream(tmp_path: Path) -> None:
    """A record whose created_at is not RFC 3339 is an error on each enabled stream."""
    exporter = DecisionExporter(
        log_path=tmp_path / "l.jsonl", otel_path=tmp_path / "o.jsonl", producer_version="1"
    )
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        exporter.submit_nowait(_record(1, created_at="not a time"))
        exporter.submit_nowait(_record(2))
        exporter.close()
    assert exporter.stats() == {"queued": 0, "written": 2, "dropped": 0, "errors": 2}


async def test_cancellation_drains_queued_records(tmp_path: Path) -> None:
    """Cancelling the task group still writes what was queued (shielded, bounded)."""
    exporter = DecisionExporter(log_path=tmp_path / "l.jsonl", producer_version="1")
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        for i in range(20):
            exporter.submit_nowait(_record(i))
        tg.cancel_scope.cancel()
    assert len((tmp_path / "l.jsonl").read_text().splitlines()) == 20
    assert exporter.stats()["dropped"] == 0


async def test_submit_after_stop_is_dropped(tmp_path: Path) -> None:
    """Once the service has stopped, submit_nowait returns False and counts a drop."""
    exporter = DecisionExporter(log_path=tmp_path / "l.jsonl", producer_version="1")
    async with anyio.create_task_group() as tg:
        await tg.start(exporter.run)
        exporter.close()
    assert exporter.submit_nowait(_record(1)) is False
    assert exporter.stats()["dropped"] == 1


def test_parent_traversal_is_refused_at_construction() -> None:
    """Relative export paths must not escape with '..' (spec/otel.md §2)."""
    with pytest.raises(ArtifactInputError):
        DecisionExporter(log_path="../x.jsonl", producer_version="1")
