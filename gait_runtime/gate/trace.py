"""Signed TraceRecords (``gait.gate.trace``, gate.md §6): build, sign, verify, write.

Owns: the trace body in the Go-canonical form of ``signing.md`` §4 (field set,
``omitempty`` rules, RFC3339Nano times), the deterministic ``trace_id``, the
per-emission ``event_id``, the relationship envelope, trace verification, and
the trace/audit file writers (pretty JSON, 0600, atomic; default trace names
embed ``event_id`` so no emission overwrites another). The clock is injected as
``observed_at_ns``.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..artifacts.fsutil import reject_parent_traversal, write_atomic
from ..artifacts.gojson import go_json_indent
from ..artifacts.jcs import short_id
from ..artifacts.signing import ALG, SigningKey, VerifyKey, signature_errors
from ..artifacts.timefmt import format_ns
from ..errors import ArtifactInputError
from ._canon import canonical_record

if TYPE_CHECKING:
    from .intent import NormalizedIntent
    from .model import CompiledPolicy

__all__ = [
    "TRACE_SCHEMA_ID",
    "Decision",
    "TraceVerifyResult",
    "build_trace",
    "default_trace_path",
    "event_id_for",
    "trace_id_for",
    "verify_trace",
    "write_json_artifact",
    "write_new_trace",
]

TRACE_SCHEMA_ID: Final = "gait.gate.trace"
TRACE_SCHEMA_VERSION: Final = "1.0.0"
DEFAULT_PRODUCER_VERSION: Final = "0.0.0-dev"

_CONTEXT_COPY: Final = (
    "agent_id",
    "agent_identity",
    "run_id",
    "workflow_id",
    "repo",
    "environment",
    "credential_ref",
    "credential_issuer",
    "credential_subject",
    "credential_owner",
    "credential_target_binding",
    "credential_run_binding",
    "credential_job_binding",
    "credential_source",
    "credential_access_type",
    "credential_ttl_seconds",
    "approval_ref",
    "wrkr_inventory_ref",
    "agent_action_bom_ref",
)


def trace_id_for(policy_digest: str, intent_digest: str, verdict: str) -> str:
    """Short id of ``<policy_digest>:<intent_digest>:<verdict>``."""
    return short_id(f"{policy_digest}:{intent_digest}:{verdict}")


def event_id_for(trace_id: str, observed_at: str) -> str:
    """Short id of ``<trace_id>:<observed_at RFC3339Nano>``."""
    return short_id(f"{trace_id}:{observed_at}")


_CONTEXT_COPY_SET: Final = frozenset(_CONTEXT_COPY)
_CONTEXT_CLAIMS: Final = frozenset({"context_set_digest", "context_evidence_mode", "context_refs"})


def _relationship(
    trace_id: str, tool: str, identity: str, session_id: str, policy: CompiledPolicy
) -> dict[str, Any]:
    # Entity refs sort by (kind, id); the four kinds are distinct and already in
    # order (agent < policy < tool < trace), so no sort is needed.
    digest = policy.digest
    agent = {"kind": "agent", "id": identity}
    tool_ref = {"kind": "tool", "id": tool}
    out: dict[str, Any] = {}
    if session_id:
        out["parent_ref"] = {"kind": "session", "id": session_id}
    out["entity_refs"] = [
        agent,
        {"kind": "policy", "id": digest},
        tool_ref,
        {"kind": "trace", "id": trace_id},
    ]
    out["policy_ref"] = {
        "policy_id": policy.policy_id,
        "policy_version": policy.policy_version,
        "policy_digest": digest,
    }
    out["agent_chain"] = [{"identity": identity, "role": "requester"}]
    out["edges"] = [
        {"kind": "calls", "from": agent, "to": tool_ref},
        {"kind": "governed_by", "from": tool_ref, "to": {"kind": "policy", "id": digest}},
    ]
    out["related_entity_ids"] = sorted({identity, digest, tool, trace_id})
    return out


class Decision(Protocol):
    """What a trace records of a decision: a :class:`GateResult` or a final outcome."""

    @property
    def verdict(self) -> str:
        """The final verdict."""
        ...

    @property
    def violations(self) -> tuple[str, ...]:
        """The final violations."""
        ...


def build_trace(
    policy: CompiledPolicy,
    intent: NormalizedIntent,
    result: Decision,
    *,
    observed_at_ns: int,
    signing_key: SigningKey,
    producer_version: str = DEFAULT_PRODUCER_VERSION,
    correlation_id: str | None = None,
    latency_ms: float | None = None,
    approval_token_ref: str | None = None,
) -> dict[str, Any]:
    """Build and sign a TraceRecord for one final decision.

    Args:
        policy: the compiled policy that decided.
        intent: the normalised (stripped) intent.
        result: the final decision (verdict and violations after approvals
            and simulate).
        observed_at_ns: emission time, Unix nanoseconds (injected clock).
        signing_key: key that signs the record.
        producer_version: producer version text.
        correlation_id: the CLI argv hash (gate eval only).
        latency_ms: evaluation latency; omitted when None or 0.
        approval_token_ref: comma-joined valid token ids.

    Returns:
        The signed record, keys in Go struct order.
    """
    verdict = result.verdict
    violations = result.violations
    digest = policy.digest
    trace_id = short_id(f"{digest}:{intent.intent_digest}:{verdict}")
    observed = format_ns(observed_at_ns)
    ctx = intent.context
    record: dict[str, Any] = {
        "schema_id": TRACE_SCHEMA_ID,
        "schema_version": TRACE_SCHEMA_VERSION,
        "created_at": intent.created_at,
        "observed_at": observed,
        "producer_version": producer_version or DEFAULT_PRODUCER_VERSION,
        "trace_id": trace_id,
        "event_id": short_id(f"{trace_id}:{observed}"),
    }
    if correlation_id:
        record["correlation_id"] = correlation_id
    record["tool_name"] = intent.tool_name
    record["args_digest"] = intent.args_digest
    record["intent_digest"] = intent.intent_digest
    record["policy_digest"] = digest
    record["policy_id"] = policy.policy_id
    record["policy_version"] = policy.policy_version
    record["verdict"] = verdict
    if violations:
        record["violations"] = list(violations)
    if latency_ms:
        record["latency_ms"] = float(latency_ms)
    if approval_token_ref:
        record["approval_token_ref"] = approval_token_ref
    if not _CONTEXT_COPY_SET.isdisjoint(ctx):  # most contexts carry none of them
        for key in _CONTEXT_COPY:
            value = ctx.get(key)
            if value:
                record[key] = value
    skill = intent.skill_provenance
    if skill:
        record["skill_provenance"] = skill
    if not _CONTEXT_CLAIMS.isdisjoint(ctx):
        for key in ("context_set_digest", "context_evidence_mode"):
            if ctx.get(key):
                record[key] = ctx[key]
        if ctx.get("context_refs"):
            record["context_ref_count"] = len(ctx["context_refs"])
    record["relationship"] = _relationship(
        trace_id, intent.tool_name, intent.identity, ctx.get("session_id") or "", policy
    )
    record["signature"] = _sign_fast(record, signing_key)
    return record


def _sign_fast(record: dict[str, Any], key: SigningKey) -> dict[str, str]:
    """The signing.md envelope over :func:`canonical_record` bytes (same as ``sign``)."""
    # Every key is a fixed ASCII name and every value a normalised string, bool,
    # small int or plain object, so only latency_ms needs the float splice.
    digest_bytes = hashlib.sha256(canonical_record(record, "latency_ms", checked=False)).digest()
    return {
        "alg": ALG,
        "key_id": key.key_id,
        "sig": binascii.b2a_base64(key.sign_digest(digest_bytes), newline=False).decode("ascii"),
        "signed_digest": digest_bytes.hex(),
    }


@dataclass(frozen=True, slots=True)
class TraceVerifyResult:
    """Outcome of :func:`verify_trace`.

    Attributes:
        ok: signature verified.
        trace_id: the record's ``trace_id`` ("" when absent).
        verdict: the record's ``verdict`` ("" when absent).
        key_id: key id of the verifying key.
        error: first failure text ("" when ok).
    """

    ok: bool
    trace_id: str
    verdict: str
    key_id: str
    error: str = ""


def verify_trace(trace: dict[str, Any], key: VerifyKey) -> TraceVerifyResult:
    """Verify a trace's signature over the record minus ``signature`` (signing.md §5)."""
    trace_id = trace.get("trace_id")
    verdict = trace.get("verdict")
    tid = trace_id if isinstance(trace_id, str) else ""
    ver = verdict if isinstance(verdict, str) else ""
    envelope = trace.get("signature")
    if envelope is None:
        return TraceVerifyResult(False, tid, ver, key.key_id, "missing signature")
    payload = {k: v for k, v in trace.items() if k != "signature"}
    try:
        errors = signature_errors(payload, envelope, key)
    except ArtifactInputError as exc:
        errors = [str(exc)]
    if errors:
        return TraceVerifyResult(False, tid, ver, key.key_id, errors[0])
    return TraceVerifyResult(True, tid, ver, key.key_id)


