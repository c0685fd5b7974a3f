"""Tool-call payload → IntentRequest mapping through the adapter plugins.

The digest checks run the adapter output through the real gate normaliser and
compare with the intent digests the Go service reported for the same requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gait_adapters.claude_code import hook_tool_name

from gait_runtime.errors import IntentError
from gait_runtime.gate.intent import normalize_intent
from gait_runtime.plugin import FALLBACK_WARNING, decode_call, normalize_adapter_name


@pytest.mark.parametrize(
    ("request_name", "digest"),
    [
        ("allow_mcp", "e19ae0b7c4acc55efed2089f88aa70a94dd2a7f2689f1ac8e7fd23daccd9974b"),
        ("block_mcp", "a11c9e3c3b498724ecf211f526921ff198dc194e1cf32d87bd11b8922365bb60"),
        (
            "require_approval_mcp",
            "5c1eae451faffd703ab5022db9dcb841a309a645a387ebec9d86bbeffd592122",
        ),
        ("dry_run_mcp", "553f63f73035159730e0f17acad5b6c251d55485d2b0048e7e5065ec7079b9b3"),
        ("allow_openai", "3619e812b9e7192ccd9f84fb51fc067284b1b015f5a8ac37b3748f77302f8841"),
    ],
)
def test_vector_requests_give_the_go_intent_digest(
    vectors: Path, request_name: str, digest: str
) -> None:
    """Vectors: the adapters feed the gate exactly what Go's adapters did."""
    request = json.loads((vectors / "service" / "requests" / f"{request_name}.json").read_text())
    decoded = decode_call(request.get("adapter", ""), request["call"], profile="standard")
    assert normalize_intent(decoded.intent, strip_context_claims=True).intent_digest == digest


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("", "mcp"),
        (" MCP ", "mcp"),
        ("openai", "openai"),
        ("Anthropic", "anthropic"),
        ("langchain", "langchain"),
        ("claude_code", "claude_code"),
        ("claude-code", "claude_code"),
        ("ClaudeCode", "claude_code"),
    ],
)
def test_adapter_names_and_aliases(name: str, canonical: str) -> None:
    """Spec: names are trimmed and lower-cased; three spellings of the hook adapter."""
    assert normalize_adapter_name(name) == canonical


def test_unknown_adapter_is_an_input_error() -> None:
    """Spec: ``unsupported adapter: <name>``."""
    with pytest.raises(IntentError, match=r"^unsupported adapter: smtp$"):
        decode_call("SMTP", {"name": "x"}, profile="standard")


def test_standard_profile_fills_context_and_flags_fallback() -> None:
    """Spec: identity ``mcp-proxy``, workspace ``.``, risk ``high``; the fallback warning applies."""
    decoded = decode_call("mcp", {"name": "tool.read"}, profile="standard")
    assert decoded.intent["context"] == {
        "identity": "mcp-proxy",
        "workspace": ".",
        "risk_class": "high",
    }
    assert decoded.fallback_used
    assert "oss-prod" in FALLBACK_WARNING


@pytest.mark.parametrize(
    ("context", "missing"),
    [
        ({}, "identity"),
        ({"identity": "a"}, "workspace"),
        ({"identity": "a", "workspace": "/w"}, "session_id"),
    ],
)
def test_oss_prod_requires_identity_workspace_session(
    context: dict[str, str], missing: str
) -> None:
    """Spec: the strict profile refuses a call without identity, workspace or session id."""
    with pytest.raises(IntentError, match=rf"^context.{missing} is required in strict profile$"):
        decode_call("mcp", {"name": "tool.read", "context": context}, profile="oss-prod")


def test_oss_prod_defaults_only_the_risk_class() -> None:
    """Spec: risk class still defaults to ``high`` in ``oss-prod``; no fallback warning."""
    context = {"identity": "a", "workspace": "/w", "session_id": "s"}
    decoded = decode_call("mcp", {"name": "t", "context": context}, profile="oss-prod")
    assert decoded.intent["context"]["risk_class"] == "high"
    assert not decoded.fallback_used


