"""The environment checks of ``gait doctor``, in the contract order.

Owns: :func:`environment_checks`, which returns, in order: ``workdir``,
``output_dir``, ``job_runtime_durability``, ``temp_dir``, ``registry_cache``,
``gate_rate_limit_lock``, ``onboarding_binary``, ``key_source_ambiguity``,
``key_permissions``, ``key_config`` and, in a source checkout of
gait-runtime, ``schema_files`` (the only non-fixable check), ``hooks_path``
and ``onboarding_assets``; then ``telemetry_health`` when a telemetry health
snapshot exists. Production readiness uses a subset
(:func:`readiness_base_checks`). Offline: the only process started is
``<gait> version``, bounded by a timeout. The checks themselves live in
:mod:`._fs_checks`, :mod:`._key_checks` and :mod:`._onboarding`; the options
in :mod:`._options`.
"""

from __future__ import annotations

import os

from ._check import REPO, UNIVERSAL, Check, sh_quote
from ._fs_checks import (
    check_jobs,
    check_output_dir,
    check_rate_lock,
    check_registry,
    check_temp_dir,
    check_workdir,
)
from ._key_checks import check_ambiguity, check_key_config, check_permissions
from ._onboarding import check_binary, onboarding_mode, repo_checks, required_schema_files
from ._options import DoctorOptions

__all__ = [
    "DoctorOptions",
    "environment_checks",
    "onboarding_mode",
    "readiness_base_checks",
    "required_schema_files",
]


def _telemetry(opts: DoctorOptions) -> list[Check]:
    from ..usage import default_health_path, read_health

    path = default_health_path(opts.environ)
    streams = read_health(path)
    if streams is None:
        return []
    failed = {name: c["failed"] for name, c in streams.items() if c["failed"]}
    if not failed:
        total = sum(c["attempts"] for c in streams.values())
        return [
            Check(
                "telemetry_health",
                UNIVERSAL,
                "pass",
                f"{total} telemetry write(s), none failed ({path})",
            )
        ]
    detail = ", ".join(f"{name}={n}" for name, n in sorted(failed.items()))
    target = opts.environ.get("GAIT_ADOPTION_LOG", "").strip()
    fix = (
        f"mkdir -p {sh_quote(os.path.dirname(target) or '.')} && touch {sh_quote(target)}"
        if target
        else "unset GAIT_ADOPTION_LOG"
    )
    return [
        Check(
            "telemetry_health",
            UNIVERSAL,
            "warn",
            f"failed telemetry writes: {detail} (counters in {path})",
            fix,
        )
    ]


def environment_checks(opts: DoctorOptions, binary: dict[str, str]) -> list[Check]:
    """Every default-mode check in the contract order (``binary`` receives the binary facts)."""
    checks = [
        check_workdir(opts),
        check_output_dir(opts),
        check_jobs(opts),
        check_temp_dir(opts),
        check_registry(opts),
        check_rate_lock(opts),
        check_binary(opts, binary),
        check_ambiguity(opts),
        check_permissions(opts),
        check_key_config(opts),
    ]
    if onboarding_mode(opts.workdir) == REPO:
        checks += repo_checks(opts)
    return checks + _telemetry(opts)


def readiness_base_checks(opts: DoctorOptions) -> list[Check]:
    """Checks 1–4 and 8–10, the universal part of ``--production-readiness``."""
    return [
        check_workdir(opts),
        check_output_dir(opts),
        check_jobs(opts),
        check_temp_dir(opts),
        check_ambiguity(opts),
        check_permissions(opts),
        check_key_config(opts),
    ]
