"""Shared pieces of the first-party adapters (trimmed text, objects, the intent skeleton)."""

from __future__ import annotations

import json
from typing import Any, Final

from gait_runtime.errors import IntentError
from gait_runtime.plugin import DEFAULT_CREATED_AT, lower, trim

__all__ = ["base_intent", "json_object", "lower", "object_", "text", "trim"]

_PRODUCER: Final = "0.0.0-dev"


def text(value: object) -> str:
    """A trimmed string, or ``""`` for anything that is not a string."""
    return trim(value) if isinstance(value, str) else ""


def object_(value: object, what: str) -> dict[str, Any]:
    """An object (``None`` ⇒ ``{}``); anything else is an input error."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise IntentError(f"{what} must be an object", code="call_invalid")


def json_object(value: object, what: str) -> dict[str, Any]:
    """An object given inline or as a JSON-encoded string (``""`` and ``null`` ⇒ ``{}``)."""
    if isinstance(value, str):
        if not trim(value):
            return {}
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise IntentError(f"parse {what}: {exc}", code="call_invalid") from exc
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise IntentError(f"{what} must be a JSON object", code="call_invalid")
        return parsed
    return object_(value, what)


def base_intent(
    tool_name: object, args: dict[str, Any], created_at: object = None
) -> dict[str, Any]:
    """The IntentRequest skeleton every adapter fills (no targets, empty context)."""
    name = text(tool_name)
    if not name:
        raise IntentError("tool call name is required", code="call_invalid")
    stamp = text(created_at) or DEFAULT_CREATED_AT
    return {
        "schema_id": "gait.gate.intent_request",
        "schema_version": "1.0.0",
        "created_at": stamp,
        "producer_version": _PRODUCER,
        "tool_name": name,
        "args": args,
        "targets": [],
        "context": {},
    }
