"""The soak and contention harness: a real supervisor, simulated agents, verified journals.

Owns the public surface of ``gait_runtime.harness``: loading workload profiles
(:func:`load_profile`) and runtime postures (:func:`load_posture`,
:func:`posture_serve_args`), running a profile end to end (:func:`run_soak`),
re-verifying a run's output directory (:func:`verify_run`), reading and
comparing reports (:func:`load_report`, :func:`compare_reports`). Modules:
``profile`` (workload YAML), ``posture`` (serve postures), ``process`` (the
supervisor subprocess), ``driver`` (agents over HTTP), ``stats``,
``capacity``, ``verify``, ``report``, ``plot``, ``compare``, ``runner``.
See ``docs/soak.md``.
"""

from __future__ import annotations

from ..supervisor.service.posture import load_posture as load_posture
from ..supervisor.service.posture import posture_serve_args as posture_serve_args
from .compare import compare_reports as compare_reports
from .profile import WorkloadProfile as WorkloadProfile
from .profile import apply_overrides as apply_overrides
from .profile import load_profile as load_profile
from .report import load_report as load_report
from .runner import RunOutcome as RunOutcome
from .runner import run_soak as run_soak
from .verify import VerifyResult as VerifyResult
from .verify import verify_run as verify_run

__all__ = [
    "RunOutcome",
    "VerifyResult",
    "WorkloadProfile",
    "apply_overrides",
    "compare_reports",
    "load_posture",
    "load_profile",
    "load_report",
    "posture_serve_args",
    "run_soak",
    "verify_run",
]
