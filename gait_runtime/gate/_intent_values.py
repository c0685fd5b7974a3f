"""IntentRequest vocabulary and the normalised values (gate.md §1-2).

Owns: the schema id/version, the target kinds, endpoint classes, discovery
methods, provenance and credential vocabularies, the operation classes used
for inference, the context keys kept after trimming, the secret-detection
patterns, and the :class:`Target` / :class:`NormalizedIntent` values. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

INTENT_SCHEMA_ID: Final = "gait.gate.intent_request"
INTENT_SCHEMA_VERSION: Final = "1.0.0"
SAFE: Final = 2**53

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
CRED_SOURCES: Final = frozenset(
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
CRED_ACCESS: Final = frozenset({"cloud_admin", "inherited", "jit", "standing", "static", "unknown"})

OPS_READ: Final = frozenset({"read", "get", "list", "open", "cat", "head", "download", "stat"})
OPS_WRITE: Final = frozenset(
    {"write", "append", "put", "create", "update", "save", "copy", "move", "rename"}
)
OPS_DELETE: Final = frozenset({"delete", "remove", "rm", "unlink", "rmdir", "drop", "truncate"})
OPS_DNS: Final = frozenset({"dns", "resolve", "lookup"})
OPS_EXEC: Final = frozenset({"exec", "spawn", "run", "shell", "command"})
OPS_DESTRUCTIVE: Final = OPS_DELETE | {"exec", "spawn"}

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

CONTEXT_TRIM_SET: Final = frozenset(_CONTEXT_TRIM)
SECRET_KEY: Final = re.compile(r"token|secret|api[_-]?key|access[_-]?key|password|credential")
SECRET_KEY_OK_SUFFIX: Final = (
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
SECRET_SAFE_PREFIX: Final = ("env:", "stub:", "cmd:", "ref:", "sha256:")
SECRET_PREFIX: Final = ("ghp_", "gho_", "github_pat_", "sk-", "AKIA", "ASIA")
HEX64_ANY: Final = re.compile(r"[0-9a-fA-F]{64}")
ENV_ASSIGN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89abcdefABCDEF]")


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
