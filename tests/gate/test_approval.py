"""Approval tokens (spec/gate.md §7, signing.md §8-9): Go tokens validate here, ours verify there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.artifacts.jcs import short_id
from gait_runtime.artifacts.keys import KeySource, load_private, load_public
from gait_runtime.artifacts.signing import SigningKey, verify
from gait_runtime.artifacts.timefmt import parse_go_duration, parse_rfc3339
from gait_runtime.errors import InvalidInputError
from gait_runtime.gate import mint_token, validate_token
from gait_runtime.gate.approval import (
    TokenCheck,
    apply_approvals,
    required_scope,
    scope_list,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
TOKENS = VECTORS / "gate" / "tokens"
GO_PUBLIC = load_public(KeySource(path=str(VECTORS / "keys" / "gait_public.key")))
GO_PRIVATE = load_private(KeySource(path=str(VECTORS / "keys" / "gait_private.key")))
NOW = parse_rfc3339("2026-11-21T12:00:00Z").unix_ns
EXAMPLE_INTENT = "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1"
EXAMPLE_POLICY = "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d"


def token(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((TOKENS / name).read_text())
    return doc


def check(tok: dict[str, Any], **kw: Any) -> TokenCheck:
    args: dict[str, Any] = {
        "key": GO_PUBLIC,
        "intent_digest": EXAMPLE_INTENT,
        "policy_digest": EXAMPLE_POLICY,
        "scope": ["tool:fs.write_file"],
        "target_count": 1,
        "now_ns": NOW,
    }
    args.update(kw)
    return validate_token(tok, **args)


@pytest.mark.parametrize("name", sorted(p.name for p in TOKENS.glob("*.json")))
def test_go_tokens_have_recomputable_ids_and_valid_signatures(name: str) -> None:
    """token_id preimage and signature of every Go-minted token (signing.md §9)."""
    tok = token(name)
    body = {k: v for k, v in tok.items() if k != "signature"}
    preimage = ":".join(
        [
            tok["intent_digest"],
            tok["policy_digest"],
            tok["approver_identity"],
            tok["reason_code"],
            ",".join(tok["scope"]),
            str(tok.get("max_targets", 0)),
            str(tok.get("max_ops", 0)),
            tok["expires_at"],
        ]
    )
    assert short_id(preimage) == tok["token_id"]
    key = load_public(
        KeySource(
            path=str(
                VECTORS / "keys" / ("other_public.key" if "other" in name else "gait_public.key")
            )
        )
    )
    assert verify(body, tok["signature"], key)


def test_go_example_token_is_valid_before_expiry_and_expired_at_it() -> None:
    """Valid strictly before expires_at; expired at and after (injected clock)."""
    tok = token("token_example.json")
    assert check(tok).valid
    expires = parse_rfc3339(tok["expires_at"]).unix_ns
    assert check(tok, now_ns=expires - 1).valid
    assert check(tok, now_ns=expires).error_code == "approval_token_expired"


@pytest.mark.parametrize(
    ("mutation", "kwargs", "code"),
    [
        ({}, {"key": None}, "approval_token_signature_invalid"),
        ({"signature": None}, {}, "approval_token_signature_missing"),
        ({"reason_code": "changed"}, {}, "approval_token_signature_invalid"),
        ({}, {"intent_digest": "0" * 64}, "approval_token_intent_mismatch"),
        ({}, {"policy_digest": "0" * 64}, "approval_token_policy_mismatch"),
        ({}, {"scope": ["tool:fs.write_file", "phase:apply"]}, "approval_token_scope_mismatch"),
        ({"approver_identity": " "}, {}, "approval_token_invalid"),
        ({"intent_digest": "abc"}, {}, "approval_token_invalid"),
        ({"scope": []}, {}, "approval_token_invalid"),
        ({"expires_at": "tomorrow"}, {}, "approval_token_invalid"),
        ({"schema_id": "gait.other"}, {}, "approval_token_invalid"),
        ({"created_at": "0001-01-01T00:00:00Z"}, {}, "approval_token_invalid"),
    ],
)
def test_validation_order_and_reason_codes(
    mutation: dict[str, Any], kwargs: dict[str, Any], code: str
) -> None:
    """§7.3: first failing check wins, with its specific reason code."""
    tok = token("token_example.json")
    for key, value in mutation.items():
        if value is None:
            tok.pop(key)
        else:
            tok[key] = value
    assert check(tok, **kwargs).error_code == code


def test_unknown_keys_are_dropped_before_verification_like_go() -> None:
    """An extra key added after signing is ignored; a body signed *with* an extra key fails."""
    tok = token("token_example.json")
    tok["extra"] = "x"
    assert check(tok).valid
    from gait_runtime.artifacts.signing import sign

    body = {k: v for k, v in tok.items() if k != "signature"}
    forged = {**body, "signature": sign(body, GO_PRIVATE)}
    assert check(forged).error_code == "approval_token_signature_invalid"


def test_a_token_signed_by_another_key_is_signature_invalid() -> None:
    """Go's other-key token against the gait public key."""
    assert (
        check(token("token_example_other_key.json")).error_code
        == "approval_token_signature_invalid"
    )


