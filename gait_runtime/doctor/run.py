"""Putting one ``gait doctor`` run together.

Owns: :func:`run_doctor`: default mode (environment checks) or production
readiness (checks 1–4 and 8–10, then the production checks over
``.gait/config.yaml``, or over a posture profile and serve flags when given).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._check import DoctorResult
from .checks import DoctorOptions, environment_checks, onboarding_mode, readiness_base_checks
from .readiness import config_readiness_checks, serve_readiness_checks

__all__ = ["run_doctor"]


def run_doctor(
    opts: DoctorOptions,
    *,
    production_readiness: bool = False,
    serve_settings: Mapping[str, Any] | None = None,
    serve_source: str = "",
) -> DoctorResult:
    """Run the checks and return their roll-up.

    Args:
        opts: what to check.
        production_readiness: run the production-readiness mode.
        serve_settings: posture/flag settings to judge instead of ``.gait/config.yaml``.
        serve_source: where ``serve_settings`` came from (shown in the first check).
    """
    mode = onboarding_mode(opts.workdir)
    if not production_readiness:
        binary: dict[str, str] = {}
        checks = environment_checks(opts, binary)
        return DoctorResult(mode, checks, binary=binary)
    checks = readiness_base_checks(opts)
    if serve_settings is None:
        checks += config_readiness_checks(opts.workdir)
    else:
        checks += serve_readiness_checks(serve_settings, serve_source)
    return DoctorResult(mode, checks, production_readiness=True)
