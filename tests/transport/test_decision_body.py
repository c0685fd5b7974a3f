"""The typed response body of a decision: Go field order, omitted empties, a JSON-like view.

The reference below is the field-by-field builder the decision path used before
:class:`DecisionBody` (spec/service.md §3.2); Hypothesis checks that both give
the same bytes for any values, and that the body's mapping view (``get``,
``[]``, ``in``) answers exactly what the encoded JSON object holds.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.artifacts.gojson import go_json
from gait_runtime.supervisor.service.reply import DecisionBody, verdict_status

text = st.text(max_size=6)
texts = st.lists(st.text(min_size=1, max_size=5), max_size=3)
VERDICTS = ("allow", "block", "dry_run", "require_approval")


def _reference(v: dict[str, Any]) -> dict[str, Any]:
    """The pre-Struct builder: Go order, optional fields only when non-empty."""
    body: dict[str, Any] = {"ok": True, "executed": False, "adapter": v["adapter"]}
    body["run_id"] = v["run_id"]
    for key in ("job_id", "phase", "session_id"):
        if v[key]:
            body[key] = v[key]
    body["tool_name"] = v["tool_name"]
    body["verdict"] = v["verdict"]
    for key in ("reason_codes", "violations"):
        if v[key]:
            body[key] = v[key]
    for key in ("policy_digest", "policy_id", "policy_version", "intent_digest"):
        body[key] = v[key]
    if v["decision_latency_ms"]:
        body["decision_latency_ms"] = v["decision_latency_ms"]
    body["trace_id"] = v["trace_id"]
    body["trace_path"] = v["trace_path"]
    for key in ("runpack_path", "log_export", "otel_export", "approval_ref", "warnings"):
        if v[key]:
            body[key] = v[key]
    if v["relationship"]:
        body["relationship"] = v["relationship"]
    body["exit_code"] = v["exit_code"]
    return body


values = st.fixed_dictionaries(
    {
        "adapter": text,
        "run_id": text,
        "job_id": text,
        "phase": text,
        "session_id": text,
        "tool_name": text,
        "verdict": st.sampled_from(VERDICTS),
        "reason_codes": texts,
        "violations": texts,
        "policy_digest": text,
        "policy_id": text,
        "policy_version": text,
        "intent_digest": text,
        "decision_latency_ms": st.integers(min_value=0, max_value=10**6),
        "trace_id": text,
        "trace_path": text,
        "runpack_path": text,
        "log_export": text,
        "otel_export": text,
        "approval_ref": text,
        "warnings": texts,
        "relationship": st.one_of(
            st.none(), st.dictionaries(st.text(min_size=1, max_size=4), text, max_size=2)
        ),
        "exit_code": st.sampled_from((0, 3, 4)),
    }
)


def _body(v: dict[str, Any]) -> DecisionBody:
    # As the decision path does: an empty relationship is passed as None (omitted).
    return DecisionBody(ok=True, executed=False, **{**v, "relationship": v["relationship"] or None})


@settings(max_examples=300, deadline=None)
@given(v=values)
def test_the_struct_encodes_the_bytes_of_the_field_by_field_builder(v: dict[str, Any]) -> None:
    """Same bytes as the Go-order dict, including Go's HTML escaping, for any values."""
    assert go_json(_body(v)) == go_json(_reference(v))


@settings(max_examples=300, deadline=None)
@given(v=values)
def test_the_mapping_view_answers_what_the_json_object_holds(v: dict[str, Any]) -> None:
    """``get``, ``[]`` and ``in`` see exactly the encoded keys and values."""
    body = _body(v)
    decoded = json.loads(go_json(body))
    for key in [*decoded, "error", "nope", "pack_path"]:
        assert (key in body) == (key in decoded), key
        assert body.get(key, "absent") == decoded.get(key, "absent"), key
    for key in decoded:
        assert body[key] == decoded[key]


def test_required_fields_are_always_written_in_go_order() -> None:
    """An all-empty decision still writes ok, executed, the ids, digests and exit_code."""
    body = DecisionBody(
        ok=True,
        executed=False,
        adapter="mcp",
        run_id="run_x",
        tool_name="t",
        verdict="allow",
        policy_digest="p",
        policy_id="gait.gate.policy",
        policy_version="1.0.0",
        intent_digest="i",
        trace_id="x",
        trace_path="t.json",
        exit_code=0,
    )
    assert list(json.loads(go_json(body))) == [
        "ok",
        "executed",
        "adapter",
        "run_id",
        "tool_name",
        "verdict",
        "policy_digest",
        "policy_id",
        "policy_version",
        "intent_digest",
        "trace_id",
        "trace_path",
        "exit_code",
    ]


def test_verdict_status_maps_compat_and_strict() -> None:
    """Compat answers 200 for every verdict; strict maps block 403, approval/dry_run 409."""
    assert {v: verdict_status(v, strict=False) for v in VERDICTS} == dict.fromkeys(VERDICTS, 200)
    assert {v: verdict_status(v, strict=True) for v in VERDICTS} == {
        "allow": 200,
        "block": 403,
        "dry_run": 409,
        "require_approval": 409,
    }
