"""IntentRequest parsing, normalisation and digests (``spec/gate.md`` §0-2).

Owns: decoding intent JSON the way the Go implementation does (free-form numbers
as doubles, U+FFFD for bad UTF-8 and lone surrogates, unknown keys dropped),
every normalisation rule of §2 (trim/lower, target inference, de-duplication,
sorting, defaults, raw-credential rejection), the context-claim stripping of
§2.6, and ``args_digest`` / ``intent_digest``. Does not own policy matching or
any file access: callers pass bytes or an already decoded dict.

The module is long (about 1000 lines) because the digest preimage is one
contract: every block of §1-2 (targets, provenance, context, agent identity,
sandbox, skill provenance, delegation) must be normalised by the same rules in
one place, and most of the length is the Go-exact key tables.

Hot-path note: free-form numbers are doubles, but integral doubles with
``|x| < 2**53`` are stored as Python ``int`` so that the fast path of
:func:`gait_runtime.artifacts.jcs.canonicalize` applies; RFC 8785 prints ``3.0``
as ``3`` either way (proved by a Hypothesis test).
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from ..artifacts.jcs import canonicalize, digest
from ..artifacts.timefmt import EPOCH_1980, ZERO_TIME_TEXT, parse_rfc3339
from ..errors import ArtifactInputError, IntentError
from ._strings import go_path_base, is_hex64, lower, trim, trim_lower, uniq_sorted

__all__ = [
    "INTENT_SCHEMA_ID",
    "INTENT_SCHEMA_VERSION",
    "NormalizedIntent",
    "Target",
    "normalize_intent",
    "parse_intent_json",
    "strip_context_claims",
]

INTENT_SCHEMA_ID: Final = "gait.gate.intent_request"
INTENT_SCHEMA_VERSION: Final = "1.0.0"
_SAFE: Final = 2**53
_SORTED: Final = msgspec.json.Encoder(order="sorted")

TARGET_KINDS: Final = frozenset(
    {"path", "url", "host", "repo", "bucket", "table", "queue", "topic", "other"}
)
ENDPOINT_CLASSES: Final = frozenset(
    {
        "fs.read",
        "fs.write",
        "fs.delete",
        "proc.exec",
        "net.http",
        "net.dns",
        "ui.click",
        "ui.type",
        "ui.navigate",
        "other",
    }
)
DISCOVERY_METHODS: Final = frozenset(
    {"webmcp", "dynamic_mcp", "a2a", "mcp", "static_mcp", "manual", "unknown"}
)
PROVENANCE_SOURCES: Final = frozenset({"user", "tool_output", "external", "system"})
_CRED_SOURCES: Final = frozenset(
    {
        "aws_iam_user",
        "aws_sts",
        "azure_federated",
        "command",
        "env",
        "gcp_sts",
        "github_oidc",
        "github_pat",
        "kubernetes_service_account",
        "stub",
        "unknown",
        "vault_dynamic",
    }
)
_CRED_ACCESS: Final = frozenset(
    {"cloud_admin", "inherited", "jit", "standing", "static", "unknown"}
)

_OPS_READ: Final = frozenset({"read", "get", "list", "open", "cat", "head", "download", "stat"})
_OPS_WRITE: Final = frozenset(
    {"write", "append", "put", "create", "update", "save", "copy", "move", "rename"}
)
_OPS_DELETE: Final = frozenset({"delete", "remove", "rm", "unlink", "rmdir", "drop", "truncate"})
_OPS_DNS: Final = frozenset({"dns", "resolve", "lookup"})
_OPS_EXEC: Final = frozenset({"exec", "spawn", "run", "shell", "command"})
_OPS_DESTRUCTIVE: Final = _OPS_DELETE | {"exec", "spawn"}

_CONTEXT_TRIM: Final = (
    "agent_id",
    "run_id",
    "workflow_id",
    "repo",
    "environment",
    "job_id",
    "session_id",
    "request_id",
    "credential_ref",
    "credential_issuer",
    "credential_subject",
    "credential_owner",
    "credential_target_binding",
    "credential_run_binding",
    "credential_job_binding",
    "approval_ref",
    "wrkr_inventory_ref",
    "agent_action_bom_ref",
    "environment_fingerprint",
)

_CONTEXT_TRIM_SET: Final = frozenset(_CONTEXT_TRIM)
_SECRET_KEY: Final = re.compile(r"token|secret|api[_-]?key|access[_-]?key|password|credential")
_SECRET_KEY_OK_SUFFIX: Final = (
    "_ref",
    "_refs",
    "_digest",
    "_digests",
    "_hash",
    "_issuer",
    "_source",
    "_type",
    "_ttl",
    "_ttl_seconds",
    "_id",
    "_ids",
    "_name",
    "_names",
    "_scope",
    "_scopes",
)
_SECRET_SAFE_PREFIX: Final = ("env:", "stub:", "cmd:", "ref:", "sha256:")
_SECRET_PREFIX: Final = ("ghp_", "gho_", "github_pat_", "sk-", "AKIA", "ASIA")
_HEX64_ANY: Final = re.compile(r"[0-9a-fA-F]{64}")
_ENV_ASSIGN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89abcdefABCDEF]")


@dataclass(frozen=True, slots=True)
class Target:
    """One normalised target (gate.md §1.2, §2.3)."""

    kind: str
    value: str
    operation: str = ""
    sensitivity: str = ""
    endpoint_class: str = ""
    endpoint_domain: str = ""
    destructive: bool = False
    discovery_method: str = "unknown"
    read_only_hint: bool = False
    destructive_hint: bool = False
    idempotent_hint: bool = False
    open_world_hint: bool = False

    def sort_key(self) -> tuple[str, str, str, str, str, str, bool, str, bool, bool, bool, bool]:
        """The de-duplication and ordering tuple of §2.3."""
        return (
            self.kind,
            self.value,
            self.operation,
            self.sensitivity,
            self.endpoint_class,
            self.endpoint_domain,
            self.destructive,
            self.discovery_method,
            self.read_only_hint,
            self.destructive_hint,
            self.idempotent_hint,
            self.open_world_hint,
        )

    def to_json(self) -> dict[str, Any]:
        """The target as it appears in the digest preimage (Go ``omitempty``)."""
        out: dict[str, Any] = {"kind": self.kind, "value": self.value}
        if self.operation:
            out["operation"] = self.operation
        if self.sensitivity:
            out["sensitivity"] = self.sensitivity
        if self.endpoint_class:
            out["endpoint_class"] = self.endpoint_class
        if self.endpoint_domain:
            out["endpoint_domain"] = self.endpoint_domain
        if self.destructive:
            out["destructive"] = True
        if self.discovery_method:
            out["discovery_method"] = self.discovery_method
        if self.read_only_hint:
            out["read_only_hint"] = True
        if self.destructive_hint:
            out["destructive_hint"] = True
        if self.idempotent_hint:
            out["idempotent_hint"] = True
        if self.open_world_hint:
            out["open_world_hint"] = True
        return out


@dataclass(frozen=True, slots=True)
class NormalizedIntent:
    """A normalised IntentRequest with its digests.

    Attributes:
        tool_name: lower-cased, trimmed tool name.
        args: normalised args (the ``args_digest`` preimage).
        args_digest: sha256 hex of JCS(args).
        intent_digest: sha256 hex of JCS(preimage).
        targets: normalised, de-duplicated, sorted targets.
        provenance_sources: the ``source`` of every ``arg_provenance`` entry.
        context: the normalised context object (as in the preimage).
        preimage: the digest preimage of §2.7.
        created_at: decision time text (UTC RFC3339Nano, 1980 fallback).
        producer_version: free text from the request.
        relationship: normalised relationship envelope (not digested), or None.
        has_delegation: the intent carries a ``delegation`` block.
        destructive: any target is destructive.
    """

    tool_name: str
    args: dict[str, Any]
    args_digest: str
    intent_digest: str
    targets: tuple[Target, ...]
    provenance_sources: frozenset[str]
    context: dict[str, Any]
    preimage: dict[str, Any]
    created_at: str
    producer_version: str
    relationship: dict[str, Any] | None = None
    has_delegation: bool = False
    destructive: bool = False

    @property
    def phase(self) -> str:
        """``plan`` or ``apply``."""
        return str(self.context["phase"])

    @property
    def risk_class(self) -> str:
        """Lower-cased risk class."""
        return str(self.context["risk_class"])

    @property
    def identity(self) -> str:
        """Caller identity from the context."""
        return str(self.context["identity"])

    @property
    def workspace(self) -> str:
        """Workspace path (``\\`` replaced by ``/``)."""
        return str(self.context["workspace"])

    @property
    def skill_provenance(self) -> dict[str, Any] | None:
        """The normalised ``skill_provenance`` block, if any."""
        value = self.preimage.get("skill_provenance")
        return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------- parsing


def parse_intent_json(data: bytes, *, source: str) -> dict[str, Any]:
    """Decode IntentRequest JSON bytes like the Go implementation.

    Invalid UTF-8 and lone surrogate escapes become U+FFFD; non-finite or
    out-of-range numbers are an input error. Integers stay ``int`` here; the
    free-form subtrees are converted to doubles during normalisation.

    Raises:
        IntentError: not JSON, not an object, or a number out of double range.
    """
    text = data.decode("utf-8", errors="replace")
    try:
        value = json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
    except _NumberRange as exc:
        raise IntentError(
            f"parse intent {source}: number out of range: {exc}", code="intent_number_range"
        ) from exc
    except ValueError as exc:
        raise IntentError(
            f"parse intent {source}: invalid JSON: {exc}", code="intent_json"
        ) from exc
    except RecursionError as exc:
        raise IntentError(f"parse intent {source}: nested too deeply", code="intent_json") from exc
    if not isinstance(value, dict):
        raise IntentError(
            f"parse intent {source}: intent must be a JSON object", code="intent_json"
        )
    if _SURROGATE_ESCAPE.search(data):
        fixed: dict[str, Any] = _replace_surrogates(value)
        return fixed
    return value


class _NumberRange(ValueError):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NumberRange(text)
    return value


def _reject_constant(text: str) -> float:
    raise ValueError(f"invalid JSON constant {text}")


def _fix_str(text: str) -> str:
    if text.isascii() or not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _fix_str(value)
    if isinstance(value, dict):
        return {_fix_str(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


# --------------------------------------------------------------------------- helpers


def _fail(message: str, code: str = "intent_invalid") -> IntentError:
    return IntentError(f"normalize intent: {message}", code=code)


def _opt_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(f"{path}{key} must be a string", "intent_type")
    return value


def _opt_bool(obj: Mapping[str, Any], key: str, path: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if type(value) is not bool:
        raise _fail(f"{path}{key} must be a boolean", "intent_type")
    return value


def _opt_int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if type(value) is not int:
        raise _fail(f"{path}{key} must be an integer", "intent_type")
    if value < 0:
        raise _fail(f"{path}{key} must be >= 0", "intent_range")
    if value >= _SAFE:
        raise _fail(f"{path}{key} is out of range", "intent_number_range")
    return value


def _opt_obj(obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(f"{path}{key} must be an object", "intent_type")
    return value


def _opt_list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(f"{path}{key} must be an array", "intent_type")
    return value


def _str_list(obj: Mapping[str, Any], key: str, path: str) -> list[str]:
    items = _opt_list(obj, key, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _fail(f"{path}{key}[{i}] must be a string", "intent_type")
    return items


def _hex64(value: str, field: str) -> str:
    text = trim_lower(value)
    if text and not is_hex64(text):
        raise _fail(f"{field} must be 64 lowercase hex characters")
    return text


def _time(value: Any, field: str) -> int | None:
    """Unix ns of an RFC 3339 field, or None when absent/empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(f"{field} must be an RFC 3339 string", "intent_time")
    try:
        return parse_rfc3339(trim(value), field=field).unix_ns
    except ArtifactInputError as exc:
        raise _fail(f"{field} must be RFC 3339: {value!r}", "intent_time") from exc