def test_max_targets_and_max_ops_limits() -> None:
    """max_targets counts normalised targets; max_ops counts targets or 1."""
    kwargs: dict[str, Any] = {
        "intent_digest": "a" * 64,
        "policy_digest": "b" * 64,
        "scope": ["tool:t"],
        "now_ns": NOW,
    }
    tok = mint_token(
        approver="a",
        reason_code="r",
        scope=["tool:t"],
        ttl_ns=10**12,
        now_ns=NOW,
        key=GO_PRIVATE,
        producer_version="t",
        max_targets=1,
        max_ops=2,
        intent_digest="a" * 64,
        policy_digest="b" * 64,
    )
    assert validate_token(tok, key=GO_PUBLIC, target_count=1, **kwargs).valid
    assert (
        validate_token(tok, key=GO_PUBLIC, target_count=2, **kwargs).error_code
        == "approval_token_max_targets_exceeded"
    )
    ops_only = mint_token(
        approver="a",
        reason_code="r",
        scope=["*"],
        ttl_ns=10**12,
        now_ns=NOW,
        key=GO_PRIVATE,
        producer_version="t",
        max_ops=1,
        intent_digest="a" * 64,
        policy_digest="b" * 64,
    )
    assert validate_token(ops_only, key=GO_PUBLIC, target_count=0, **kwargs).valid
    assert (
        validate_token(ops_only, key=GO_PUBLIC, target_count=2, **kwargs).error_code
        == "approval_token_max_ops_exceeded"
    )


