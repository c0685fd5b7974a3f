"""The two Go-compatible JSONL line formats (spec/otel.md §3 and §4).

Every line the Go implementation wrote in ``tests/vectors/service/exports/`` is
rebuilt as a :class:`DecisionAttributes` from its own values and re-encoded;
the bytes must be identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gait_runtime.errors import ArtifactInputError
from gait_runtime.telemetry import DecisionAttributes, decision_log_line, decision_otel_line
from gait_runtime.telemetry._record import LOCKED_ATTRIBUTE_KEYS


def _lines(vectors: Path, name: str) -> list[bytes]:
    raw = (vectors / "service" / "exports" / name).read_bytes()
    return [line for line in raw.split(b"\n") if line]


def _from_log(doc: dict[str, object]) -> DecisionAttributes:
    return DecisionAttributes(
        run_id=str(doc["run_id"]),
        session_id=str(doc.get("session_id", "")),
        trace_path=str(doc.get("trace_path", "")),
        verdict=str(doc["verdict"]),
        reason_codes=tuple(doc.get("reason_codes", [])),  # type: ignore[arg-type]
        policy_digest=str(doc["policy_digest"]),
        intent_digest=str(doc["intent_digest"]),
        decision_latency_ms=int(doc.get("decision_latency_ms", 0)),  # type: ignore[call-overload]
        tool_name=str(doc["tool_name"]),
        trace_id=str(doc["trace_id"]),
        created_at=str(doc["created_at"]),
    )


def _from_otel(doc: dict[str, object]) -> DecisionAttributes:
    attrs = doc["attributes"]
    assert isinstance(attrs, dict)
    return DecisionAttributes(
        run_id=attrs["gait.run_id"],
        session_id=attrs["gait.session_id"],
        trace_path=attrs["gait.trace_path"],
        verdict=attrs["gait.verdict"],
        reason_codes=tuple(attrs["gait.reason_codes"]),
        policy_digest=attrs["gait.policy_digest"],
        intent_digest=attrs["gait.intent_digest"],
        decision_latency_ms=attrs["gait.decision_latency_ms"],
        tool_name=attrs["gait.tool_name"],
        trace_id=str(doc["trace_id"]),
        delegation_ref=attrs["gait.delegation_ref"],
        delegation_depth=attrs["gait.delegation_depth"],
    )


def test_plain_log_lines_equal_go_bytes(vectors: Path) -> None:
    """§4: field order, omitempty and created_at text match Go for every vector line."""
    lines = _lines(vectors, "decisions_log.jsonl")
    assert len(lines) == 8
    for line in lines:
        record = _from_log(json.loads(line))
        assert decision_log_line(record, producer_version="0.0.0-dev") == line


def test_otel_lines_equal_go_bytes(vectors: Path) -> None:
    """§3: sorted keys, all attributes present, time_unix_nano from created_at (1980 default)."""
    lines = _lines(vectors, "decisions_otel.jsonl")
    assert len(lines) == 8
    for line in lines:
        record = _from_otel(json.loads(line))
        assert decision_otel_line(record) == line


def test_otel_line_keys_and_types_are_locked(vectors: Path) -> None:
    """Every locked attribute is present with the locked type, also for an empty record."""
    record = DecisionAttributes(
        run_id="run_x",
        verdict="allow",
        policy_digest="p",
        intent_digest="i",
        tool_name="t",
        trace_id="abc",
    )
    for line in [decision_otel_line(record), *_lines(vectors, "decisions_otel.jsonl")]:
        doc = json.loads(line)
        assert list(doc) == ["attributes", "body", "severity_text", "time_unix_nano", "trace_id"]
        attrs = doc["attributes"]
        assert tuple(attrs) == LOCKED_ATTRIBUTE_KEYS
        for key in ("gait.decision_latency_ms", "gait.delegation_depth"):
            assert type(attrs[key]) is int
        assert isinstance(attrs["gait.reason_codes"], list)
        assert all(
            isinstance(attrs[k], str)
            for k in LOCKED_ATTRIBUTE_KEYS
            if k not in ("gait.decision_latency_ms", "gait.delegation_depth", "gait.reason_codes")
        )
        assert doc["body"] == "gait.mcp.proxy.decision"
        assert doc["severity_text"] == "INFO"


def test_plain_log_omits_empty_optional_fields() -> None:
    """§4: session_id, trace_path, reason_codes and a zero latency are omitted."""
    record = DecisionAttributes(
        run_id="run_x",
        verdict="allow",
        policy_digest="p",
        intent_digest="i",
        tool_name="t",
        trace_id="abc",
    )
    doc = json.loads(decision_log_line(record, producer_version="1.0.0"))
    assert list(doc) == [
        "created_at",
        "producer_version",
        "run_id",
        "trace_id",
        "tool_name",
        "verdict",
        "policy_digest",
        "intent_digest",
    ]


def test_created_at_is_rendered_in_go_rfc3339nano_and_unix_nanos() -> None:
    """A given created_at keeps nanoseconds, trims zeros and drives time_unix_nano."""
    record = DecisionAttributes(
        run_id="run_x",
        verdict="block",
        reason_codes=("z", "a"),
        policy_digest="p",
        intent_digest="i",
        tool_name="t",
        trace_id="abc",
        created_at="2026-03-01T09:31:05.123456780Z",
    )
    log = json.loads(decision_log_line(record, producer_version="1"))
    otel = json.loads(decision_otel_line(record))
    assert log["created_at"] == "2026-03-01T09:31:05.12345678Z"
    assert log["reason_codes"] == ["a", "z"]
    assert otel["time_unix_nano"] == 1772357465123456780
    assert otel["attributes"]["gait.reason_codes"] == ["a", "z"]


def test_lines_escape_html_characters_like_go() -> None:
    """Go's json.Marshal escapes <, > and & (and U+2028/2029) inside strings."""
    record = DecisionAttributes(
        run_id="run_<a&b>",
        verdict="allow",
        policy_digest="p",
        intent_digest="i",
        tool_name="t\u2028",
        trace_id="abc",
    )
    line = decision_log_line(record, producer_version="1")
    assert b'"run_id":"run_\\u003ca\\u0026b\\u003e"' in line
    assert b'"tool_name":"t\\u2028"' in line
    assert json.loads(line)["run_id"] == "run_<a&b>"


def test_invalid_created_at_is_rejected() -> None:
    """A created_at that is not RFC 3339 cannot be exported (the exporter counts it)."""
    record = DecisionAttributes(
        run_id="r",
        verdict="allow",
        policy_digest="p",
        intent_digest="i",
        tool_name="t",
        trace_id="abc",
        created_at="yesterday",
    )
    with pytest.raises(ArtifactInputError):
        decision_otel_line(record)