def test_mcp_call_copies_fields_and_keeps_run_id_out_of_the_intent() -> None:
    """Spec §6.1: copied context keys, auth extras, delegation without times, run id hint."""
    call: dict[str, Any] = {
        "name": " fs.read ",
        "args": {"path": "/a"},
        "created_at": "2026-03-01T09:30:00Z",
        "arg_provenance": [{"arg_path": " $.path ", "source": "user"}],
        "delegation": {
            "requester_identity": "r",
            "issued_at": "2026-01-01T00:00:00Z",
            "chain": [{"delegator_identity": "d", "delegate_identity": "r", "expires_at": "x"}],
        },
        "context": {
            "identity": "agent",
            "workspace": "/w",
            "risk_class": "low",
            "phase": "plan",
            "job_id": "j",
            "session_id": "s",
            "request_id": "q",
            "run_id": "nightly 42",
            "auth_mode": "token",
            "auth_context": {"k": "v"},
            "unknown": "dropped",
        },
    }
    decoded = decode_call("mcp", call, profile="standard")
    intent = decoded.intent
    assert intent["tool_name"] == "fs.read"
    assert intent["created_at"] == "2026-03-01T09:30:00Z"
    assert intent["arg_provenance"] == [{"arg_path": "$.path", "source": "user"}]
    assert intent["delegation"] == {
        "requester_identity": "r",
        "chain": [{"delegator_identity": "d", "delegate_identity": "r"}],
    }
    assert intent["context"] == {
        "identity": "agent",
        "workspace": "/w",
        "risk_class": "low",
        "phase": "plan",
        "job_id": "j",
        "session_id": "s",
        "request_id": "q",
        "auth_context": {"k": "v", "auth_mode": "token"},
    }
    assert decoded.run_id_hint == "nightly 42"
    assert not decoded.fallback_used


@pytest.mark.parametrize(
    ("target", "kind"),
    [("https://x.example/a", "url"), ("/srv/file", "path"), ("db.internal", "host")],
)
def test_single_target_string_kind_is_inferred(target: str, kind: str) -> None:
    """Spec: ``target`` (used only without ``targets``) is url, path or host."""
    decoded = decode_call("mcp", {"name": "t", "target": target}, profile="standard")
    assert decoded.intent["targets"] == [{"kind": kind, "value": target}]


def test_target_hints_accept_both_spellings_and_annotations_override() -> None:
    """Spec: snake or camel hints are OR-ed; ``annotations`` (bools or strings) override."""
    call = {
        "name": "t",
        "targets": [
            {
                "kind": "path",
                "value": "/a",
                "readOnlyHint": True,
                "destructive_hint": True,
                "discoveryMethod": "dynamic_mcp",
                "annotations": {"destructiveHint": "false", "open_world_hint": True},
            }
        ],
    }
    target = decode_call("mcp", call, profile="standard").intent["targets"][0]
    assert target == {
        "kind": "path",
        "value": "/a",
        "discovery_method": "dynamic_mcp",
        "read_only_hint": True,
        "open_world_hint": True,
    }


def test_missing_tool_name_is_an_input_error() -> None:
    """Spec: ``tool call name is required``."""
    with pytest.raises(IntentError, match=r"^tool call name is required$"):
        decode_call("mcp", {"args": {}}, profile="standard")


@pytest.mark.parametrize(
    ("arguments", "args"),
    [
        ('{"query":"gait"}', {"query": "gait"}),
        ({"query": "gait"}, {"query": "gait"}),
        ("", {}),
        (None, {}),
    ],
)
def test_function_call_arguments_string_or_object(arguments: object, args: dict[str, str]) -> None:
    """Spec §6.2: the function-call shape carries arguments as JSON text or an object."""
    call = {
        "type": "function",
        "id": "c1",
        "function": {"name": "tool.search", "arguments": arguments},
    }
    intent = decode_call("openai", call, profile="standard").intent
    assert (intent["tool_name"], intent["args"], intent["targets"]) == ("tool.search", args, [])


