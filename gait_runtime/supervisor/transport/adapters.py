"""Tool-call payloads → IntentRequest documents (``spec/service.md`` §6).

Owns: the five adapters, keyed by their wire names (the names are the
contract; the payload shapes are described here), the profile context rules
(``standard`` fills defaults and warns, ``oss-prod`` demands identity,
workspace and session id) and the run-id hint carried by a call. Pure: the
output is a plain ``dict`` for :func:`gait_runtime.gate.normalize_intent`,
which owns normalisation and digests.

Payload shapes:

* ``mcp`` — the native tool-call object: ``name``, ``args``, ``targets[]`` or a
  single ``target`` string, ``arg_provenance[]``, ``context{}``, ``delegation``,
  ``created_at``.
* ``openai`` — a function-call object ``{"function": {"name", "arguments"}}``
  whose ``arguments`` is a JSON-encoded string or an object.
* ``anthropic`` — a tool-use block ``{"type": "tool_use", "name", "input"}``.
* ``langchain`` — a tool invocation ``{"tool", "tool_input"}`` (object or JSON string).
* ``claude_code`` — a coding-assistant hook payload ``{"tool_name"|"name",
  "tool_input"|"input", "session_id", "hook_event_name"}``; its tool names are
  mapped onto ``tool.read|write|exec|delegate`` and targets are inferred.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...errors import IntentError
from ...gate._strings import lower, trim

__all__ = [
    "DEFAULT_CREATED_AT",
    "FALLBACK_WARNING",
    "DecodedCall",
    "decode_call",
    "normalize_adapter_name",
]

DEFAULT_CREATED_AT: Final = "1980-01-01T00:00:00Z"
FALLBACK_WARNING: Final = (
    "standard profile applied fallback intent context; "
    "use --profile oss-prod for strict context enforcement"
)
_DEFAULT_IDENTITY: Final = "mcp-proxy"
_DEFAULT_WORKSPACE: Final = "."
_DEFAULT_RISK: Final = "high"
_PRODUCER: Final = "0.0.0-dev"
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
_ALIASES: Final[dict[str, str]] = {
    "": "mcp",
    "mcp": "mcp",
    "openai": "openai",
    "anthropic": "anthropic",
    "langchain": "langchain",
    "claude_code": "claude_code",
    "claude-code": "claude_code",
    "claudecode": "claude_code",
}
_HOOK_TOOL_NAMES: Final[dict[str, str]] = {
    "read": "tool.read",
    "grep": "tool.read",
    "glob": "tool.read",
    "webfetch": "tool.read",
    "websearch": "tool.read",
    "write": "tool.write",
    "edit": "tool.write",
    "notebookedit": "tool.write",
    "bash": "tool.exec",
    "task": "tool.delegate",
}


@dataclass(frozen=True, slots=True)
class DecodedCall:
    """One tool call mapped onto an IntentRequest.

    Attributes:
        intent: the IntentRequest document (not yet normalised).
        run_id_hint: ``call.context.run_id`` (used only for the response run id).
        fallback_used: the standard profile filled a missing identity, workspace or session.
    """

    intent: dict[str, Any]
    run_id_hint: str
    fallback_used: bool


def normalize_adapter_name(name: str) -> str:
    """Trim + lower an adapter name and resolve its aliases.

    Raises:
        IntentError: ``unsupported adapter: <name>``.
    """
    key = lower(trim(name))
    try:
        return _ALIASES[key]
    except KeyError:
        raise IntentError(f"unsupported adapter: {key}", code="adapter_unsupported") from None


def decode_call(adapter: str, call: Mapping[str, Any], *, profile: str) -> DecodedCall:
    """Decode ``call`` with the named adapter and apply the profile's context rules.

    Args:
        adapter: an adapter name or alias (see :func:`normalize_adapter_name`).
        call: the request's ``call`` object.
        profile: ``standard`` or ``oss-prod``.

    Raises:
        IntentError: unknown adapter, missing tool name, malformed arguments, or a
            context field the strict profile requires.
    """
    decoder = _DECODERS[normalize_adapter_name(adapter)]
    intent, run_id_hint = decoder(call)
    context: dict[str, Any] = intent["context"]
    fallback = False
    if profile == "oss-prod":
        for key in ("identity", "workspace", "session_id"):
            if not _text(context.get(key)):
                raise IntentError(
                    f"context.{key} is required in strict profile", code="context_required"
                )
    else:
        for key, default in (("identity", _DEFAULT_IDENTITY), ("workspace", _DEFAULT_WORKSPACE)):
            if not _text(context.get(key)):
                context[key] = default
                fallback = True
        if not _text(context.get("session_id")):
            fallback = True
    if not _text(context.get("risk_class")):
        context["risk_class"] = _DEFAULT_RISK
    return DecodedCall(intent, run_id_hint, fallback)


def _text(value: object) -> str:
    return trim(value) if isinstance(value, str) else ""


def _object(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise IntentError(f"{what} must be an object", code="call_invalid")


def _json_object(value: object, what: str) -> dict[str, Any]:
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
    return _object(value, what)


def _base(tool_name: object, args: dict[str, Any], created_at: object = None) -> dict[str, Any]:
    name = _text(tool_name)
    if not name:
        raise IntentError("tool call name is required", code="call_invalid")
    stamp = _text(created_at) or DEFAULT_CREATED_AT
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


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and lower(trim(value)) in ("true", "false"):
        return lower(trim(value)) == "true"
    return None


def _target(raw: object) -> dict[str, Any]:
    item = _object(raw, "call.targets[]")
    target: dict[str, Any] = {}
    for key in ("kind", "value", "operation", "sensitivity"):
        if _text(item.get(key)):
            target[key] = _text(item[key])
    method = _text(item.get("discovery_method")) or _text(item.get("discoveryMethod"))
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


def _decode_mcp(call: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if call.get("script") is not None:
        raise IntentError("script calls are not supported by this server", code="call_invalid")
    intent = _base(call.get("name"), _object(call.get("args"), "call.args"), call.get("created_at"))
    raw_targets = call.get("targets")
    if raw_targets is not None and not isinstance(raw_targets, list):
        raise IntentError("call.targets must be an array", code="call_invalid")
    if raw_targets:
        intent["targets"] = [_target(t) for t in raw_targets]
    elif _text(call.get("target")):
        intent["targets"] = [_single_target(_text(call["target"]))]
    provenance = call.get("arg_provenance")
    if isinstance(provenance, list) and provenance:
        intent["arg_provenance"] = [
            {k: _text(v) for k, v in _object(p, "call.arg_provenance[]").items() if _text(v)}
            for p in provenance
        ]
    raw_ctx = _object(call.get("context"), "call.context")
    context: dict[str, Any] = {}
    for key in ("identity", "workspace", "risk_class", *_COPIED_CONTEXT):
        if _text(raw_ctx.get(key)):
            context[key] = _text(raw_ctx[key])
    scopes = raw_ctx.get("credential_scopes")
    if isinstance(scopes, list) and scopes:
        context["credential_scopes"] = scopes
    auth = dict(_object(raw_ctx.get("auth_context"), "call.context.auth_context"))
    if _text(raw_ctx.get("auth_mode")):
        auth["auth_mode"] = _text(raw_ctx["auth_mode"])
    if raw_ctx.get("oauth_evidence") is not None:
        auth["oauth_evidence"] = raw_ctx["oauth_evidence"]
    if auth:
        context["auth_context"] = auth
    intent["context"] = context
    delegation = call.get("delegation")
    if isinstance(delegation, dict) and delegation:
        intent["delegation"] = _strip_times(delegation)
    return intent, _text(raw_ctx.get("run_id"))


def _strip_times(delegation: dict[str, Any]) -> dict[str, Any]:
    """The mcp adapter carries delegation without its issue/expiry times (Go behaviour)."""
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


def _decode_function_call(call: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    function = _object(call.get("function"), "call.function")
    args = _json_object(function.get("arguments"), "function.arguments")
    return _base(function.get("name"), args), ""


def _decode_tool_use(call: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    return _base(call.get("name"), _object(call.get("input"), "call.input")), ""


def _decode_tool_invocation(call: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    args = _json_object(call.get("tool_input"), "tool_input")
    return _base(call.get("tool"), args), ""


def hook_tool_name(name: str) -> str:
    """Map a hook payload's tool name onto the gate's ``tool.*`` vocabulary."""
    squashed = lower(name).replace(" ", "").replace("_", "").replace("-", "")
    if squashed in _HOOK_TOOL_NAMES:
        return _HOOK_TOOL_NAMES[squashed]
    if "." in name:
        return lower(name)
    return "tool." + lower(name).replace(" ", "_").replace("-", "_")


def _first(args: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        if _text(args.get(key)):
            return _text(args[key])
    return ""


def _hook_targets(tool: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    path = _first(args, ("path", "file_path", "filepath", "file"))
    if tool == "tool.read":
        if path:
            targets.append({"kind": "path", "value": path, "operation": "read"})
        url = _first(args, ("url", "uri"))
        if url:
            targets.append({"kind": "url", "value": url, "operation": "read"})
    elif tool == "tool.write" and path:
        targets.append({"kind": "path", "value": path, "operation": "write"})
    elif tool == "tool.exec":
        command = _first(args, ("command", "cmd", "script"))
        if command:
            targets.append({"kind": "other", "value": command, "operation": "execute"})
    elif tool == "tool.delegate":
        task = _first(args, ("task", "prompt", "description"))
        if task:
            targets.append({"kind": "other", "value": task, "operation": "delegate"})
    return targets


def _decode_hook(call: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    raw_name = _text(call.get("tool_name")) or _text(call.get("name"))
    raw_input = call.get("tool_input") if "tool_input" in call else call.get("input")
    args = _json_object(raw_input, "tool_input")
    if not raw_name:
        raise IntentError("tool call name is required", code="call_invalid")
    tool = hook_tool_name(raw_name)
    intent = _base(tool, args)
    intent["targets"] = _hook_targets(tool, args)
    context: dict[str, Any] = {}
    if _text(call.get("session_id")):
        context["session_id"] = _text(call["session_id"])
    if _text(call.get("hook_event_name")):
        context["auth_context"] = {
            "hook_event_name": _text(call["hook_event_name"]),
            "adapter": "claude_code",
        }
    intent["context"] = context
    return intent, ""


_DECODERS: Final[dict[str, Callable[[Mapping[str, Any]], tuple[dict[str, Any], str]]]] = {
    "mcp": _decode_mcp,
    "openai": _decode_function_call,
    "anthropic": _decode_tool_use,
    "langchain": _decode_tool_invocation,
    "claude_code": _decode_hook,
}
