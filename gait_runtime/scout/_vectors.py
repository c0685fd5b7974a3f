"""The per-run observation vectors and the run fingerprint (``gait.scout.run_fingerprint``).

Owns: the shared string helpers whose exact semantics decide fingerprints
(:func:`unique_sorted`, :func:`norm_id`, :func:`tool_class`), the five
observation vectors of one runpack and :func:`fingerprint_of` (the JCS digest of
those five vectors, equal to the Go implementation's for the same runpack), plus
the per-run base severity. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..artifacts.jcs import digest

__all__ = [
    "FINGERPRINT_SCHEMA_ID",
    "Observation",
    "base_severity",
    "fingerprint_of",
    "norm_id",
    "observe",
    "tool_class",
    "unique_sorted",
]

FINGERPRINT_SCHEMA_ID: Final = "gait.scout.run_fingerprint"
SCHEMA_VERSION: Final = "1.0.0"

_CLASS_RULES: Final = (
    ("destructive", ("delete", "drop", "destroy", "remove", "purge")),
    ("write", ("write", "update", "save", "send", "export", "create")),
    ("read", ("read", "list", "get", "search", "fetch")),
)
_PRIVILEGE: Final = {"destructive": 4, "write": 3, "execute": 2, "read": 1}
_SENSITIVE_HIGH: Final = ("prod", "payment", "finance", "customer", "pii", "db")
_SENSITIVE_MID: Final = ("internal", "staging", "queue")
_POLICY_WORDS: Final = ("policy", "approval", "blocked", "credential")
_OK_STATUSES: Final = frozenset({"ok", "success"})


def unique_sorted(values: Iterable[str]) -> list[str]:
    """Trim, drop empty, de-duplicate and sort by bytes (always a list).

    Code-point order equals UTF-8 byte order, so a plain sort matches Go's.
    """
    return sorted({t for v in values if (t := v.strip())})


def norm_id(text: str) -> str:
    """Lowercase and trim, map every non ``[a-z0-9]`` code point to ``_``, strip ``_``.

    Runs of ``_`` are not collapsed. An empty result becomes the first 16 hex
    chars of the sha256 of the lowercased, trimmed input (so ``norm_id("")`` is
    ``e3b0c44298fc1c14``), exactly as the Go implementation does.
    """
    lowered = text.strip().lower()
    mapped = "".join(c if ("a" <= c <= "z" or "0" <= c <= "9") else "_" for c in lowered)
    out = mapped.strip("_")
    if out:
        return out
    return hashlib.sha256(lowered.encode("utf-8")).hexdigest()[:16]


def tool_class(name: str) -> str:
    """``destructive``, ``write``, ``read`` or ``execute`` by keyword (first rule wins)."""
    lowered = name.lower()
    for label, words in _CLASS_RULES:
        if any(w in lowered for w in words):
            return label
    return "execute"


@dataclass(frozen=True, slots=True)
class Observation:
    """What scout keeps of one runpack.

    Attributes:
        run_id: ``run.json``'s run id.
        source: the runpack path as given (empty when unknown).
        action_sequence: intents' tool names in file order.
        tool_classes: sorted distinct tool classes.
        target_systems: sorted distinct ``type:locator`` ids of the receipts.
        reason_code_vector: sorted distinct reason codes (results, traces, regress).
        ref_receipt_digests: sorted distinct 64-hex receipt content digests.
        max_privilege: highest privilege score over the intents (at least 1).
        trace_count: trace files attributed to this run.
        regress_evidence_seen: at least one regress reason belongs to this run.
    """

    run_id: str
    source: str
    action_sequence: list[str]
    tool_classes: list[str]
    target_systems: list[str]
    reason_code_vector: list[str]
    ref_receipt_digests: list[str]
    max_privilege: int
    trace_count: int = 0
    regress_evidence_seen: bool = False

    @property
    def vectors(self) -> dict[str, list[str]]:
        """The five fingerprinted vectors."""
        return {
            "action_sequence": self.action_sequence,
            "tool_classes": self.tool_classes,
            "target_systems": self.target_systems,
            "reason_code_vector": self.reason_code_vector,
            "ref_receipt_digests": self.ref_receipt_digests,
        }

    def record(self, fingerprint: str, *, created_at: str, producer_version: str) -> dict[str, Any]:
        """The ``gait.scout.run_fingerprint`` record, fields in the Go order."""
        out: dict[str, Any] = {
            "schema_id": FINGERPRINT_SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "created_at": created_at,
            "producer_version": producer_version,
            "run_id": self.run_id,
            "fingerprint": fingerprint,
            **self.vectors,
        }
        if self.source:
            out["source_runpack"] = self.source
        if self.trace_count:
            out["trace_count"] = self.trace_count
        if self.regress_evidence_seen:
            out["regress_evidence_seen"] = True
        return out


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def observe(
    *,
    run_id: str,
    source: str,
    intents: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    receipts: Sequence[Mapping[str, Any]],
    trace_reasons: Sequence[str] = (),
    trace_count: int = 0,
    regress_reasons: Sequence[str] = (),
) -> Observation:
    """Build the observation of one run from its decoded records."""
    actions = [name for r in intents if (name := _text(r, "tool_name").strip())]
    classes = [tool_class(a) for a in actions]
    targets = [
        norm_id(_text(r, "source_type")) + ":" + norm_id(_text(r, "source_locator"))[:48]
        for r in receipts
    ]
    digests = [d for r in receipts if len(d := _text(r, "content_digest").strip().lower()) == 64]
    reasons = [
        "result_status_" + status
        for r in results
        if (status := norm_id(_text(r, "status"))) not in _OK_STATUSES
    ]
    return Observation(
        run_id=run_id,
        source=source,
        action_sequence=actions,
        tool_classes=unique_sorted(classes),
        target_systems=unique_sorted(targets),
        reason_code_vector=unique_sorted([*reasons, *trace_reasons, *regress_reasons]),
        ref_receipt_digests=unique_sorted(digests),
        max_privilege=max([1, *(_PRIVILEGE[c] for c in classes)]),
        trace_count=trace_count,
        regress_evidence_seen=bool(regress_reasons),
    )


def fingerprint_of(observation: Observation) -> str:
    """JCS sha256 of the five vectors (run id, times and digests of args excluded)."""
    return digest(observation.vectors)


def base_severity(observation: Observation) -> int:
    """``max_privilege*30 + target_sensitivity*15 + policy_posture*10 + min(reasons, 9)``."""
    sensitivity = 1
    for target in observation.target_systems:
        if any(w in target for w in _SENSITIVE_HIGH):
            sensitivity = max(sensitivity, 3)
        elif any(w in target for w in _SENSITIVE_MID):
            sensitivity = max(sensitivity, 2)
    reasons = observation.reason_code_vector
    posture = 2 if any(w in r for r in reasons for w in _POLICY_WORDS) else 0
    return observation.max_privilege * 30 + sensitivity * 15 + posture * 10 + min(len(reasons), 9)