def test_function_call_arguments_must_be_an_object() -> None:
    """Our rule: arguments that decode to a non-object are an input error, not ``{}``."""
    call = {"function": {"name": "t", "arguments": "[1, 2]"}}
    with pytest.raises(IntentError, match="must be a JSON object"):
        decode_call("openai", call, profile="standard")


def test_tool_use_block_maps_name_and_input() -> None:
    """Spec §6.2: the tool-use block shape."""
    call = {"type": "tool_use", "id": "x", "name": "tool.read", "input": {"path": "/a"}}
    intent = decode_call("anthropic", call, profile="standard").intent
    assert (intent["tool_name"], intent["args"]) == ("tool.read", {"path": "/a"})


@pytest.mark.parametrize("tool_input", [{"q": 1}, '{"q": 1}'])
def test_tool_invocation_maps_tool_and_input(tool_input: object) -> None:
    """Spec §6.2: the ``tool``/``tool_input`` invocation shape (object or JSON string)."""
    intent = decode_call(
        "langchain", {"tool": "calc", "tool_input": tool_input}, profile="standard"
    ).intent
    assert (intent["tool_name"], intent["args"]) == ("calc", {"q": 1})


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("Read", "tool.read"),
        ("Grep", "tool.read"),
        ("glob", "tool.read"),
        ("WebFetch", "tool.read"),
        ("web_search", "tool.read"),
        ("Write", "tool.write"),
        ("Edit", "tool.write"),
        ("Notebook-Edit", "tool.write"),
        ("Bash", "tool.exec"),
        ("Task", "tool.delegate"),
        ("mcp.Server.Tool", "mcp.server.tool"),
        ("My Tool-X", "tool.my_tool_x"),
    ],
)
def test_hook_tool_names_map_onto_the_gate_vocabulary(name: str, mapped: str) -> None:
    """Spec §6.2: the hook payload's tool names."""
    assert hook_tool_name(name) == mapped


@pytest.mark.parametrize(
    ("tool", "tool_input", "targets"),
    [
        (
            "Read",
            {"file_path": "/a", "url": "https://x"},
            [
                {"kind": "path", "value": "/a", "operation": "read"},
                {"kind": "url", "value": "https://x", "operation": "read"},
            ],
        ),
        ("Edit", {"path": "/b"}, [{"kind": "path", "value": "/b", "operation": "write"}]),
        ("Bash", {"command": "ls"}, [{"kind": "other", "value": "ls", "operation": "execute"}]),
        ("Task", {"prompt": "p"}, [{"kind": "other", "value": "p", "operation": "delegate"}]),
        ("Other", {"path": "/c"}, []),
    ],
)
def test_hook_payload_targets_are_inferred(
    tool: str, tool_input: dict[str, str], targets: list[dict[str, str]]
) -> None:
    """Spec §6.2: inferred targets per mapped tool."""
    call = {"tool_name": tool, "tool_input": tool_input}
    assert decode_call("claude_code", call, profile="standard").intent["targets"] == targets


def test_hook_payload_session_and_event_go_into_the_context() -> None:
    """Spec §6.2: ``session_id`` → context; ``hook_event_name`` → ``auth_context``."""
    call = {
        "name": "Bash",
        "input": {"cmd": "ls"},
        "session_id": "s1",
        "hook_event_name": "pre_tool_call",
    }
    decoded = decode_call("claude-code", call, profile="standard")
    assert decoded.intent["context"]["session_id"] == "s1"
    assert decoded.intent["context"]["auth_context"] == {
        "hook_event_name": "pre_tool_call",
        "adapter": "claude_code",
    }
    digest = normalize_intent(decoded.intent, strip_context_claims=True).intent_digest
    assert len(digest) == 64
