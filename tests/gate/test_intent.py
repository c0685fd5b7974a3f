"""IntentRequest normalisation and digests (spec/gate.md §1-2) against the Go vectors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.artifacts.jcs import sha256_hex
from gait_runtime.errors import IntentError
from gait_runtime.gate import normalize_intent, parse_intent_json
from gait_runtime.gate.intent import strip_context_claims

GATE = Path(__file__).resolve().parent.parent / "vectors" / "gate"
EXAMPLE_PREIMAGE = (
    '{"arg_provenance":[{"arg_path":"$.path","source":"user"}],"args":{"mode":"overwrite",'
    '"path":"/srv/app/config.yaml","retries":3},"context":{"identity":"deploy-bot","phase":"apply",'
    '"risk_class":"high","session_id":"sess-42","workspace":"/work/app"},"targets":[{"discovery_method":'
    '"unknown","endpoint_class":"fs.write","kind":"path","operation":"write","value":"/srv/app/config.yaml"}],'
    '"tool_name":"fs.write_file"}'
)


def load(name: str, *, strip: bool = True) -> Any:
    raw = parse_intent_json((GATE / name).read_bytes(), source=name)
    return normalize_intent(raw, strip_context_claims=strip)


def example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GATE / "intent_example.json").read_text())
    return doc


def test_spec_example_preimage_and_digests() -> None:
    """The §2.8 canonical preimage and both digests, byte for byte."""
    intent = load("intent_example.json")
    assert rfc8785.dumps(intent.preimage).decode() == EXAMPLE_PREIMAGE
    assert intent.intent_digest == sha256_hex(EXAMPLE_PREIMAGE.encode())
    assert (
        intent.intent_digest == "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1"
    )
    assert intent.args_digest == "81346eaea5df65cb98e0825bcc68b92ff4eb7ba810275327f48dae2a811003a2"


def test_equivalent_intent_shares_both_digests_but_keeps_its_created_at() -> None:
    """§2.8 equivalent intent: same digests; created_at converted to UTC."""
    a, b = load("intent_example.json"), load("intent_example_equivalent.json")
    assert (a.intent_digest, a.args_digest) == (b.intent_digest, b.args_digest)
    assert b.created_at == "2026-03-02T15:00:00Z"


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("intent_delete.json", "a020142131140191acf15a5e940cf9c4dac82dbbb290f46fb4658d436cfb812d"),
        ("intent_delete_plan.json", "cee6812e5062a40bdece5184e4df43167ac08f1a2a337f554ad2dab0afc66574"),
        ("intent_search.json", "f2a3bf0e5378d436bcf3fb881144324e4f284b2cd48054e2f3c8aff756e9e22a"),
        ("intent_write_etc.json", "121606a98350b65c0570e96127b40eeb7838867277c019641c4f733012c1c25d"),
        ("intent_no_targets.json", "6d1be7aa1e09bc8823dae25d7fe35163dcf4da07895992188369d68d11d51281"),
        ("intent_read_config.json", "688fb106dc30e7cb622ccea8b67703b91d001562cf073ae1f1ee341ae2dd08af"),
        ("intent_read_env.json", "95cd79a4a2f4b73b66131001b36013316f8d9bb64bfb037bde9992ac853f3333"),
    ],
)  # fmt: skip
def test_vector_intent_digests(name: str, digest: str) -> None:
    """Every intent_digest reported by Go's gate eval."""
    assert load(name).intent_digest == digest


def test_context_claims_are_stripped_only_for_gate_eval() -> None:
    """§2.6: policy test digests the unstripped intent, gate eval the stripped one."""
    unstripped = load("intent_context_claims.json", strip=False)
    stripped = load("intent_context_claims.json", strip=True)
    assert unstripped.intent_digest.startswith("9ec2d6c5")
    assert stripped.intent_digest.startswith("688fb106")
    assert strip_context_claims(unstripped).intent_digest == stripped.intent_digest
    assert "auth_context" not in stripped.context


def test_target_inference_and_url_domain() -> None:
    """url target: net.http class, domain from the URL; delete op: fs.delete + destructive."""
    (search,) = load("intent_search.json").targets
    assert (search.endpoint_class, search.endpoint_domain) == ("net.http", "search.example.com")
    (delete,) = load("intent_delete.json").targets
    assert (delete.endpoint_class, delete.destructive) == ("fs.delete", True)