def write_json_artifact(path: str | Path, value: object) -> Path:
    """Write an artifact as Go writes it, atomically (0600); refuse ``..`` in relative paths.

    The bytes are ``json.MarshalIndent(v, "", "  ")`` plus a newline
    (:func:`~gait_runtime.artifacts.gojson.go_json_indent`: key order kept,
    ``<``, ``>``, ``&``, U+2028 and U+2029 escaped).
    """
    reject_parent_traversal(str(path))
    target = Path(path)
    write_atomic(target, go_json_indent(value) + b"\n")
    return target


def default_trace_path(directory: Path, trace: dict[str, Any]) -> Path:
    """``trace_<trace_id>_<event_id>.json`` inside ``directory``."""
    return directory / f"trace_{trace['trace_id']}_{trace['event_id']}.json"


def write_new_trace(directory: Path, trace: dict[str, Any]) -> Path:
    """Write a trace under its default name; never replace an existing file.

    Raises:
        ArtifactInputError: a file with that name already exists (an identical
            emission in the same nanosecond; callers re-sign with a later time).
    """
    target = default_trace_path(directory, trace)
    if target.exists():
        raise ArtifactInputError(f"trace file already exists: {target}", code="trace_exists")
    write_atomic(target, go_json_indent(trace) + b"\n")
    return target
