"""Doctor: first-run and production-readiness diagnostics, adoption milestones, ``gait init``.

``run_doctor`` runs the environment checks (or the production-readiness
checks) in the contract order, each failing check with a fix to copy and
paste; ``adoption_report`` reads an adoption log; ``init_project`` writes a
starter policy. Synchronous and offline; never imports anyio.

Modules: ``_check`` (check and result roll-up), ``_options`` (the inputs of
a run), ``checks`` (the environment checks in contract order, built from
``_fs_checks``, ``_key_checks`` and ``_onboarding``), ``readiness``
(production settings), ``adoption`` (milestones report), ``starter``
(``gait init`` templates), ``run`` (putting a run together).
"""

from __future__ import annotations

from ._check import Check as Check
from ._check import DoctorResult as DoctorResult
from ._check import sh_quote as sh_quote
from .adoption import adoption_report as adoption_report
from .adoption import adoption_text as adoption_text
from .checks import DoctorOptions as DoctorOptions
from .readiness import config_readiness_checks as config_readiness_checks
from .readiness import serve_readiness_checks as serve_readiness_checks
from .run import run_doctor as run_doctor
from .starter import TEMPLATES as TEMPLATES
from .starter import InitResult as InitResult
from .starter import init_project as init_project
from .starter import template_text as template_text

__all__ = [
    "TEMPLATES",
    "Check",
    "DoctorOptions",
    "DoctorResult",
    "InitResult",
    "adoption_report",
    "adoption_text",
    "config_readiness_checks",
    "init_project",
    "run_doctor",
    "serve_readiness_checks",
    "sh_quote",
    "template_text",
]
