"""Ed25519 envelopes and key files against spec/signing.md and the Go test keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gait_runtime.artifacts.keys import (
    KeySource,
    decode_private,
    decode_public,
    init_key_pair,
    resolve_signing_key,
)
from gait_runtime.artifacts.signing import SigningKey, sign, signature_errors
from gait_runtime.errors import KeyMaterialError

RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def test_rfc8032_key_files_and_key_id() -> None:
    """signing.md §8: the RFC 8032 test-1 seed gives the documented files and key_id."""
    key = SigningKey(RFC8032_SEED)
    assert base64.b64encode(key.go_private_bytes()).decode() == (
        "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg=="
    )
    assert (
        base64.b64encode(key.public.raw).decode() == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    )
    assert key.key_id == "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"


def test_approval_token_signature_reproduces_spec_bytes() -> None:
    """signing.md §8: Ed25519 is deterministic, so the documented sig is reproduced."""
    token = {
        "approver_identity": "alice@example.com",
        "created_at": "2026-03-01T09:31:00Z",
        "expires_at": "2026-03-01T10:31:00Z",
        "intent_digest": "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1",
        "policy_digest": "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d",
        "producer_version": "0.0.0-dev",
        "reason_code": "change_ticket_chg_1234",
        "schema_id": "gait.gate.approval_token",
        "schema_version": "1.0.0",
        "scope": ["tool:fs.write_file"],
        "token_id": "617b128121531fc0ff7563ab",
    }
    env = sign(token, SigningKey(RFC8032_SEED))
    assert (
        env["signed_digest"] == "44ea0e7d9a1f9684494466a0fcc1879fcffbda6130ac06425a09ad36f33854be"
    )
    assert env["sig"] == (
        "MVYkuhPVtnNnN3QXa2xOvvXUJiTpnWAzJTGros52HXCwCW+spKFv31ofJDhNaw8zgJePXcwCte0ACCI61B7rAA=="
    )


def test_go_test_keys_decode_to_documented_key_ids(vectors: Path) -> None:
    """vectors/keys: both Go pairs load and give their documented key ids."""
    gait = decode_private((vectors / "keys/gait_private.key").read_text())
    other = decode_public((vectors / "keys/other_public.key").read_text())
    assert gait.key_id == "2190b0e8cefd5b1a672306bccf9f0bd9dfe1fb978dfd196f53bd8ba6636510ac"
    assert other.key_id == "171e81802891fb685f90221cfc76cc79fa29031c3a44e7492a57ba8389bdef99"
    assert json.loads((vectors / "keys/keys_init.json").read_text())["key_id"] == gait.key_id


def test_go_signed_trace_verifies_and_other_key_fails(vectors: Path) -> None:
    """A Go-signed trace verifies with the gait public key, not with the other key."""
    trace = json.loads((vectors / "gate/traces/trace_example_with_token.json").read_text())
    envelope = trace.pop("signature")
    good = decode_public((vectors / "keys/gait_public.key").read_text())
    bad = decode_public((vectors / "keys/other_public.key").read_text())
    assert signature_errors(trace, envelope, good) == []
    assert signature_errors(trace, envelope, bad) == ["key id mismatch"]
    envelope_no_kid = dict(envelope, key_id="")
    assert signature_errors(trace, envelope_no_kid, bad) == ["signature verification failed"]
    trace["verdict"] = "block"
    assert signature_errors(trace, envelope, good) == ["signed_digest mismatch"]


def test_inconsistent_private_key_file_is_rejected() -> None:
    """A 64-byte key whose public half is not the seed's is refused (Go would accept it)."""
    raw = RFC8032_SEED + bytes(32)
    with pytest.raises(KeyMaterialError, match="inconsistent"):
        decode_private(base64.b64encode(raw).decode())


@pytest.mark.parametrize(
    ("text", "message"),
    [("AAAA", "invalid private key length: 3"), ("not base64!", "invalid base64")],
)
def test_bad_private_key_text_is_invalid_input(text: str, message: str) -> None:
    """Malformed key text gives a clear key error."""
    with pytest.raises(KeyMaterialError, match=message):
        decode_private(text)


def test_key_modes(tmp_path: Path) -> None:
    """signing.md §7: dev refuses explicit sources, prod requires one, env names are read."""
    key, private, _ = init_key_pair(tmp_path, "t")
    with pytest.raises(KeyMaterialError, match="dev mode does not accept explicit key sources"):
        resolve_signing_key("dev", KeySource(path=str(private)))
    with pytest.raises(KeyMaterialError, match="prod mode requires a private key source"):
        resolve_signing_key("prod", KeySource())
    with pytest.raises(KeyMaterialError, match='unsupported key mode: "weird"'):
        resolve_signing_key("weird", KeySource())
    with pytest.raises(KeyMaterialError, match="set either path or env"):
        resolve_signing_key("prod", KeySource(path=str(private), env="X"))
    with pytest.raises(KeyMaterialError, match="private key env not set: NOPE"):
        resolve_signing_key("prod", KeySource(env="NOPE"), environ={})
    env_text = private.read_text()
    got = resolve_signing_key("prod", KeySource(env="K"), environ={"K": env_text})
    assert got.key.key_id == key.key_id
    dev = resolve_signing_key("dev", KeySource())
    assert dev.warnings and dev.key.key_id != key.key_id


def test_init_refuses_overwrite_without_force(tmp_path: Path) -> None:
    """keys init never clobbers an existing key unless --force is given."""
    first, private, _ = init_key_pair(tmp_path, "p")
    before = private.read_bytes()
    with pytest.raises(KeyMaterialError, match="already exists"):
        init_key_pair(tmp_path, "p")
    assert private.read_bytes() == before
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    second, _, _ = init_key_pair(tmp_path, "p", force=True)
    assert second.key_id != first.key_id