def _time_text(ns: int | None) -> str:
    from ..artifacts.timefmt import format_ns

    return ZERO_TIME_TEXT if ns is None else format_ns(ns)


# --------------------------------------------------------------------------- free-form values


def _number(value: int | float, path: str) -> int | float:
    """Go doubles; integral doubles below 2**53 kept as int (same JCS text)."""
    if isinstance(value, int):
        if -_SAFE < value < _SAFE:
            return value
        try:
            as_float = float(value)
        except OverflowError as exc:
            raise _fail(f"{path} number out of range", "intent_number_range") from exc
        if math.isinf(as_float):
            raise _fail(f"{path} number out of range", "intent_number_range")
        return as_float
    if math.isnan(value) or math.isinf(value):
        raise _fail(f"{path} number out of range", "intent_number_range")
    if value.is_integer() and -_SAFE < value < _SAFE:
        return int(value)
    return value


def _free_form(value: Any, path: str, unsafe: list[bool]) -> Any:
    """Trim strings and keys recursively; numbers become Go doubles.

    ``unsafe`` is set when the subtree holds something the fast canonical
    encoder does not print exactly like RFC 8785 (a float, or a key with a code
    point at or above U+D800 whose UTF-16 order may differ).
    """
    t = type(value)
    if t is str:
        return trim(value)
    if t is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            k = trim(key)
            if not k:
                raise _fail(f"{path} contains empty key")
            if not k.isascii() and any(ord(c) >= 0xD800 for c in k):
                unsafe[0] = True
            out[k] = _free_form(item, f"{path}.{k}", unsafe)
        return out
    if t is list:
        return [_free_form(v, f"{path}[{i}]", unsafe) for i, v in enumerate(value)]
    if t is int or t is float:
        number = _number(value, path)
        if type(number) is float:
            unsafe[0] = True
        return number
    return value