def test_signing_md_worked_example_token_reproduces_byte_for_byte() -> None:
    """signing.md §8: RFC 8032 test key, 2026-03-01T09:31:00Z, TTL 1h => the published sig."""
    key = SigningKey(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    tok = mint_token(
        intent_digest=EXAMPLE_INTENT,
        policy_digest=EXAMPLE_POLICY,
        approver="alice@example.com",
        reason_code="change_ticket_chg_1234",
        scope=["tool:fs.write_file"],
        ttl_ns=parse_go_duration("1h"),
        now_ns=parse_rfc3339("2026-03-01T09:31:00Z").unix_ns,
        key=key,
        producer_version="0.0.0-dev",
    )
    assert tok["token_id"] == "617b128121531fc0ff7563ab"
    assert (
        tok["signature"]["signed_digest"]
        == "44ea0e7d9a1f9684494466a0fcc1879fcffbda6130ac06425a09ad36f33854be"
    )
    assert (
        tok["signature"]["sig"]
        == "MVYkuhPVtnNnN3QXa2xOvvXUJiTpnWAzJTGros52HXCwCW+spKFv31ofJDhNaw8zgJePXcwCte0ACCI61B7rAA=="
    )


def test_tokens_we_mint_validate_with_the_vector_public_key() -> None:
    """Minted with gait_private.key, checked with gait_public.key."""
    tok = mint_token(
        intent_digest=EXAMPLE_INTENT.upper(),
        policy_digest=EXAMPLE_POLICY,
        approver=" bob ",
        reason_code="r",
        scope=["TOOL:fs.write_file", ""],
        ttl_ns=60 * 10**9,
        now_ns=NOW,
        key=GO_PRIVATE,
        producer_version="0.0.0-dev",
    )
    assert tok["approver_identity"] == "bob" and tok["scope"] == ["tool:fs.write_file"]
    assert check(tok).valid


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intent_digest": "x"}, "--intent-digest"),
        ({"policy_digest": "x"}, "--policy-digest"),
        ({"ttl_ns": 0}, "invalid --ttl"),
        ({"scope": [" "]}, "--scope is required"),
        ({"approver": ""}, "--approver is required"),
        ({"reason_code": ""}, "--reason-code is required"),
        ({"max_ops": -1}, "must be >= 0"),
    ],
)
def test_minting_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    """Bad approve input is exit 6 with a message naming the flag."""
    args: dict[str, Any] = {
        "intent_digest": EXAMPLE_INTENT,
        "policy_digest": EXAMPLE_POLICY,
        "approver": "a",
        "reason_code": "r",
        "scope": ["tool:x"],
        "ttl_ns": 10**9,
        "now_ns": NOW,
        "key": GO_PRIVATE,
        "producer_version": "t",
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        mint_token(**args)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("90s", 90 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("1.5h", 5400 * 10**9),
        ("300ms", 3 * 10**8),
        ("2us", 2000),
        ("1µs", 1000),
        ("87600h", 87600 * 3600 * 10**9),
        ("0", 0),
        ("-1s", -(10**9)),
    ],
)
def test_go_duration_parsing(text: str, ns: int) -> None:
    """--ttl uses Go time.ParseDuration syntax."""
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "1", "1d", "h", "1h-5m", "abc"])
def test_go_duration_rejects_garbage(text: str) -> None:
    """Anything Go would reject is a ValueError (exit 6 at the CLI)."""
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_required_scope_and_scope_list() -> None:
    """Destructive apply needs phase:apply and destructive:apply; --scope is a CSV."""
    assert required_scope("fs.delete_file", "apply", True) == [
        "destructive:apply",
        "phase:apply",
        "tool:fs.delete_file",
    ]
    assert required_scope("fs.delete_file", "plan", True) == ["tool:fs.delete_file"]
    assert scope_list(["TOOL:fs.delete_file, phase:apply", "destructive:apply"]) == [
        "destructive:apply",
        "phase:apply",
        "tool:fs.delete_file",
    ]


def test_approval_flow_codes() -> None:
    """No token, too few, same approver twice, granted (§7.4)."""
    ok = TokenCheck("t1", "alice", "r", ("tool:x",), "2036-01-01T00:00:00Z")
    ok2 = TokenCheck("t2", "alice", "r2", ("tool:x",), "2036-01-01T00:00:00Z")
    bad = TokenCheck(
        "t0", "bob", "r", ("tool:x",), "2036-01-01T00:00:00Z", "approval_token_expired"
    )
    none = apply_approvals(
        reason_codes=["x"], violations=[], required=1, distinct_required=False, checks=[]
    )
    assert (none.verdict, none.reason_codes, none.violations) == (
        "require_approval",
        ("approval_token_missing", "x"),
        ("approval_not_granted",),
    )
    short = apply_approvals(
        reason_codes=[], violations=[], required=1, distinct_required=False, checks=[bad]
    )
    assert short.reason_codes == ("approval_chain_insufficient", "approval_token_expired")
    same = apply_approvals(
        reason_codes=[], violations=["v"], required=2, distinct_required=True, checks=[ok, ok2]
    )
    assert (
        same.reason_codes == ("approval_distinct_approvers_required",)
        and same.verdict == "require_approval"
    )
    granted = apply_approvals(
        reason_codes=[],
        violations=["v"],
        required=1,
        distinct_required=False,
        checks=[ok2, bad, ok],
    )
    assert (granted.verdict, granted.approval_ref, granted.violations) == ("allow", "t1,t2", ("v",))
    assert [c.token_id for c in granted.checks] == ["t0", "t1", "t2"]
