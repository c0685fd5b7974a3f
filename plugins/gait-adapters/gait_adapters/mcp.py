"""The ``mcp`` adapter: the native gait tool-call object (unknown keys ignored).

``name``, ``args``, ``targets[]`` (or a single ``target`` string), ``arg_provenance[]``,
``context{}`` (``run_id`` is only a hint for the response), ``delegation`` (carried
without its times) and ``created_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from gait_runtime.errors import IntentError
from gait_runtime.plugin import AdapterOutput, lower, trim

from ._common import base_intent, object_, text

__all__ = ["ADAPTER", "McpAdapter"]

_COPIED_CONTEXT: Final = (
    "phase",
    "job_id",
    "session_id",
    "request_id",
    "environment_fingerprint",
)
_HINTS: Final = (
    ("read_only_hint", "readOnlyHint"),
    ("destructive_hint", "destructiveHint"),
    ("idempotent_hint", "idempotentHint"),
    ("open_world_hint", "openWorldHint"),
)


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and lower(trim(value)) in ("true", "false"):
        return lower(trim(value)) == "true"
    return None


def _target(raw: object) -> dict[str, Any]:
    item = object_(raw, "call.targets[]")
    target: dict[str, Any] = {}
    for key in ("kind", "value", "operation", "sensitivity"):
        if text(item.get(key)):
            target[key] = text(item[key])
    method = text(item.get("discovery_method")) or text(item.get("discoveryMethod"))
    if method:
        target["discovery_method"] = method
    annotations = item.get("annotations")
    notes = annotations if isinstance(annotations, dict) else {}
    for snake, camel in _HINTS:
        hint = item.get(snake) is True or item.get(camel) is True
        for key in (snake, camel):
            note = _bool(notes.get(key))
            if note is not None:
                hint = note
        if hint:
            target[snake] = True
    return target


def _single_target(value: str) -> dict[str, Any]:
    kind = "url" if "://" in value else "path" if "/" in value else "host"
    return {"kind": kind, "value": value}


def _strip_times(delegation: dict[str, Any]) -> dict[str, Any]:
    """Delegation is carried without its issue/expiry times (Go behaviour)."""
    out = {k: v for k, v in delegation.items() if k not in ("issued_at", "expires_at")}
    chain = out.get("chain")
    if isinstance(chain, list):
        out["chain"] = [
            {k: v for k, v in link.items() if k not in ("issued_at", "expires_at")}
            if isinstance(link, dict)
            else link
            for link in chain
        ]
    return out


class McpAdapter:
    """The native tool-call object."""

    kind: Final[Literal["adapter"]] = "adapter"
    name: Final = "mcp"
    aliases: Final[tuple[str, ...]] = ()

    def decode(self, call: Mapping[str, Any]) -> AdapterOutput:
        """Map the native call onto an IntentRequest (see the module doc)."""
        if call.get("script") is not None:
            raise IntentError("script calls are not supported by this server", code="call_invalid")
        intent = base_intent(
            call.get("name"), object_(call.get("args"), "call.args"), call.get("created_at")
        )
        raw_targets = call.get("targets")
        if raw_targets is not None and not isinstance(raw_targets, list):
            raise IntentError("call.targets must be an array", code="call_invalid")
        if raw_targets:
            intent["targets"] = [_target(t) for t in raw_targets]
        elif text(call.get("target")):
            intent["targets"] = [_single_target(text(call["target"]))]
        provenance = call.get("arg_provenance")
        if isinstance(provenance, list) and provenance:
            intent["arg_provenance"] = [
                {k: text(v) for k, v in object_(p, "call.arg_provenance[]").items() if text(v)}
                for p in provenance
            ]
        raw_ctx = object_(call.get("context"), "call.context")
        context: dict[str, Any] = {}
        for key in ("identity", "workspace", "risk_class", *_COPIED_CONTEXT):
            if text(raw_ctx.get(key)):
                context[key] = text(raw_ctx[key])
        scopes = raw_ctx.get("credential_scopes")
        if isinstance(scopes, list) and scopes:
            context["credential_scopes"] = scopes
        auth = dict(object_(raw_ctx.get("auth_context"), "call.context.auth_context"))
        if text(raw_ctx.get("auth_mode")):
            auth["auth_mode"] = text(raw_ctx["auth_mode"])
        if raw_ctx.get("oauth_evidence") is not None:
            auth["oauth_evidence"] = raw_ctx["oauth_evidence"]
        if auth:
            context["auth_context"] = auth
        intent["context"] = context
        delegation = call.get("delegation")
        if isinstance(delegation, dict) and delegation:
            intent["delegation"] = _strip_times(delegation)
        return AdapterOutput(intent, text(raw_ctx.get("run_id")))


ADAPTER: Final = McpAdapter()
