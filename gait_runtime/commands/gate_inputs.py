"""Explicit file loaders and the decision payloads for the gate commands.

Owns: reading an intent file, approval token files and trace files (each error
names the file and is exit 6) and the ``policy test`` / ``policy validate``
``--json`` payloads. Nothing here evaluates; it feeds the pure gate modules.
The ``--explain`` screen is text, so it lives in ``cli/_gate_text.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from ..errors import IntentError, InvalidInputError
from ..gate.evaluate import GateResult
from ..gate.intent import NormalizedIntent, normalize_intent, parse_intent_json
from ..gate.model import CompiledPolicy

__all__ = [
    "load_intent",
    "load_token_files",
    "load_trace",
    "policy_test_payload",
    "policy_validate_payload",
]

_SUMMARY_LIMIT: Final = 240


def load_intent(path: str, *, strip_context_claims: bool) -> NormalizedIntent:
    """Read, decode and normalise an intent file.

    Raises:
        IntentError: unreadable file or invalid intent.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IntentError(
            f"read intent {path}: {exc.strerror or exc}", code="intent_unreadable"
        ) from exc
    return normalize_intent(
        parse_intent_json(data, source=path), strip_context_claims=strip_context_claims
    )


def _read_json_object(path: str, what: str, code: str) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_bytes().decode("utf-8", errors="replace"))
    except OSError as exc:
        raise InvalidInputError(f"read {what} {path}: {exc.strerror or exc}", code=code) from exc
    except ValueError as exc:
        raise InvalidInputError(f"parse {what} {path}: invalid JSON: {exc}", code=code) from exc
    if not isinstance(value, dict):
        raise InvalidInputError(f"parse {what} {path}: expected a JSON object", code=code)
    return value


_TOKEN_TYPES: Final = {
    "schema_id": str,
    "schema_version": str,
    "created_at": str,
    "producer_version": str,
    "token_id": str,
    "approver_identity": str,
    "reason_code": str,
    "intent_digest": str,
    "policy_digest": str,
    "delegation_binding_digest": str,
    "scope": list,
    "max_targets": int,
    "max_ops": int,
    "expires_at": str,
    "signature": dict,
}


def load_token_files(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Read approval tokens (de-duplicated, sorted paths); a bad file aborts (exit 6).

    Raises:
        InvalidInputError: a token file is unreadable, not JSON, or has a field of
            the wrong type (the Go implementation fails to decode such a file).
    """
    tokens = []
    for path in sorted({p.strip() for p in paths if p.strip()}):
        token = _read_json_object(path, "approval token", "approval_token_unreadable")
        for key, expected in _TOKEN_TYPES.items():
            value = token.get(key)
            bad_int = expected is int and type(value) is not int
            if value is not None and (bad_int or not isinstance(value, expected)):
                raise InvalidInputError(
                    f"parse approval token {path}: field {key} has the wrong type",
                    code="approval_token_unreadable",
                )
        tokens.append(token)
    return tokens


def load_trace(path: str) -> dict[str, Any]:
    """Read a trace file as a JSON object (exit 6 when unreadable)."""
    return _read_json_object(path, "trace", "trace_unreadable")


def _summary(verdict: str, reasons: Sequence[str], violations: Sequence[str]) -> str:
    text = (
        f"policy test verdict={verdict} reasons={','.join(reasons) or 'none'} "
        f"violations={','.join(violations) or 'none'}"
    )
    if len(text) > _SUMMARY_LIMIT:
        text = f"{text[:_SUMMARY_LIMIT]}...(+{len(text) - _SUMMARY_LIMIT})"
    return text


def policy_test_payload(
    policy: CompiledPolicy, intent: NormalizedIntent, result: GateResult
) -> dict[str, Any]:
    """The ``gait policy test --json`` object (gate.md §4.1)."""
    payload: dict[str, Any] = {
        "ok": True,
        "schema_id": "gait.policytest.result",
        "schema_version": "1.0.0",
        "created_at": result.created_at,
        "policy_digest": policy.digest,
        "intent_digest": intent.intent_digest,
        "verdict": result.verdict,
        "summary": _summary(result.verdict, result.reason_codes, result.violations),
    }
    if result.reason_codes:
        payload["reason_codes"] = list(result.reason_codes)
    if result.violations:
        payload["violations"] = list(result.violations)
    if result.matched_rule:
        payload["matched_rule"] = result.matched_rule
    return payload


def policy_validate_payload(policy: CompiledPolicy) -> dict[str, Any]:
    """The ``gait policy validate --json`` object."""
    return {
        "ok": True,
        "schema_id": policy.schema_id,
        "schema_version": policy.schema_version,
        "default_verdict": policy.default_verdict,
        "rule_count": len(policy.rules),
        "policy_digest": policy.digest,
        "summary": (
            f"policy validate ok: default={policy.default_verdict} "
            f"rules={len(policy.rules)} digest={policy.digest}"
        ),
    }