def _canonical(value: Any, safe: bool) -> bytes:
    """RFC 8785 bytes: the sorted msgspec encoding when ``safe`` (no floats, BMP keys).

    For such values the two encodings are byte-identical (property-tested in
    ``tests/gate/test_intent.py``); anything else goes through :func:`canonicalize`.
    """
    if safe:
        try:
            return _SORTED.encode(value)
        except UnicodeEncodeError:
            pass
    return canonicalize(value)


def _looks_like_secret(value: str) -> bool:
    text = trim(value)
    low = text.lower()
    if low.startswith(_SECRET_SAFE_PREFIX) or _HEX64_ANY.fullmatch(text):
        return False
    if text.startswith(_SECRET_PREFIX):
        return True
    if len(text.encode("utf-8")) < 16 or any(c in text for c in " \t\r\n"):
        return False
    has_letter = any(c.isascii() and c.isalpha() for c in text)
    has_digit = any(c.isascii() and c.isdigit() for c in text)
    return has_letter and has_digit


def _check_credentials(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            name = trim_lower(key)
            if (
                isinstance(item, str)
                and _SECRET_KEY.search(name)
                and not name.endswith(_SECRET_KEY_OK_SUFFIX)
                and _looks_like_secret(item)
            ):
                raise _fail(
                    f"{path}.{key} must not contain raw credential material; "
                    "use credential references or digests instead",
                    "intent_raw_credential",
                )
            _check_credentials(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_credentials(item, path)


# --------------------------------------------------------------------------- targets


def _infer_class(kind: str, op: str, tool_base: str) -> str:
    if kind == "path":
        if op in _OPS_READ:
            return "fs.read"
        if op in _OPS_WRITE:
            return "fs.write"
        if op in _OPS_DELETE:
            return "fs.delete"
        if any(h in tool_base for h in ("read", "list", "fetch", "search")):
            return "fs.read"
        if any(h in tool_base for h in ("write", "update", "save", "create")):
            return "fs.write"
        if any(h in tool_base for h in ("delete", "remove", "rm", "drop")):
            return "fs.delete"
        return "other"
    if kind in ("host", "url"):
        return "net.dns" if op in _OPS_DNS else "net.http"
    if kind == "other":
        if op in _OPS_EXEC:
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
        try:
            host = urlsplit(value).hostname
        except ValueError:
            return ""
        return lower(host or "")
    return ""


def _target(raw: Any, index: int, tool_base: str) -> Target:
    path = f"targets[{index}]."
    if not isinstance(raw, dict):
        raise _fail(f"targets[{index}] must be an object", "intent_type")
    kind = trim_lower(_opt_str(raw, "kind", path))
    value = trim(_opt_str(raw, "value", path))
    if not kind:
        raise _fail(f"targets[{index}].kind is required")
    if not value:
        raise _fail(f"targets[{index}].value is required")
    if kind not in TARGET_KINDS:
        raise _fail(f"targets[{index}].kind {kind!r} is not supported")
    op = trim_lower(_opt_str(raw, "operation", path))
    endpoint_class = trim_lower(_opt_str(raw, "endpoint_class", path))
    if endpoint_class and endpoint_class not in ENDPOINT_CLASSES:
        raise _fail(f"targets[{index}].endpoint_class {endpoint_class!r} is not supported")
    if not endpoint_class:
        endpoint_class = _infer_class(kind, op, tool_base)
    domain = trim_lower(_opt_str(raw, "endpoint_domain", path)) or _infer_domain(kind, value)
    method = trim_lower(_opt_str(raw, "discovery_method", path)).replace("-", "_").replace(" ", "_")
    method = method or "unknown"
    if method not in DISCOVERY_METHODS:
        raise _fail(f"targets[{index}].discovery_method {method!r} is not supported")
    destructive_hint = _opt_bool(raw, "destructive_hint", path)
    destructive = (
        _opt_bool(raw, "destructive", path)
        or destructive_hint
        or endpoint_class in ("fs.delete", "proc.exec")
        or op in _OPS_DESTRUCTIVE
    )
    return Target(
        kind=kind,
        value=value,
        operation=op,
        sensitivity=trim_lower(_opt_str(raw, "sensitivity", path)),
        endpoint_class=endpoint_class,
        endpoint_domain=domain,
        destructive=destructive,
        discovery_method=method,
        read_only_hint=_opt_bool(raw, "read_only_hint", path),
        destructive_hint=destructive_hint,
        idempotent_hint=_opt_bool(raw, "idempotent_hint", path),
        open_world_hint=_opt_bool(raw, "open_world_hint", path),
    )


def _targets(raw: dict[str, Any], tool_name: str) -> tuple[Target, ...]:
    tool_base = go_path_base(tool_name)
    items = _opt_list(raw, "targets", "")
    seen = {t.sort_key(): t for t in (_target(item, i, tool_base) for i, item in enumerate(items))}
    return tuple(seen[k] for k in sorted(seen))


def _provenance(raw: dict[str, Any]) -> list[dict[str, str]]:
    entries: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for i, item in enumerate(_opt_list(raw, "arg_provenance", "")):
        path = f"arg_provenance[{i}]."
        if not isinstance(item, dict):
            raise _fail(f"arg_provenance[{i}] must be an object", "intent_type")
        arg_path = trim(_opt_str(item, "arg_path", path))
        source = trim_lower(_opt_str(item, "source", path))
        ref = trim(_opt_str(item, "source_ref", path))
        integrity = _hex64(_opt_str(item, "integrity_digest", path), f"{path}integrity_digest")
        if not arg_path:
            raise _fail(f"arg_provenance[{i}].arg_path is required")
        if source not in PROVENANCE_SOURCES:
            raise _fail(f"arg_provenance[{i}].source {source!r} is not supported")
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
        raise _fail(f"{field} {text!r} is not supported")
    return text


def _agent_identity(raw: dict[str, Any]) -> dict[str, Any]:
    path = "context.agent_identity."
    out: dict[str, Any] = {}
    states = uniq_sorted(_str_list(raw, "lifecycle_states", path))
    if states:
        out["lifecycle_states"] = states
    for key in ("owner", "publisher"):
        text = trim(_opt_str(raw, key, path))
        if text:
            out[key] = text
    manifest = _hex64(_opt_str(raw, "manifest_digest", path), f"{path}manifest_digest")
    if manifest:
        out["manifest_digest"] = manifest
    source = trim_lower(_opt_str(raw, "source", path))
    if source:
        out["source"] = source
    issued = _time(raw.get("issued_at"), f"{path}issued_at")
    approved = _time(raw.get("approved_at"), f"{path}approved_at")
    expires = _time(raw.get("expires_at"), f"{path}expires_at")
    if issued is not None and approved is not None and approved < issued:
        raise _fail(f"{path}approved_at must not be before issued_at")
    if expires is not None and any(t is not None and expires <= t for t in (issued, approved)):
        raise _fail(f"{path}expires_at must be after issued_at and approved_at")
    out["issued_at"] = _time_text(issued)
    out["approved_at"] = _time_text(approved)
    out["expires_at"] = _time_text(expires)
    if _opt_bool(raw, "revoked", path):
        out["revoked"] = True
    return out


def _clean_paths(items: list[str], field: str) -> list[str]:
    cleaned: set[str] = set()
    for item in items:
        text = trim(item)
        if _ENV_ASSIGN.match(text):
            raise _fail(f"{field} must not contain NAME=value entries")
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
        text = _enum(_opt_str(raw, key, path), allowed, f"{path}{key}")
        if text:
            out[key] = text
    for key in ("writable_paths", "read_only_roots"):
        paths = _clean_paths(_str_list(raw, key, path), f"{path}{key}")
        if paths:
            out[key] = paths
    timeout = _opt_int(raw, "timeout_seconds", path)
    if timeout:
        out["timeout_seconds"] = timeout
    ref = trim(_opt_str(raw, "evidence_ref", path))
    if _ENV_ASSIGN.match(ref):
        raise _fail(f"{path}evidence_ref must not be a NAME=value entry")
    if ref:
        out["evidence_ref"] = ref
    evidence = _hex64(_opt_str(raw, "evidence_digest", path), f"{path}evidence_digest")
    if evidence:
        out["evidence_digest"] = evidence
    return out or None


def _context(raw: dict[str, Any], unsafe: list[bool]) -> dict[str, Any]:
    ctx = _opt_obj(raw, "context", "")
    if ctx is None:
        raise _fail("context is required")
    p = "context."
    identity = trim(_opt_str(ctx, "identity", p))
    workspace = trim(_opt_str(ctx, "workspace", p)).replace("\\", "/")
    risk_class = trim_lower(_opt_str(ctx, "risk_class", p))
    for name, value in (
        ("identity", identity),
        ("workspace", workspace),
        ("risk_class", risk_class),
    ):
        if not value:
            raise _fail(f"context.{name} is required", "intent_context_missing")
    phase = trim_lower(_opt_str(ctx, "phase", p)) or "apply"
    if phase not in ("plan", "apply"):
        raise _fail(f"context.phase {phase!r} must be plan or apply")
    out: dict[str, Any] = {
        "identity": identity,
        "workspace": workspace,
        "risk_class": risk_class,
        "phase": phase,
    }
    for key in _CONTEXT_TRIM_SET.intersection(ctx):
        text = trim(_opt_str(ctx, key, p))
        if text:
            out[key] = text
    for key, allowed in (
        ("credential_source", _CRED_SOURCES),
        ("credential_access_type", _CRED_ACCESS),
        ("context_evidence_mode", frozenset({"best_effort", "required"})),
    ):
        text = _enum(_opt_str(ctx, key, p), allowed, f"context.{key}")
        if text:
            out[key] = text
    ttl = _opt_int(ctx, "credential_ttl_seconds", p)
    if ttl:
        out["credential_ttl_seconds"] = ttl
    for key in ("credential_scopes", "context_refs"):
        items = uniq_sorted(_str_list(ctx, key, p))
        if items:
            out[key] = items
    set_digest = _hex64(_opt_str(ctx, "context_set_digest", p), "context.context_set_digest")
    if set_digest:
        out["context_set_digest"] = set_digest
    auth = _opt_obj(ctx, "auth_context", p)
    if auth:
        normalized = _free_form(auth, "context.auth_context", unsafe)
        _check_credentials(normalized, "context.auth_context")
        if normalized:
            out["auth_context"] = normalized
    agent = _opt_obj(ctx, "agent_identity", p)
    if agent is not None:
        out["agent_identity"] = _agent_identity(agent)
    sandbox = _opt_obj(ctx, "sandbox", p)
    if sandbox is not None:
        box = _sandbox(sandbox)
        if box is not None:
            out["sandbox"] = box
    return out


# --------------------------------------------------------------------------- optional blocks


def _skill(raw: dict[str, Any]) -> dict[str, Any] | None:
    block = _opt_obj(raw, "skill_provenance", "")
    if block is None:
        return None
    p = "skill_provenance."
    out: dict[str, Any] = {
        "skill_name": trim(_opt_str(block, "skill_name", p)),
        "source": trim_lower(_opt_str(block, "source", p)),
        "publisher": trim(_opt_str(block, "publisher", p)),
    }
    for key in ("skill_name", "source", "publisher"):
        if not out[key]:
            raise _fail(f"skill_provenance.{key} is required")
    version = trim(_opt_str(block, "skill_version", p))
    if version:
        out["skill_version"] = version
    skill_digest = _hex64(_opt_str(block, "digest", p), "skill_provenance.digest")
    if skill_digest:
        out["digest"] = skill_digest
    key_id = trim(_opt_str(block, "signature_key_id", p))
    if key_id:
        out["signature_key_id"] = key_id
    return out


def _delegation(raw: dict[str, Any]) -> dict[str, Any] | None:
    block = _opt_obj(raw, "delegation", "")
    if block is None:
        return None
    p = "delegation."
    requester = trim(_opt_str(block, "requester_identity", p))
    if not requester:
        raise _fail("delegation.requester_identity is required")
    out: dict[str, Any] = {"requester_identity": requester}
    scope = trim_lower(_opt_str(block, "scope_class", p))
    if scope:
        out["scope_class"] = scope
    refs = uniq_sorted(_str_list(block, "token_refs", p))
    if refs:
        out["token_refs"] = refs
    chain: list[dict[str, Any]] = []
    previous = ""
    for i, link in enumerate(_opt_list(block, "chain", p)):
        lp = f"delegation.chain[{i}]."
        if not isinstance(link, dict):
            raise _fail(f"delegation.chain[{i}] must be an object", "intent_type")
        delegator = trim(_opt_str(link, "delegator_identity", lp))
        delegate = trim(_opt_str(link, "delegate_identity", lp))
        if not delegator or not delegate:
            raise _fail(f"{lp}delegator_identity and delegate_identity are required")
        if i > 0 and delegator != previous:
            raise _fail(f"{lp}delegator_identity must equal the previous delegate")
        previous = delegate
        entry: dict[str, Any] = {"delegator_identity": delegator, "delegate_identity": delegate}
        link_scope = trim_lower(_opt_str(link, "scope_class", lp))
        if link_scope:
            entry["scope_class"] = link_scope
        token_ref = trim(_opt_str(link, "token_ref", lp))
        if token_ref:
            entry["token_ref"] = token_ref
        entry.update(_window(link, lp))
        chain.append(entry)
    if chain:
        if previous != requester:
            raise _fail("delegation chain must end at requester_identity")
        out["chain"] = chain
    out.update(_window(block, p))
    return out


def _window(block: dict[str, Any], path: str) -> dict[str, str]:
    issued = _time(block.get("issued_at"), f"{path}issued_at")
    expires = _time(block.get("expires_at"), f"{path}expires_at")
    if issued is not None and expires is not None and expires <= issued:
        raise _fail(f"{path}expires_at must be after issued_at")
    return {"issued_at": _time_text(issued), "expires_at": _time_text(expires)}


def _relationship(raw: dict[str, Any]) -> dict[str, Any] | None:
    block = _opt_obj(raw, "relationship", "")
    if not block:
        return None
    value = _free_form(block, "relationship", [False])
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------- entry points


def _check_schema(raw: Mapping[str, Any]) -> None:
    for key, expected in (
        ("schema_id", INTENT_SCHEMA_ID),
        ("schema_version", INTENT_SCHEMA_VERSION),
    ):
        value = raw.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or trim(value) != expected:
            raise _fail(f"{key} must be {expected!r}, got {value!r}", "intent_schema")


def normalize_intent(raw: Mapping[str, Any], *, strip_context_claims: bool) -> NormalizedIntent:
    """Normalise a decoded IntentRequest and compute its digests (gate.md §2).

    Args:
        raw: the decoded JSON object (see :func:`parse_intent_json`).
        strip_context_claims: remove unverified context-proof claims first
            (§2.6): true for ``gate eval`` and the service, false for ``policy test``.

    Raises:
        IntentError: any normalisation failure; the message names the field.
    """
    try:
        return _normalize(raw, strip_context_claims)
    except RecursionError as exc:
        raise _fail("intent is nested too deeply") from exc


def _normalize(raw: Mapping[str, Any], strip_context_claims: bool) -> NormalizedIntent:
    _check_schema(raw)
    if raw.get("script") is not None:
        raise _fail("script intents are not supported", "intent_script_unsupported")
    tool_raw = raw.get("tool_name")
    if tool_raw is not None and not isinstance(tool_raw, str):
        raise _fail("tool_name must be a string", "intent_type")
    tool_name = trim_lower(tool_raw or "")
    if not tool_name:
        raise _fail("tool_name is required", "intent_tool_missing")
    args_raw = raw.get("args")
    if args_raw is None:
        args_raw = {}
    if not isinstance(args_raw, dict):
        raise _fail("args must be an object", "intent_type")
    unsafe = [False]
    args = _free_form(args_raw, "args", unsafe)
    _check_credentials(args, "args")
    targets = _targets(dict(raw), tool_name)
    provenance = _provenance(dict(raw))
    context = _context(dict(raw), unsafe)
    if strip_context_claims:
        context = strip_context_claims_from(context)
    preimage: dict[str, Any] = {
        "tool_name": tool_name,
        "args": args,
        "targets": [t.to_json() for t in targets],
        "context": context,
    }
    if provenance:
        preimage["arg_provenance"] = provenance
    skill = _skill(dict(raw))
    if skill is not None:
        preimage["skill_provenance"] = skill
    delegation = _delegation(dict(raw))
    if delegation is not None:
        preimage["delegation"] = delegation
    created = _time(raw.get("created_at"), "created_at")
    producer = raw.get("producer_version")
    return NormalizedIntent(
        tool_name=tool_name,
        args=args,
        args_digest=hashlib.sha256(_canonical(args, not unsafe[0])).hexdigest(),
        intent_digest=hashlib.sha256(_canonical(preimage, not unsafe[0])).hexdigest(),
        targets=targets,
        provenance_sources=frozenset(p["source"] for p in provenance),
        context=context,
        preimage=preimage,
        created_at=(_time_text(created) if created is not None else EPOCH_1980.utc_text()),
        producer_version=trim(producer) if isinstance(producer, str) else "",
        relationship=_relationship(dict(raw)),
        has_delegation=delegation is not None,
        destructive=any(t.destructive for t in targets),
    )


def strip_context_claims_from(context: dict[str, Any]) -> dict[str, Any]:
    """Return ``context`` without unverified context-proof claims (gate.md §2.6)."""
    out = {
        k: v
        for k, v in context.items()
        if k not in ("context_set_digest", "context_evidence_mode", "context_refs")
    }
    auth = out.get("auth_context")
    if isinstance(auth, dict) and "context_age_seconds" in auth:
        rest = {k: v for k, v in auth.items() if k != "context_age_seconds"}
        if rest:
            out["auth_context"] = rest
        else:
            del out["auth_context"]
    return out


def strip_context_claims(intent: NormalizedIntent) -> NormalizedIntent:
    """The same intent with its context claims stripped and digests recomputed."""
    context = strip_context_claims_from(intent.context)
    if context == intent.context:
        return intent
    preimage = dict(intent.preimage)
    preimage["context"] = context
    return NormalizedIntent(
        tool_name=intent.tool_name,
        args=intent.args,
        args_digest=intent.args_digest,
        intent_digest=digest(preimage),
        targets=intent.targets,
        provenance_sources=intent.provenance_sources,
        context=context,
        preimage=preimage,
        created_at=intent.created_at,
        producer_version=intent.producer_version,
        relationship=intent.relationship,
        has_delegation=intent.has_delegation,
        destructive=intent.destructive,
    )
