"""Scout: a local, offline signal engine over runpacks, checkpoints, traces and regress results.

``build_signal_report`` turns thousands of runs into a few incident families
(by run fingerprint), attributes drift to policy, tool-result shape, reference
set or configuration changes, ranks the families by risk and suggests the next
fix (``gait scout signal``). Synchronous and offline; never imports anyio.

Modules: ``_vectors`` (observation vectors, fingerprints, base severity),
``families`` (clustering, drivers, ranking, suggestions), ``baseline``
(comparison with a previous report), ``_inputs`` (sources, evidence, skips),
``signal`` (the streaming engine and report), ``summary`` (text rendering).
"""

from __future__ import annotations

from ._inputs import Skip as Skip
from ._vectors import Observation as Observation
from ._vectors import fingerprint_of as fingerprint_of
from ._vectors import norm_id as norm_id
from ._vectors import observe as observe
from ._vectors import tool_class as tool_class
from ._vectors import unique_sorted as unique_sorted
from .signal import EPOCH as EPOCH
from .signal import REPORT_SCHEMA as REPORT_SCHEMA
from .signal import SignalReport as SignalReport
from .signal import build_signal_report as build_signal_report
from .signal import load_baseline as load_baseline
from .summary import summary_lines as summary_lines

__all__ = [
    "EPOCH",
    "REPORT_SCHEMA",
    "Observation",
    "SignalReport",
    "Skip",
    "build_signal_report",
    "fingerprint_of",
    "load_baseline",
    "norm_id",
    "observe",
    "summary_lines",
    "tool_class",
    "unique_sorted",
]