@pytest.mark.parametrize(
    ("target", "tool", "klass", "domain"),
    [
        ({"kind": "host", "value": "HTTPS://Api.Example.com:443/x"}, "t", "net.http", "https"),
        ({"kind": "host", "value": "https://Api.Example.com:443/x"}, "t", "net.http", "api.example.com"),
        ({"kind": "host", "value": "db.internal", "operation": "resolve"}, "t", "net.dns", "db.internal"),
        ({"kind": "other", "value": "ls"}, "shell.exec", "proc.exec", ""),
        ({"kind": "path", "value": "/x"}, "files/form_submit", "fs.delete", ""),
        ({"kind": "repo", "value": "r", "operation": "delete"}, "t", "other", ""),
    ],
)  # fmt: skip
def test_endpoint_inference_table(
    target: dict[str, Any], tool: str, klass: str, domain: str
) -> None:
    """First-match inference rules of §2.3, including the ``rm`` hint inside ``form``."""
    raw = {**example(), "tool_name": tool, "targets": [target]}
    (t,) = normalize_intent(raw, strip_context_claims=True).targets
    assert (t.endpoint_class, t.endpoint_domain) == (klass, domain)


def test_destructive_hint_forces_destructive_and_discovery_method_is_normalised() -> None:
    """destructive_hint => destructive; ``Dynamic-MCP`` => dynamic_mcp."""
    raw = {
        **example(),
        "targets": [
            {
                "kind": "path",
                "value": "/a",
                "destructive_hint": True,
                "discovery_method": "Dynamic-MCP",
            }
        ],
    }
    (t,) = normalize_intent(raw, strip_context_claims=True).targets
    assert t.destructive and t.discovery_method == "dynamic_mcp"


def test_agent_identity_and_delegation_emit_zero_times() -> None:
    """Go's omitempty does not drop struct times: unset ones become 0001-01-01T00:00:00Z."""
    raw = example()
    raw["context"]["agent_identity"] = {"owner": " team ", "issued_at": "2026-01-01T00:00:00+01:00"}
    raw["delegation"] = {"requester_identity": "deploy-bot"}
    intent = normalize_intent(raw, strip_context_claims=True)
    assert intent.context["agent_identity"] == {
        "owner": "team",
        "issued_at": "2025-12-31T23:00:00Z",
        "approved_at": "0001-01-01T00:00:00Z",
        "expires_at": "0001-01-01T00:00:00Z",
    }
    assert intent.preimage["delegation"]["expires_at"] == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(tool_name="  "), "tool_name is required"),
        (lambda d: d.update(schema_id="other"), "schema_id must be"),
        (lambda d: d["context"].pop("identity"), "context.identity is required"),
        (lambda d: d["context"].update(workspace=" "), "context.workspace is required"),
        (lambda d: d["context"].update(phase="deploy"), "context.phase"),
        (lambda d: d.update(args=[1]), "args must be an object"),
        (lambda d: d["args"].update({" ": 1}), "args contains empty key"),
        (lambda d: d["args"].update(password="hunter2hunter2x9"), "args.password must not contain raw credential"),
        (lambda d: d["args"].update(token="ghp_abc"), "args.token must not contain raw credential"),
        (lambda d: d.update(targets=[{"kind": "path"}]), "targets[0].value is required"),
        (lambda d: d.update(targets=[{"kind": "path", "value": "x", "endpoint_class": "fs.copy"}]), "endpoint_class"),
        (lambda d: d.update(arg_provenance=[{"arg_path": "$", "source": "web"}]), "arg_provenance[0].source"),
        (lambda d: d["context"].update(context_set_digest="xyz"), "context_set_digest must be 64"),
        (lambda d: d["context"].update(credential_ttl_seconds=-1), "credential_ttl_seconds must be >= 0"),
        (lambda d: d["context"].update(credential_source="magic"), "credential_source"),
        (lambda d: d.update(script={"steps": []}), "script intents are not supported"),
        (lambda d: d.update(delegation={"requester_identity": "x", "chain": [{"delegator_identity": "a", "delegate_identity": "b"}]}), "must end at requester_identity"),
        (lambda d: d["context"].update(sandbox={"writable_paths": ["HOME=/root"]}), "NAME=value"),
    ],
)  # fmt: skip
def test_invalid_intents_raise_intent_error_naming_the_field(mutate: Any, message: str) -> None:
    """Each bad field gives an IntentError (exit 6) whose message names it."""
    raw = example()
    mutate(raw)
    with pytest.raises(IntentError) as info:
        normalize_intent(raw, strip_context_claims=True)
    assert message in str(info.value)


def test_safe_credential_values_pass() -> None:
    """References, digests, short values and keys with safe suffixes are not secrets."""
    raw = example()
    raw["args"].update(
        api_key="env:API_KEY",
        token_ref="abc123abc123abc123",
        password="short1",
        access_key=64 * "a",
        secret="has space 1234567890",
    )
    normalize_intent(raw, strip_context_claims=True)


