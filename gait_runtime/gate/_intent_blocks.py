"""Normalising the blocks of an IntentRequest (gate.md §2): targets, provenance, context,
agent identity, sandbox, skill provenance, delegation and relationship.

Each function takes the raw block and returns its normalised form for the
digest preimage; :mod:`.intent` assembles them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, Final

from ._intent_parse import (
    check_credentials,
    free_form,
    hex64,
    intent_error,
    opt_bool,
    opt_int,
    opt_list,
    opt_obj,
    opt_str,
    read_time,
    str_list,
    time_text,
)
from ._intent_values import (
    CONTEXT_TRIM_SET,
    CRED_ACCESS,
    CRED_SOURCES,
    DISCOVERY_METHODS,
    ENDPOINT_CLASSES,
    ENV_ASSIGN,
    OPS_DELETE,
    OPS_DESTRUCTIVE,
    OPS_DNS,
    OPS_EXEC,
    OPS_READ,
    OPS_WRITE,
    PROVENANCE_SOURCES,
    TARGET_KINDS,
    Target,
)
from ._strings import ASCII_SPACE, go_path_base, lower, trim, trim_lower, uniq_sorted

# --------------------------------------------------------------------------- targets


def _infer_class(kind: str, op: str, tool_base: str) -> str:
    if kind == "path":
        if op in OPS_READ:
            return "fs.read"
        if op in OPS_WRITE:
            return "fs.write"
        if op in OPS_DELETE:
            return "fs.delete"
        if any(h in tool_base for h in ("read", "list", "fetch", "search")):
            return "fs.read"
        if any(h in tool_base for h in ("write", "update", "save", "create")):
            return "fs.write"
        if any(h in tool_base for h in ("delete", "remove", "rm", "drop")):
            return "fs.delete"
        return "other"
    if kind in ("host", "url"):
        return "net.dns" if op in OPS_DNS else "net.http"
    if kind == "other":
        if op in OPS_EXEC:
            return "proc.exec"
        if any(h in tool_base for h in ("exec", "shell", "command", "spawn", "run")):
            return "proc.exec"
    return "other"


def _infer_domain(kind: str, value: str) -> str:
    if kind == "host":
        text = value
        for prefix in ("http://", "https://"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        text = text.split("/", 1)[0].split(":", 1)[0]
        return trim_lower(text)
    if kind == "url":
        from urllib.parse import urlsplit  # URL targets only (it imports ipaddress)

        try:
            host = urlsplit(value).hostname
        except ValueError:
            return ""
        return lower(host or "")
    return ""


_TARGET_FLAGS: Final = frozenset(
    {"destructive_hint", "destructive", "read_only_hint", "idempotent_hint", "open_world_hint"}
)


def _low(raw: Mapping[str, Any], key: str, path: str) -> str:
    """``trim_lower`` of an optional string field, in one call on the hot path."""
    value = raw.get(key)
    if value is None:
        return ""
    if type(value) is str and value.isascii():
        return value.strip(ASCII_SPACE).lower()
    return trim_lower(opt_str(raw, key, path))


def _target(raw: Any, index: int, tool_base: str) -> Target:
    path = f"targets[{index}]."
    if not isinstance(raw, dict):
        raise intent_error(f"targets[{index}] must be an object", "intent_type")
    kind = _low(raw, "kind", path)
    value = trim(opt_str(raw, "value", path))
    if not kind:
        raise intent_error(f"targets[{index}].kind is required")
    if not value:
        raise intent_error(f"targets[{index}].value is required")
    if kind not in TARGET_KINDS:
        raise intent_error(f"targets[{index}].kind {kind!r} is not supported")
    op = _low(raw, "operation", path)
    endpoint_class = _low(raw, "endpoint_class", path)
    if endpoint_class and endpoint_class not in ENDPOINT_CLASSES:
        raise intent_error(f"targets[{index}].endpoint_class {endpoint_class!r} is not supported")
    if not endpoint_class:
        endpoint_class = _infer_class(kind, op, tool_base)
    domain = _low(raw, "endpoint_domain", path) or _infer_domain(kind, value)
    method = _low(raw, "discovery_method", path)
    if method:
        method = method.replace("-", "_").replace(" ", "_")
    method = method or "unknown"
    if method not in DISCOVERY_METHODS:
        raise intent_error(f"targets[{index}].discovery_method {method!r} is not supported")
    if _TARGET_FLAGS.isdisjoint(raw):  # the common target: no booleans to read
        destructive_hint = destructive_in = read_only = idempotent = open_world = False
        sensitivity = _low(raw, "sensitivity", path)
    else:  # the order of reads (so of the reported type error) is the historical one
        destructive_hint = opt_bool(raw, "destructive_hint", path)
        destructive_in = opt_bool(raw, "destructive", path)
        sensitivity = _low(raw, "sensitivity", path)
        read_only = opt_bool(raw, "read_only_hint", path)
        idempotent = opt_bool(raw, "idempotent_hint", path)
        open_world = opt_bool(raw, "open_world_hint", path)
    destructive = (
        destructive_in
        or destructive_hint
        or endpoint_class in ("fs.delete", "proc.exec")
        or op in OPS_DESTRUCTIVE
    )
    return Target(
        kind=kind,
        value=value,
        operation=op,
        sensitivity=sensitivity,
        endpoint_class=endpoint_class,
        endpoint_domain=domain,
        destructive=destructive,
        discovery_method=method,
        read_only_hint=read_only,
        destructive_hint=destructive_hint,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


def normalize_targets(raw: Mapping[str, Any], tool_name: str) -> tuple[Target, ...]:
    tool_base = go_path_base(tool_name)
    items = opt_list(raw, "targets", "")
    seen = {t.sort_key(): t for t in (_target(item, i, tool_base) for i, item in enumerate(items))}
    return tuple(seen[k] for k in sorted(seen))


def normalize_provenance(raw: Mapping[str, Any]) -> list[dict[str, str]]:
    entries: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for i, item in enumerate(opt_list(raw, "arg_provenance", "")):
        path = f"arg_provenance[{i}]."
        if not isinstance(item, dict):
            raise intent_error(f"arg_provenance[{i}] must be an object", "intent_type")
        arg_path = trim(opt_str(item, "arg_path", path))
        source = trim_lower(opt_str(item, "source", path))
        ref = trim(opt_str(item, "source_ref", path))
        integrity = hex64(opt_str(item, "integrity_digest", path), f"{path}integrity_digest")
        if not arg_path:
            raise intent_error(f"arg_provenance[{i}].arg_path is required")
        if source not in PROVENANCE_SOURCES:
            raise intent_error(f"arg_provenance[{i}].source {source!r} is not supported")
        entry = {"arg_path": arg_path, "source": source}
        if ref:
            entry["source_ref"] = ref
        if integrity:
            entry["integrity_digest"] = integrity
        entries[(arg_path, source, ref, integrity)] = entry
    return [entries[k] for k in sorted(entries)]


# --------------------------------------------------------------------------- context


def _enum(value: str, allowed: frozenset[str], field: str) -> str:
    text = trim_lower(value)
    if text and text not in allowed:
        raise intent_error(f"{field} {text!r} is not supported")
    return text


def _agent_identity(raw: dict[str, Any]) -> dict[str, Any]:
    path = "context.agent_identity."
    out: dict[str, Any] = {}
    states = uniq_sorted(str_list(raw, "lifecycle_states", path))
    if states:
        out["lifecycle_states"] = states
    for key in ("owner", "publisher"):
        text = trim(opt_str(raw, key, path))
        if text:
            out[key] = text
    manifest = hex64(opt_str(raw, "manifest_digest", path), f"{path}manifest_digest")
    if manifest:
        out["manifest_digest"] = manifest
    source = trim_lower(opt_str(raw, "source", path))
    if source:
        out["source"] = source
    issued = read_time(raw.get("issued_at"), f"{path}issued_at")
    approved = read_time(raw.get("approved_at"), f"{path}approved_at")
    expires = read_time(raw.get("expires_at"), f"{path}expires_at")
    if issued is not None and approved is not None and approved < issued:
        raise intent_error(f"{path}approved_at must not be before issued_at")
    if expires is not None and any(t is not None and expires <= t for t in (issued, approved)):
        raise intent_error(f"{path}expires_at must be after issued_at and approved_at")
    out["issued_at"] = time_text(issued)
    out["approved_at"] = time_text(approved)
    out["expires_at"] = time_text(expires)
    if opt_bool(raw, "revoked", path):
        out["revoked"] = True
    return out


def _clean_paths(items: list[str], field: str) -> list[str]:
    cleaned: set[str] = set()
    for item in items:
        text = trim(item)
        if ENV_ASSIGN.match(text):
            raise intent_error(f"{field} must not contain NAME=value entries")
        if not text:
            continue
        norm = posixpath.normpath(text)
        if norm.startswith("//"):
            norm = "/" + norm.lstrip("/")
        if norm != ".":
            cleaned.add(norm)
    return sorted(cleaned)


def _sandbox(raw: dict[str, Any]) -> dict[str, Any] | None:
    path = "context.sandbox."
    out: dict[str, Any] = {}
    enums = {
        "network_mode": frozenset({"disabled", "egress_allowlist", "full"}),
        "env_exposure_mode": frozenset({"none", "allowlist", "full"}),
        "filesystem_isolation": frozenset({"none", "workspace", "container"}),
        "user_mode": frozenset({"default", "root", "unprivileged"}),
    }
    for key, allowed in enums.items():
        text = _enum(opt_str(raw, key, path), allowed, f"{path}{key}")
        if text:
            out[key] = text
    for key in ("writable_paths", "read_only_roots"):
        paths = _clean_paths(str_list(raw, key, path), f"{path}{key}")
        if paths:
            out[key] = paths
    timeout = opt_int(raw, "timeout_seconds", path)
    if timeout:
        out["timeout_seconds"] = timeout
    ref = trim(opt_str(raw, "evidence_ref", path))
    if ENV_ASSIGN.match(ref):
        raise intent_error(f"{path}evidence_ref must not be a NAME=value entry")
    if ref:
        out["evidence_ref"] = ref
    evidence = hex64(opt_str(raw, "evidence_digest", path), f"{path}evidence_digest")
    if evidence:
        out["evidence_digest"] = evidence
    return out or None


_CONTEXT_RARE: Final = frozenset(
    {
        "credential_source",
        "credential_access_type",
        "context_evidence_mode",
        "credential_ttl_seconds",
        "credential_scopes",
        "context_refs",
        "context_set_digest",
        "auth_context",
        "agent_identity",
        "sandbox",
    }
)
"""Context keys read one by one after the trimmed strings (absent from most contexts)."""


def normalize_context(raw: Mapping[str, Any], unsafe: list[bool]) -> dict[str, Any]:
    ctx = opt_obj(raw, "context", "")
    if ctx is None:
        raise intent_error("context is required")
    p = "context."
    identity = trim(opt_str(ctx, "identity", p))
    workspace = trim(opt_str(ctx, "workspace", p)).replace("\\", "/")
    risk_class = trim_lower(opt_str(ctx, "risk_class", p))
    for name, value in (
        ("identity", identity),
        ("workspace", workspace),
        ("risk_class", risk_class),
    ):
        if not value:
            raise intent_error(f"context.{name} is required", "intent_context_missing")
    phase = trim_lower(opt_str(ctx, "phase", p)) or "apply"
    if phase not in ("plan", "apply"):
        raise intent_error(f"context.phase {phase!r} must be plan or apply")
    out: dict[str, Any] = {
        "identity": identity,
        "workspace": workspace,
        "risk_class": risk_class,
        "phase": phase,
    }
    for key in CONTEXT_TRIM_SET.intersection(ctx):
        text = trim(opt_str(ctx, key, p))
        if text:
            out[key] = text
    if _CONTEXT_RARE.isdisjoint(ctx):  # the common context: nothing more to read
        return out
    for key, allowed in (
        ("credential_source", CRED_SOURCES),
        ("credential_access_type", CRED_ACCESS),
        ("context_evidence_mode", frozenset({"best_effort", "required"})),
    ):
        text = _enum(opt_str(ctx, key, p), allowed, f"context.{key}")
        if text:
            out[key] = text
    ttl = opt_int(ctx, "credential_ttl_seconds", p)
    if ttl:
        out["credential_ttl_seconds"] = ttl
    for key in ("credential_scopes", "context_refs"):
        items = uniq_sorted(str_list(ctx, key, p))
        if items:
            out[key] = items
    set_digest = hex64(opt_str(ctx, "context_set_digest", p), "context.context_set_digest")
    if set_digest:
        out["context_set_digest"] = set_digest
    auth = opt_obj(ctx, "auth_context", p)
    if auth:
        normalized = free_form(auth, "context.auth_context", unsafe)
        check_credentials(normalized, "context.auth_context")
        if normalized:
            out["auth_context"] = normalized
    agent = opt_obj(ctx, "agent_identity", p)
    if agent is not None:
        out["agent_identity"] = _agent_identity(agent)
    sandbox = opt_obj(ctx, "sandbox", p)
    if sandbox is not None:
        box = _sandbox(sandbox)
        if box is not None:
            out["sandbox"] = box
    return out


# --------------------------------------------------------------------------- optional blocks


def normalize_skill(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    block = opt_obj(raw, "skill_provenance", "")
    if block is None:
        return None
    p = "skill_provenance."
    out: dict[str, Any] = {
        "skill_name": trim(opt_str(block, "skill_name", p)),
        "source": trim_lower(opt_str(block, "source", p)),
        "publisher": trim(opt_str(block, "publisher", p)),
    }
    for key in ("skill_name", "source", "publisher"):
        if not out[key]:
            raise intent_error(f"skill_provenance.{key} is required")
    version = trim(opt_str(block, "skill_version", p))
    if version:
        out["skill_version"] = version
    skill_digest = hex64(opt_str(block, "digest", p), "skill_provenance.digest")
    if skill_digest:
        out["digest"] = skill_digest
    key_id = trim(opt_str(block, "signature_key_id", p))
    if key_id:
        out["signature_key_id"] = key_id
    return out


def normalize_delegation(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    block = opt_obj(raw, "delegation", "")
    if block is None:
        return None
    p = "delegation."
    requester = trim(opt_str(block, "requester_identity", p))
    if not requester:
        raise intent_error("delegation.requester_identity is required")
    out: dict[str, Any] = {"requester_identity": requester}
    scope = trim_lower(opt_str(block, "scope_class", p))
    if scope:
        out["scope_class"] = scope
    refs = uniq_sorted(str_list(block, "token_refs", p))
    if refs:
        out["token_refs"] = refs
    chain: list[dict[str, Any]] = []
    previous = ""
    for i, link in enumerate(opt_list(block, "chain", p)):
        lp = f"delegation.chain[{i}]."
        if not isinstance(link, dict):
            raise intent_error(f"delegation.chain[{i}] must be an object", "intent_type")
        delegator = trim(opt_str(link, "delegator_identity", lp))
        delegate = trim(opt_str(link, "delegate_identity", lp))
        if not delegator or not delegate:
            raise intent_error(f"{lp}delegator_identity and delegate_identity are required")
        if i > 0 and delegator != previous:
            raise intent_error(f"{lp}delegator_identity must equal the previous delegate")
        previous = delegate
        entry: dict[str, Any] = {"delegator_identity": delegator, "delegate_identity": delegate}
        link_scope = trim_lower(opt_str(link, "scope_class", lp))
        if link_scope:
            entry["scope_class"] = link_scope
        token_ref = trim(opt_str(link, "token_ref", lp))
        if token_ref:
            entry["token_ref"] = token_ref
        entry.update(_window(link, lp))
        chain.append(entry)
    if chain:
        if previous != requester:
            raise intent_error("delegation chain must end at requester_identity")
        out["chain"] = chain
    out.update(_window(block, p))
    return out


def _window(block: dict[str, Any], path: str) -> dict[str, str]:
    issued = read_time(block.get("issued_at"), f"{path}issued_at")
    expires = read_time(block.get("expires_at"), f"{path}expires_at")
    if issued is not None and expires is not None and expires <= issued:
        raise intent_error(f"{path}expires_at must be after issued_at")
    return {"issued_at": time_text(issued), "expires_at": time_text(expires)}


def normalize_relationship(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    block = opt_obj(raw, "relationship", "")
    if not block:
        return None
    value = free_form(block, "relationship", [False])
    return value if isinstance(value, dict) else None
