"""Incidents become CI regressions: ``gait regress init|run|bootstrap``.

Owns the regress workspace of the Go implementation (``gait.yaml`` with JSON
content, ``fixtures/<name>/fixture.json`` + ``runpack.zip``), the grader
protocol and its entry-point registry (``gait_runtime.graders``), the built-in
graders (schema validation, replay exit code, trajectory, diff, context
digest), ``regress_result.json`` and the JUnit XML report. Synchronous; imports
only :mod:`gait_runtime.artifacts`, :mod:`gait_runtime.gate` and
:mod:`gait_runtime.runpack` of our own packages.

Sub-modules: ``workspace`` (config, fixtures, names), ``sequences`` (tool and
verdict sequences), ``graders`` (protocol, built-ins, registry), ``init``,
``run`` (loading, grading, result, summary), ``junit``.
"""

from __future__ import annotations

from .graders import Grader as Grader
from .graders import GraderContext as GraderContext
from .graders import GraderResult as GraderResult
from .graders import installed_graders as installed_graders
from .init import ChainVerifier as ChainVerifier
from .init import InitResult as InitResult
from .init import init_fixture as init_fixture
from .run import RunOutcome as RunOutcome
from .run import run_regress as run_regress
from .workspace import CONFIG_PATH as CONFIG_PATH
from .workspace import DEFAULT_OUTPUT as DEFAULT_OUTPUT

__all__ = [
    "CONFIG_PATH",
    "DEFAULT_OUTPUT",
    "ChainVerifier",
    "Grader",
    "GraderContext",
    "GraderResult",
    "InitResult",
    "RunOutcome",
    "init_fixture",
    "installed_graders",
    "run_regress",
]