@pytest.mark.parametrize(
    "data",
    [b"[]", b"{", b'{"args": {"n": 1e400}}', b'{"args": {"n": NaN}}', b'{"args": {"n": -1e999}}'],
)
def test_parse_rejects_non_objects_and_out_of_range_numbers(data: bytes) -> None:
    """Malformed JSON and non-finite numbers are input errors (exit 6)."""
    with pytest.raises(IntentError):
        parse_intent_json(data, source="x.json")


def test_bad_utf8_and_lone_surrogates_become_replacement_characters() -> None:
    """Go replaces invalid UTF-8 and lone surrogate escapes with U+FFFD."""
    raw = parse_intent_json(b'{"tool_name": "t\xff", "args": {"k\\ud800": "v\\udc00"}}', source="x")
    assert raw["tool_name"] == "t\ufffd"
    assert raw["args"] == {"k\ufffd": "v\ufffd"}


def test_huge_integers_round_like_go_doubles() -> None:
    """Integers beyond 2**53 become doubles (9007199254740993 -> 9007199254740992)."""
    raw = example()
    raw["args"] = {"big": 9007199254740993}
    other = example()
    other["args"] = {"big": 9007199254740992.0}
    a = normalize_intent(raw, strip_context_claims=True)
    b = normalize_intent(other, strip_context_claims=True)
    assert a.args_digest == b.args_digest


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_args = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.text(min_size=1, max_size=6).filter(lambda k: k.strip() != ""), inner, max_size=3
        ),
    ),
    max_leaves=12,
)


def _as_floats(value: Any) -> Any:
    """What Go sees: every number a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    return {k: _as_floats(v) for k, v in value.items()}


@settings(max_examples=150, deadline=None)
@given(
    args=st.dictionaries(
        st.text(min_size=1, max_size=6).filter(
            lambda k: k.strip() != "" and "token" not in k.lower()
        ),
        json_args,
        max_size=4,
    )
)
def test_digest_fast_path_equals_rfc8785_over_doubles(args: dict[str, Any]) -> None:
    """Integral doubles stored as int: digests equal rfc8785 over all-float values (Go's view)."""
    raw = {**example(), "args": args}
    try:
        intent = normalize_intent(raw, strip_context_claims=True)
    except IntentError:
        return  # e.g. a key that trims to empty or a value that looks like a secret
    go_view = _as_floats(intent.args)
    assert intent.args_digest == sha256_hex(rfc8785.dumps(go_view))
    assert intent.intent_digest == sha256_hex(rfc8785.dumps({**intent.preimage, "args": go_view}))


@settings(max_examples=100, deadline=None)
@given(
    order=st.permutations(["tool_name", "args", "targets", "context", "arg_provenance"]),
    dup=st.integers(min_value=1, max_value=3),
    as_float=st.booleans(),
    pad=st.sampled_from(["", " ", "\t", "\u3000"]),
)
def test_equivalent_intents_share_one_digest(
    order: list[str], dup: int, as_float: bool, pad: str
) -> None:
    """Key order, 3 vs 3.0, duplicate targets and surrounding space never change intent_digest."""
    base = example()
    raw: dict[str, Any] = {k: base[k] for k in order}
    raw["args"] = {
        "retries": 3.0 if as_float else 3,
        "mode": pad + "overwrite",
        "path": "/srv/app/config.yaml" + pad,
    }
    raw["targets"] = base["targets"] * dup
    raw["tool_name"] = pad + "FS.Write_File"
    intent = normalize_intent(json.loads(json.dumps(raw)), strip_context_claims=True)
    assert (
        intent.intent_digest == "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1"
    )


def test_nan_in_a_decoded_dict_is_rejected() -> None:
    """A caller passing float('nan') directly still gets an IntentError, not a digest."""
    raw = example()
    raw["args"] = {"x": math.nan}
    with pytest.raises(IntentError):
        normalize_intent(raw, strip_context_claims=True)


def test_deeply_nested_json_is_an_intent_error() -> None:
    """Pathological nesting is invalid input, not a crash."""
    with pytest.raises(IntentError, match="nested too deeply"):
        parse_intent_json(b'{"args":' + b"[" * 100_000 + b"]" * 100_000 + b"}", source="deep.json")


def test_deeply_nested_args_in_a_decoded_dict_are_an_intent_error() -> None:
    """A caller-built dict nested past the recursion limit is refused, not a crash."""
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    raw = example()
    raw["context"]["auth_context"] = {"x": deep}
    with pytest.raises(IntentError, match="nested too deeply"):
        normalize_intent(raw, strip_context_claims=True)
