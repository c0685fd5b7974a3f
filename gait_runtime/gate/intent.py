"""IntentRequest parsing, normalisation and digests (``spec/gate.md`` §0-2).

Owns: decoding intent JSON the way the Go implementation does (free-form numbers
as doubles, U+FFFD for bad UTF-8 and lone surrogates, unknown keys dropped),
every normalisation rule of §2 (trim/lower, target inference, de-duplication,
sorting, defaults, raw-credential rejection), the context-claim stripping of
§2.6, and ``args_digest`` / ``intent_digest``. Does not own policy matching or
any file access: callers pass bytes or an already decoded dict.

The digest preimage is one contract, read in three private modules:
:mod:`._intent_values` (vocabularies, :class:`Target`, :class:`NormalizedIntent`),
:mod:`._intent_parse` (JSON decoding, field readers, free-form values) and
:mod:`._intent_blocks` (targets, provenance, context, identity, sandbox, skill,
delegation); this module assembles them and owns the digests.

Hot-path note: free-form numbers are doubles, but integral doubles with
``|x| < 2**53`` are stored as Python ``int`` so that the fast path of
:func:`gait_runtime.artifacts.jcs.canonicalize` applies; RFC 8785 prints ``3.0``
as ``3`` either way (proved by a Hypothesis test).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from ..artifacts.jcs import digest
from ..artifacts.timefmt import EPOCH_1980
from ._intent_blocks import (
    normalize_context,
    normalize_delegation,
    normalize_provenance,
    normalize_relationship,
    normalize_skill,
    normalize_targets,
)
from ._intent_parse import (
    canonical_bytes,
    check_credentials,
    free_form,
    intent_error,
    read_time,
    time_text,
)
from ._intent_parse import parse_intent_json as parse_intent_json
from ._intent_values import DISCOVERY_METHODS as DISCOVERY_METHODS
from ._intent_values import ENDPOINT_CLASSES as ENDPOINT_CLASSES
from ._intent_values import INTENT_SCHEMA_ID as INTENT_SCHEMA_ID
from ._intent_values import INTENT_SCHEMA_VERSION as INTENT_SCHEMA_VERSION
from ._intent_values import PROVENANCE_SOURCES as PROVENANCE_SOURCES
from ._intent_values import TARGET_KINDS as TARGET_KINDS
from ._intent_values import NormalizedIntent as NormalizedIntent
from ._intent_values import Target as Target
from ._strings import trim, trim_lower

__all__ = [
    "INTENT_SCHEMA_ID",
    "INTENT_SCHEMA_VERSION",
    "NormalizedIntent",
    "Target",
    "normalize_intent",
    "parse_intent_json",
    "strip_context_claims",
]


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
            raise intent_error(f"{key} must be {expected!r}, got {value!r}", "intent_schema")


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
        raise intent_error("intent is nested too deeply") from exc


def _normalize(raw: Mapping[str, Any], strip_context_claims: bool) -> NormalizedIntent:
    _check_schema(raw)
    if raw.get("script") is not None:
        raise intent_error("script intents are not supported", "intent_script_unsupported")
    tool_raw = raw.get("tool_name")
    if tool_raw is not None and not isinstance(tool_raw, str):
        raise intent_error("tool_name must be a string", "intent_type")
    tool_name = trim_lower(tool_raw or "")
    if not tool_name:
        raise intent_error("tool_name is required", "intent_tool_missing")
    args_raw = raw.get("args")
    if args_raw is None:
        args_raw = {}
    if not isinstance(args_raw, dict):
        raise intent_error("args must be an object", "intent_type")
    unsafe = [False]
    args = free_form(args_raw, "args", unsafe)
    check_credentials(args, "args")
    targets = normalize_targets(raw, tool_name)
    provenance = normalize_provenance(raw)
    context = normalize_context(raw, unsafe)
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
    skill = normalize_skill(raw)
    if skill is not None:
        preimage["skill_provenance"] = skill
    delegation = normalize_delegation(raw)
    if delegation is not None:
        preimage["delegation"] = delegation
    created_raw = raw.get("created_at")
    if type(created_raw) is str and created_raw:
        created_at = _created_at_text(created_raw)
    else:
        created = read_time(created_raw, "created_at")
        created_at = time_text(created) if created is not None else EPOCH_1980.utc_text()
    producer = raw.get("producer_version")
    return NormalizedIntent(
        tool_name=tool_name,
        args=args,
        args_digest=hashlib.sha256(canonical_bytes(args, not unsafe[0])).hexdigest(),
        intent_digest=hashlib.sha256(canonical_bytes(preimage, not unsafe[0])).hexdigest(),
        targets=targets,
        provenance_sources=frozenset(p["source"] for p in provenance),
        context=context,
        preimage=preimage,
        created_at=created_at,
        producer_version=trim(producer) if isinstance(producer, str) else "",
        relationship=normalize_relationship(raw),
        has_delegation=delegation is not None,
        destructive=any(t.destructive for t in targets),
    )


@functools.lru_cache(maxsize=1024)
def _created_at_text(value: str) -> str:
    """Go RFC3339Nano text of a ``created_at`` string (memoised: callers repeat them).

    Raises:
        IntentError: not RFC 3339 (errors are not cached).
    """
    return time_text(read_time(value, "created_at"))


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
