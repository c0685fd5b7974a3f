"""Library-level inspect, replay and diff rules (spec/runpack.md §12) on runpacks built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gait_runtime.errors import ArtifactInputError, UnsafeOperationError
from gait_runtime.runpack import build_runpack, read_runpack, write_runpack
from gait_runtime.runpack.diff import diff_runpacks
from gait_runtime.runpack.inspect import inspect_runpack, inspect_text
from gait_runtime.runpack.replay import authorize_real_replay, replay_runpack, stub_type

RUN = {"run_id": "run_lib", "created_at": "2026-01-01T00:00:00+00:00"}


def _contents(tmp_path: Path, intents: list[dict[str, Any]], results: list[dict[str, Any]]) -> Any:
    path = tmp_path / "rp.zip"
    write_runpack(path, build_runpack(RUN, intents, results, capture_mode="raw"))
    return read_runpack(path)


def test_inspect_keeps_first_result_warns_and_lists_unmatched(tmp_path: Path) -> None:
    """§12.1: first result wins with a warning; results without intents are sorted unmatched."""
    intents = [{"intent_id": "a", "tool_name": "t.a", "args": {"x": 1}}]
    results: list[dict[str, Any]] = [
        {"intent_id": "a", "status": "ok", "result": {"verdict": " block ", "reason_codes": ["z", " y", "z", ""]}},
        {"intent_id": "a", "status": "error", "result": {"x": 1}},
        {"intent_id": "zz", "status": "ok", "result_digest": "b" * 64},
        {"intent_id": "b", "status": "ok", "result_digest": "a" * 64},
    ]  # fmt: skip
    payload = inspect_runpack(_contents(tmp_path, intents, results), "rp.zip")
    (entry,) = payload["entries"]
    assert entry["status"] == "ok" and entry["verdict"] == "block"
    assert entry["reason_codes"] == ["y", "z"]
    assert entry["created_at"] == "2026-01-01T00:00:00Z"
    assert payload["warnings"] == ["multiple result records for intent_id=a (kept first)"]
    assert [r["intent_id"] for r in payload["unmatched_results"]] == ["b", "zz"]
    assert inspect_text(payload)[2] == "1. intent=a tool=t.a status=ok verdict=block"


def test_inspect_marks_intents_without_results(tmp_path: Path) -> None:
    """§12.1 text: an intent with no result prints status=missing_result."""
    contents = _contents(tmp_path, [{"intent_id": "a", "tool_name": "t", "args": {"x": 1}}], [])
    payload = inspect_runpack(contents, "rp.zip")
    assert "status" not in payload["entries"][0]
    assert inspect_text(payload)[2].endswith("status=missing_result")


@pytest.mark.parametrize(
    ("tool", "kind"),
    [
        ("http.get", "http"),
        ("web.fetch", "http"),
        ("fs.read_file", "file"),
        ("db.query", "db"),
        ("sql.run", "db"),
        ("kafka.send", "queue"),
        ("tool.summarize", ""),
        ("url_write", "http"),  # first class wins
    ],
)
def test_stub_type_first_match_wins(tool: str, kind: str) -> None:
    """§12.2: substring classes in the documented order."""
    assert stub_type(tool) == kind


def test_replay_rejects_duplicate_results(tmp_path: Path) -> None:
    """§12.2 step 1: two results for one intent are an input error."""
    intents = [{"intent_id": "a", "tool_name": "t", "args": {"x": 1}}]
    results = [{"intent_id": "a", "status": "ok", "result": {"r": 1}}] * 2
    with pytest.raises(ArtifactInputError, match="duplicate result for intent_id a"):
        replay_runpack(_contents(tmp_path, intents, results))


def test_authorize_without_real_tools_is_stub() -> None:
    """§12.2: without --real-tools nothing is authorised (stub mode)."""
    assert (
        authorize_real_replay(
            real_tools=False, unsafe_real_tools=True, allow_tools="x", env_name="", environ={}
        )
        == []
    )
    with pytest.raises(UnsafeOperationError):
        authorize_real_replay(
            real_tools=True, unsafe_real_tools=True, allow_tools=" , ", env_name="", environ={}
        )
    assert authorize_real_replay(
        real_tools=True,
        unsafe_real_tools=True,
        allow_tools="Echo, shell.exec",
        env_name="",
        environ={"GAIT_ALLOW_REAL_REPLAY": "1"},
    ) == ["echo", "shell.exec"]


def test_diff_reports_one_sided_intents_and_files(tmp_path: Path) -> None:
    """§12.3: left-only/right-only intents are listed, sorted, and count as changes."""
    left = _contents(tmp_path, [{"intent_id": "a", "tool_name": "t", "args": {"x": 1}}], [])
    right_path = tmp_path / "right.zip"
    write_runpack(
        right_path,
        build_runpack(RUN, [{"intent_id": "b", "tool_name": "t", "args": {"x": 1}}], [], capture_mode="raw"),
    )  # fmt: skip
    summary = diff_runpacks(left, read_runpack(right_path), "full")
    assert summary["intents_changed"] is True
    assert (summary["left_only_intents"], summary["right_only_intents"]) == (["a"], ["b"])
    assert summary["manifest_changed"] is False
    assert "files_changed" not in summary


def test_diff_metadata_privacy_ignores_payloads(tmp_path: Path) -> None:
    """§12.3: metadata privacy ignores args/result but still compares digests."""
    base = [{"intent_id": "a", "tool_name": "t", "args_digest": "a" * 64, "args": {"x": 1}}]
    other = [{"intent_id": "a", "tool_name": "t", "args_digest": "a" * 64, "args": {"x": 2}}]
    left = _contents(tmp_path, base, [])
    right_path = tmp_path / "right.zip"
    write_runpack(right_path, build_runpack(RUN, other, [], capture_mode="raw"))
    right = read_runpack(right_path)
    assert diff_runpacks(left, right, "metadata")["intents_changed"] is False
    assert diff_runpacks(left, right, "full")["intents_changed"] is True
