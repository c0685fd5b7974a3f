"""Journal records: the on-disk envelope, the three record types and their relationships.

Owns: the msgspec structs of ``spec/sessions.md`` §2 (header, event and
checkpoint records inside a ``{"record_type": ...}`` envelope), with fields in
the Go implementation's struct order so our lines read like Go's; the
:class:`EventFields` input of an append and its normalisation (§2.2); the
relationship envelopes of §2.5; and the checkpoint digest of §4.3. It does no
I/O and knows nothing about files, locks or tasks.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from ...artifacts.timefmt import format_ns
from ...errors import SessionInputError

__all__ = [
    "CHECKPOINT_SCHEMA",
    "EVENT_SCHEMA",
    "HEADER_SCHEMA",
    "SCHEMA_VERSION",
    "VERDICTS",
    "CheckpointRecord",
    "Envelope",
    "EventFields",
    "EventRecord",
    "Relationship",
    "HeaderRecord",
    "build_event",
    "checkpoint_digest",
    "checkpoint_relationship",
    "decode_event_fields",
    "encode_events",
    "encode_line",
    "event_relationship",
    "normalize_fields",
    "timeline_checkpoint_relationship",
    "timeline_event_relationship",
]

HEADER_SCHEMA: Final = "gait.runpack.session_journal"
EVENT_SCHEMA: Final = "gait.runpack.session_event"
CHECKPOINT_SCHEMA: Final = "gait.runpack.session_checkpoint"
SCHEMA_VERSION: Final = "1.0.0"
VERDICTS: Final = frozenset({"allow", "block", "dry_run", "require_approval"})

_ENTITY_KINDS: Final = frozenset(
    {"agent", "tool", "resource", "policy", "run", "trace", "delegation", "evidence"}
)
_EDGE_KINDS: Final = frozenset(
    {"delegates_to", "calls", "governed_by", "targets", "derived_from", "emits_evidence"}
)


class Ref(msgspec.Struct, omit_defaults=True):
    """A ``{kind, id}`` reference inside a relationship envelope."""

    kind: str = ""
    id: str = ""


class Edge(msgspec.Struct, omit_defaults=True, rename={"from_": "from"}):
    """A typed edge ``kind: from -> to``."""

    kind: str = ""
    from_: Ref | None = None
    to: Ref | None = None


class PolicyRef(msgspec.Struct, omit_defaults=True):
    """The policy a record was governed by."""

    policy_id: str = ""
    policy_version: str = ""
    policy_digest: str = ""
    matched_rule_ids: list[str] = msgspec.field(default_factory=list)


class AgentLink(msgspec.Struct, omit_defaults=True):
    """One hop of an agent delegation chain."""

    identity: str = ""
    role: str = ""


class Relationship(msgspec.Struct, omit_defaults=True):
    """Deterministic graph hints of ``spec/sessions.md`` §2.5, fields in Go order."""

    parent_ref: Ref | None = None
    entity_refs: list[Ref] = msgspec.field(default_factory=list)
    policy_ref: PolicyRef | None = None
    agent_chain: list[AgentLink] = msgspec.field(default_factory=list)
    edges: list[Edge] = msgspec.field(default_factory=list)
    parent_record_id: str = ""
    related_record_ids: list[str] = msgspec.field(default_factory=list)
    related_entity_ids: list[str] = msgspec.field(default_factory=list)
    agent_lineage: list[str] = msgspec.field(default_factory=list)


class HeaderRecord(msgspec.Struct):
    """First record of a journal (``gait.runpack.session_journal``).

    ``events`` is ``[]`` in a fresh journal and ``null`` after compaction (a Go
    artefact that readers ignore); it is always written, never omitted.
    """

    schema_id: str = ""
    schema_version: str = ""
    created_at: str = ""
    producer_version: str = ""
    session_id: str = ""
    run_id: str = ""
    started_at: str = ""
    events: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class EventRecord(msgspec.Struct, omit_defaults=True):
    """One appended decision or tool result (``gait.runpack.session_event``)."""

    schema_id: str = ""
    schema_version: str = ""
    created_at: str = ""
    producer_version: str = ""
    session_id: str = ""
    run_id: str = ""
    sequence: int = 0
    intent_id: str = ""
    tool_name: str = ""
    intent_digest: str = ""
    policy_digest: str = ""
    policy_id: str = ""
    policy_version: str = ""
    matched_rule_ids: list[str] = msgspec.field(default_factory=list)
    trace_id: str = ""
    trace_path: str = ""
    verdict: str = ""
    reason_codes: list[str] = msgspec.field(default_factory=list)
    violations: list[str] = msgspec.field(default_factory=list)
    safety_invariant_version: str = ""
    safety_invariant_hash: str = ""
    relationship: Relationship | None = None


class CheckpointRecord(msgspec.Struct, omit_defaults=True):
    """A checkpoint: a prefix of events turned into a runpack (``gait.runpack.session_checkpoint``)."""

    schema_id: str = ""
    schema_version: str = ""
    created_at: str = ""
    producer_version: str = ""
    session_id: str = ""
    run_id: str = ""
    checkpoint_index: int = 0
    sequence_start: int = 0
    sequence_end: int = 0
    runpack_path: str = ""
    manifest_digest: str = ""
    prev_checkpoint_digest: str = ""
    checkpoint_digest: str = ""
    safety_invariant_version: str = ""
    safety_invariant_hash: str = ""
    relationship: Relationship | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON object (for CLI output and the chain file)."""
        out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(self))
        return out


