"""Signed traces (spec/gate.md §6, signing.md §4-8) and the fast canonical bytes behind them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.artifacts.keys import KeySource, load_private, load_public
from gait_runtime.artifacts.signing import SigningKey, verify
from gait_runtime.artifacts.timefmt import parse_rfc3339
from gait_runtime.errors import ArtifactInputError
from gait_runtime.gate import (
    NormalizedIntent,
    build_trace,
    compile_policy,
    evaluate,
    load_policy,
    normalize_intent,
    parse_intent_json,
    verify_trace,
)
from gait_runtime.gate._canon import canonical_record, es_number_text
from gait_runtime.gate.pipeline import decide
from gait_runtime.gate.trace import event_id_for, trace_id_for, write_new_trace

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
GATE = VECTORS / "gate"
GO_PUBLIC = load_public(KeySource(path=str(VECTORS / "keys" / "gait_public.key")))
OTHER_PUBLIC = load_public(KeySource(path=str(VECTORS / "keys" / "other_public.key")))
GO_PRIVATE = load_private(KeySource(path=str(VECTORS / "keys" / "gait_private.key")))
RFC8032 = SigningKey(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)


def example_intent() -> Any:
    raw = parse_intent_json((GATE / "intent_example.json").read_bytes(), source="x")
    return normalize_intent(raw, strip_context_claims=True)


@pytest.mark.parametrize("name", sorted(p.name for p in (GATE / "traces").glob("*.json")))
def test_go_traces_verify_here_and_fail_with_the_other_key(name: str) -> None:
    """Every Go gate-eval trace verifies with gait_public.key, and not with other_public.key."""
    trace = json.loads((GATE / "traces" / name).read_text())
    assert verify_trace(trace, GO_PUBLIC).ok
    wrong = verify_trace(trace, OTHER_PUBLIC)
    assert (wrong.ok, wrong.error) == (False, "key id mismatch")


def test_tampered_trace_fails_with_digest_mismatch() -> None:
    """The sed-edited verdict breaks signed_digest."""
    trace = json.loads((GATE / "tampered" / "trace_verdict_edited.json").read_text())
    result = verify_trace(trace, GO_PUBLIC)
    assert (result.ok, result.error, result.verdict) == (False, "signed_digest mismatch", "block")


def test_unsigned_trace_fails() -> None:
    """A trace without signature never verifies."""
    trace = json.loads((GATE / "traces" / "trace_dry_run.json").read_text())
    trace.pop("signature")
    assert verify_trace(trace, GO_PUBLIC).error == "missing signature"


def test_signing_md_worked_example_trace_reproduces_byte_for_byte() -> None:
    """signing.md §8: same ids and the published signature (relationship/correlation omitted there)."""
    policy = load_policy(GATE / "policy_example.yaml")
    intent = example_intent()

    class Final:
        verdict = "allow"
        violations: tuple[str, ...] = ()

    trace = build_trace(
        policy,
        intent,
        Final(),
        observed_at_ns=parse_rfc3339("2026-03-01T09:31:05.1234Z").unix_ns,
        signing_key=RFC8032,
        producer_version="0.0.0-dev",
        latency_ms=0.42,
        approval_token_ref="617b128121531fc0ff7563ab",
    )
    assert (trace["trace_id"], trace["event_id"]) == (
        "0b1a554c3e5c4c3a60a8490b",
        "e4f9958ef0d660c86ec3681e",
    )
    trace.pop("relationship")
    body = {k: v for k, v in trace.items() if k != "signature"}
    from gait_runtime.artifacts.signing import sign

    envelope = sign(body, RFC8032)
    assert (
        envelope["signed_digest"]
        == "707482d90ac7ca61c6f8d6e4f5a5caee3a1370ff6d20c5ccf650ec91735339fc"
    )
    assert (
        envelope["sig"]
        == "9yJBuZ/Bg8zC5+TnmLzhy/NZPAmqsjI9IiX8uxU1xDp1HF7GSQ0g00qLOZc258lRQhq4l89tPIFmp7EM5IVhCg=="
    )


def test_fast_signature_equals_the_generic_signature() -> None:
    """build_trace signs the same bytes as signing.sign over rfc8785 (latency float included)."""
    policy = load_policy(GATE / "policy_example.yaml")
    intent = example_intent()
    trace = build_trace(
        policy,
        intent,
        evaluate(policy, intent),
        observed_at_ns=1,
        signing_key=GO_PRIVATE,
        latency_ms=0.20560399999999998,
        correlation_id="c",
    )
    body = {k: v for k, v in trace.items() if k != "signature"}
    assert verify(body, trace["signature"], GO_PUBLIC)
    assert trace["latency_ms"] == 0.20560399999999998 and trace["relationship"]["parent_ref"] == {
        "kind": "session",
        "id": "sess-42",
    }


def test_trace_and_event_ids() -> None:
    """trace_id depends only on digests and verdict; event_id on trace_id and observed_at."""
    tid = trace_id_for(
        "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d",
        "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1",
        "allow",
    )
    assert tid == "0b1a554c3e5c4c3a60a8490b"
    assert event_id_for(tid, "2026-03-01T09:31:05.1234Z") == "e4f9958ef0d660c86ec3681e"


def test_each_emission_gets_a_new_event_id_and_a_new_file(tmp_path: Path) -> None:
    """Same decision at two instants: same trace_id, distinct event_id and file; no overwrite."""
    policy = load_policy(GATE / "policy_example.yaml")
    intent = example_intent()
    first = decide(policy, intent, signing_key=GO_PRIVATE, now_ns=10)
    second = decide(policy, intent, signing_key=GO_PRIVATE, now_ns=11)
    assert first.trace["trace_id"] == second.trace["trace_id"]
    assert first.trace["event_id"] != second.trace["event_id"]
    a, b = write_new_trace(tmp_path, first.trace), write_new_trace(tmp_path, second.trace)
    assert a != b and json.loads(a.read_text()) == first.trace
    with pytest.raises(ArtifactInputError):
        write_new_trace(tmp_path, first.trace)


def test_context_fields_are_copied_into_the_trace() -> None:
    """agent_id, credential_* and context_ref_count come from the normalised context."""
    raw = json.loads((GATE / "intent_example.json").read_text())
    raw["context"].update(
        agent_id=" a1 ",
        credential_ttl_seconds=60,
        context_refs=["r2", "r1"],
        context_set_digest="A" * 64,
    )
    policy = compile_policy("default_verdict: allow")
    intent = normalize_intent(raw, strip_context_claims=False)
    trace = build_trace(
        policy, intent, evaluate(policy, intent), observed_at_ns=0, signing_key=GO_PRIVATE
    )
    assert (trace["agent_id"], trace["credential_ttl_seconds"], trace["context_ref_count"]) == (
        "a1",
        60,
        2,
    )
    assert trace["context_set_digest"] == "a" * 64 and "latency_ms" not in trace
    assert verify_trace(trace, GO_PUBLIC).ok


@settings(max_examples=2000, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False))
def test_es_number_text_equals_rfc8785(x: float) -> None:
    """ECMAScript number text is byte-identical to rfc8785 for every finite double."""
    assert es_number_text(x) == rfc8785.dumps(x).decode()


@settings(max_examples=2000, deadline=None)
@given(
    x=st.one_of(
        st.floats(min_value=1e-4, max_value=1e16),
        st.floats(min_value=-1e16, max_value=-1e-4),
        st.integers(min_value=-(2**53), max_value=2**53).map(float),
    )
)
def test_es_number_text_fixed_notation_fast_path_equals_rfc8785(x: float) -> None:
    """The repr-based fast path (1e-4 <= |x| < 1e16, integral values too) equals rfc8785."""
    assert es_number_text(x) == rfc8785.dumps(x).decode()


@pytest.mark.parametrize(
    "x",
    [1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e15, 123.0, -0.0001, 0.1 + 0.2],
)
def test_es_number_text_at_the_fast_path_edges(x: float) -> None:
    """Both sides of each edge of the fast path print like rfc8785."""
    assert es_number_text(x) == rfc8785.dumps(x).decode()


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**60), max_value=2**60),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=400, deadline=None)
@given(
    record=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    latency=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
def test_canonical_record_equals_rfc8785(record: dict[str, Any], latency: float | None) -> None:
    """The checked fast path falls back exactly when it must: output always equals rfc8785."""
    record = {k: v for k, v in record.items() if k != "latency_ms"}
    if latency is not None:
        record["latency_ms"] = latency
    try:
        expected = rfc8785.dumps(record)
    except Exception:
        with pytest.raises(ArtifactInputError):
            canonical_record(record, "latency_ms")
        return
    assert canonical_record(record, "latency_ms") == expected


@settings(max_examples=100, deadline=None)
@given(
    identity=st.text(min_size=1, max_size=10).filter(lambda s: s.strip() != ""),
    session=st.text(max_size=10),
    latency=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_unchecked_trace_signing_equals_rfc8785_for_any_strings(
    identity: str, session: str, latency: float
) -> None:
    """Traces built from normalised intents (any unicode identity) sign the rfc8785 bytes."""
    raw = json.loads((GATE / "intent_example.json").read_text())
    raw["context"].update(identity=identity, session_id=session)
    policy = compile_policy("default_verdict: allow")
    intent = normalize_intent(raw, strip_context_claims=True)
    trace = build_trace(
        policy,
        intent,
        evaluate(policy, intent),
        observed_at_ns=5,
        signing_key=GO_PRIVATE,
        latency_ms=latency,
    )
    assert verify(
        ({k: v for k, v in trace.items() if k != "signature"}), trace["signature"], GO_PUBLIC
    )


SERVICE = VECTORS / "service"


@pytest.mark.parametrize(
    "path", sorted((SERVICE / "traces").rglob("*.json")), ids=lambda p: p.parent.name + "/" + p.name
)
def test_go_service_traces_verify_and_rebuild(path: Path) -> None:
    """Service traces (no correlation_id, no latency_ms) verify here, and build_trace rebuilds
    their body from the same decision: the supervisor can emit Go-identical traces."""
    trace = json.loads(path.read_text())
    assert verify_trace(trace, GO_PUBLIC).ok
    assert "correlation_id" not in trace and "latency_ms" not in trace
    policy = load_policy(SERVICE / "policy.yaml")
    assert trace["policy_digest"] == policy.digest

    class Final:
        verdict = trace["verdict"]
        violations = tuple(trace.get("violations", ()))

    relationship = trace["relationship"]
    context: dict[str, Any] = {"identity": relationship["agent_chain"][0]["identity"]}
    if "parent_ref" in relationship:
        context["session_id"] = relationship["parent_ref"]["id"]
    # The service request bodies are not part of this test; the trace needs only these fields.
    intent = NormalizedIntent(
        tool_name=trace["tool_name"],
        args={},
        args_digest=trace["args_digest"],
        intent_digest=trace["intent_digest"],
        targets=(),
        provenance_sources=frozenset(),
        context=context,
        preimage={},
        created_at=trace["created_at"],
        producer_version="",
    )
    ours = build_trace(
        policy,
        intent,
        Final(),
        observed_at_ns=parse_rfc3339(trace["observed_at"]).unix_ns,
        signing_key=GO_PRIVATE,
        producer_version=trace["producer_version"],
    )
    assert ours == trace