class Envelope(msgspec.Struct, omit_defaults=True):
    """One journal line: ``record_type`` plus exactly one payload."""

    record_type: str = ""
    header: HeaderRecord | None = None
    event: EventRecord | None = None
    checkpoint: CheckpointRecord | None = None


class EventFields(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a caller supplies for one append (``spec/sessions.md`` §2.2).

    ``created_at_ns`` is the decision time in Unix nanoseconds; ``None`` means
    "now" on the session's clock.
    """

    tool_name: str
    verdict: str
    intent_id: str = ""
    trace_id: str = ""
    trace_path: str = ""
    intent_digest: str = ""
    policy_digest: str = ""
    policy_id: str = ""
    policy_version: str = ""
    reason_codes: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()
    created_at_ns: int | None = None
    matched_rule_ids: tuple[str, ...] = ()


_ENCODER: Final = msgspec.json.Encoder()
_FIELDS_DECODER: Final = msgspec.json.Decoder(EventFields)


def encode_line(envelope: Envelope) -> bytes:
    """One journal line (compact JSON, Go field order) with its ``\\n``."""
    return _ENCODER.encode(envelope) + b"\n"


def encode_events(records: Sequence[EventRecord]) -> bytes:
    """The journal lines of ``records``, in order, each with its ``\\n`` (one encoder call)."""
    return _ENCODER.encode_lines([Envelope("event", event=r) for r in records])


def decode_event_fields(data: bytes | str, *, source: str = "event") -> EventFields:
    """Decode an append payload (JSON object) into :class:`EventFields`.

    Raises:
        SessionInputError: the payload is not JSON or not a valid event
            (``session_event_invalid``), naming the field at fault.
    """
    try:
        fields = _FIELDS_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise SessionInputError(
            f"{source}: invalid session event payload: {exc}", code="session_event_invalid"
        ) from exc
    return normalize_fields(fields)


def _clean_list(values: Sequence[str]) -> tuple[str, ...]:
    if not values:
        return ()
    if len(values) == 1:
        one = values[0].strip()
        return (one,) if one else ()
    return tuple(sorted({v.strip() for v in values if v.strip()}))


def normalize_fields(fields: EventFields) -> EventFields:
    """Apply §2.2 normalisation and check the verdict and tool name.

    Raises:
        SessionInputError: unknown verdict or empty tool name
            (``session_event_invalid``).
    """
    verdict = fields.verdict.strip().lower()
    if verdict not in VERDICTS:
        raise SessionInputError(
            # The text must not list the verdicts: "block" contains "lock", which the
            # Go exit-code quirk (runpack.md §13.3) would turn into exit 1.
            f"verdict: unsupported verdict {fields.verdict!r}",
            code="session_event_invalid",
        )
    tool = fields.tool_name.strip()
    if not tool:
        raise SessionInputError("tool_name: tool name is required", code="session_event_invalid")
    return EventFields(
        tool_name=tool,
        verdict=verdict,
        intent_id=fields.intent_id.strip(),
        trace_id=fields.trace_id.strip(),
        trace_path=fields.trace_path.strip(),
        intent_digest=fields.intent_digest.strip().lower(),
        policy_digest=fields.policy_digest.strip().lower(),
        policy_id=fields.policy_id.strip(),
        policy_version=fields.policy_version.strip(),
        reason_codes=_clean_list(fields.reason_codes),
        violations=_clean_list(fields.violations),
        created_at_ns=fields.created_at_ns,
        matched_rule_ids=_clean_list(fields.matched_rule_ids),
    )


def _refs(candidates: Sequence[tuple[str, str]]) -> list[Ref]:
    seen: set[tuple[str, str]] = set()
    for kind, ident in candidates:
        k, i = kind.strip().lower(), ident.strip()
        if k in _ENTITY_KINDS and i:
            seen.add((k, i))
    return [Ref(k, i) for k, i in sorted(seen)]


def _edges(candidates: Sequence[tuple[str, str, str, str, str]]) -> list[Edge]:
    seen: set[tuple[str, str, str, str, str]] = set()
    for kind, fk, fi, tk, ti in candidates:
        item = (kind.lower(), fk.lower(), fi.strip(), tk.lower(), ti.strip())
        if item[0] in _EDGE_KINDS and all(item):
            seen.add(item)
    return [Edge(k, Ref(fk, fi), Ref(tk, ti)) for k, fk, fi, tk, ti in sorted(seen)]


def _envelope(
    parent: tuple[str, str],
    refs: Sequence[tuple[str, str]],
    edges: Sequence[tuple[str, str, str, str, str]],
    policy_ref: PolicyRef | None = None,
) -> Relationship:
    entity_refs = _refs(refs)
    return Relationship(
        parent_ref=Ref(parent[0], parent[1]),
        entity_refs=entity_refs,
        policy_ref=policy_ref,
        edges=_edges(edges),
        parent_record_id=parent[1],
        related_entity_ids=sorted({r.id for r in entity_refs}),
    )


def event_relationship(session_id: str, run_id: str, f: EventFields) -> Relationship:
    """§2.5 envelope of a session event record."""
    policy_ref = None
    if f.policy_id or f.policy_version or f.policy_digest or f.matched_rule_ids:
        policy_ref = PolicyRef(
            f.policy_id, f.policy_version, f.policy_digest, list(f.matched_rule_ids)
        )
    edges: list[tuple[str, str, str, str, str]] = []
    if f.tool_name and f.policy_digest:
        edges.append(("governed_by", "tool", f.tool_name, "policy", f.policy_digest))
    return _envelope(
        ("session", session_id),
        [
            ("run", run_id),
            ("tool", f.tool_name),
            ("trace", f.trace_id),
            ("policy", f.policy_digest),
        ],
        edges,
        policy_ref,
    )


def checkpoint_relationship(
    session_id: str, run_id: str, cp_run_id: str, cp_digest: str, manifest_digest: str
) -> Relationship:
    """§2.5 envelope of a checkpoint record."""
    return _envelope(
        ("session", session_id),
        [
            ("run", run_id),
            ("run", cp_run_id),
            ("evidence", cp_digest),
            ("evidence", manifest_digest),
        ],
        [("derived_from", "evidence", cp_digest, "run", cp_run_id)],
    )


def timeline_event_relationship(cp_run_id: str, session_id: str, ev: EventRecord) -> Relationship:
    """§2.5 envelope of a ``session_event`` timeline entry in a checkpoint runpack."""
    edges: list[tuple[str, str, str, str, str]] = []
    if ev.trace_id:
        edges.append(("derived_from", "trace", ev.trace_id, "run", cp_run_id))
    if ev.tool_name and ev.policy_digest:
        edges.append(("governed_by", "tool", ev.tool_name, "policy", ev.policy_digest))
    return _envelope(
        ("run", cp_run_id),
        [
            ("trace", ev.trace_id),
            ("tool", ev.tool_name),
            ("policy", ev.policy_digest),
            ("evidence", session_id),
        ],
        edges,
    )


def timeline_checkpoint_relationship(cp_run_id: str, index: int) -> Relationship:
    """§2.5 envelope of the ``session_checkpoint_emitted`` timeline entry."""
    target = f"checkpoint:{index}"
    return _envelope(
        ("run", cp_run_id),
        [("evidence", target)],
        [("emits_evidence", "run", cp_run_id, "evidence", target)],
    )


_REL_CACHE: dict[tuple[object, ...], Relationship] = {}
_REL_CACHE_MAX: Final = 4096
_SECOND_TEXT: list[tuple[int, str]] = [(-1, "")]


def _time_text(unix_ns: int) -> str:
    """``format_ns`` with the date-and-seconds prefix cached (many events share a second)."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    cached_second, prefix = _SECOND_TEXT[0]
    if cached_second != seconds:
        prefix = format_ns(seconds * 1_000_000_000)[:-1]
        _SECOND_TEXT[0] = (seconds, prefix)
    if nanos:
        return f"{prefix}.{nanos:09d}".rstrip("0") + "Z"
    return prefix + "Z"


def _cached_relationship(session_id: str, run_id: str, f: EventFields) -> Relationship:
    """Event relationships repeat (same tool and policy); records never mutate them.

    The trace id differs per decision, so the cache holds the envelope without
    it and the trace reference is added here: ``trace`` sorts after every other
    kind of an event's entity refs (policy, run, tool), so its ref goes last,
    and its id joins the sorted, de-duplicated ``related_entity_ids``. Equal to
    :func:`event_relationship` (a test holds the two together).
    """
    key = (
        session_id,
        run_id,
        f.tool_name,
        f.policy_digest,
        f.policy_id,
        f.policy_version,
        f.matched_rule_ids,
    )
    base = _REL_CACHE.get(key)
    if base is None:
        if len(_REL_CACHE) >= _REL_CACHE_MAX:
            _REL_CACHE.clear()
        base = _REL_CACHE[key] = event_relationship(session_id, run_id, _without_trace(f))
    trace = f.trace_id
    if not trace:
        return base
    related = base.related_entity_ids
    at = bisect.bisect_left(related, trace)
    if at == len(related) or related[at] != trace:
        related = [*related[:at], trace, *related[at:]]
    return Relationship(
        parent_ref=base.parent_ref,
        entity_refs=[*base.entity_refs, Ref("trace", trace)],
        policy_ref=base.policy_ref,
        agent_chain=base.agent_chain,
        edges=base.edges,
        parent_record_id=base.parent_record_id,
        related_record_ids=base.related_record_ids,
        related_entity_ids=related,
        agent_lineage=base.agent_lineage,
    )


def _without_trace(f: EventFields) -> EventFields:
    return msgspec.structs.replace(f, trace_id="")


def build_event(
    session_id: str,
    run_id: str,
    sequence: int,
    fields: EventFields,
    created_at_ns: int,
    producer_version: str,
) -> EventRecord:
    """Make the event record for an already normalised :class:`EventFields`."""
    return EventRecord(
        schema_id=EVENT_SCHEMA,
        schema_version=SCHEMA_VERSION,
        created_at=_time_text(created_at_ns),
        producer_version=producer_version or "0.0.0-dev",
        session_id=session_id,
        run_id=run_id,
        sequence=sequence,
        intent_id=fields.intent_id,
        tool_name=fields.tool_name,
        intent_digest=fields.intent_digest,
        policy_digest=fields.policy_digest,
        policy_id=fields.policy_id,
        policy_version=fields.policy_version,
        matched_rule_ids=list(fields.matched_rule_ids),
        trace_id=fields.trace_id,
        trace_path=fields.trace_path,
        verdict=fields.verdict,
        reason_codes=list(fields.reason_codes),
        violations=list(fields.violations),
        relationship=_cached_relationship(session_id, run_id, fields),
    )


def checkpoint_digest(manifest_digest: str, prev: str, index: int, start: int, end: int) -> str:
    """§4.3: sha256 of ``"<manifest>:<prev>:<index>:<start>:<end>"``."""
    text = f"{manifest_digest}:{prev}:{index}:{start}:{end}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
