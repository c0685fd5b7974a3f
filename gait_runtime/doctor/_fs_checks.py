"""The filesystem checks of ``gait doctor``: directories that must be writable, stale locks.

Owns: the ``workdir``, ``output_dir``, ``job_runtime_durability``,
``temp_dir``, ``registry_cache`` and ``gate_rate_limit_lock`` checks. Each
writability probe creates and removes one file (:data:`PROBE_NAME`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

from ..gate._limits import LOCK_STALE_S, STATE_FILE_NAME
from ._check import UNIVERSAL, Check, sh_quote
from ._options import DoctorOptions

__all__ = [
    "PROBE_NAME",
    "check_jobs",
    "check_output_dir",
    "check_rate_lock",
    "check_registry",
    "check_temp_dir",
    "check_workdir",
]

PROBE_NAME: Final = ".gait-doctor-writecheck"


def _probe(directory: Path) -> str:
    """Empty when a probe file can be created and removed in ``directory``, else the error."""
    probe = directory / PROBE_NAME
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return str(exc.strerror or exc)
    return ""


def check_workdir(opts: DoctorOptions) -> Check:
    wd = opts.workdir
    if not wd.exists():
        return Check(
            "workdir",
            UNIVERSAL,
            "fail",
            f"workdir does not exist: {wd}",
            f"mkdir -p {sh_quote(str(wd))}",
        )
    if not wd.is_dir():
        return Check(
            "workdir",
            UNIVERSAL,
            "fail",
            f"workdir is not a directory: {wd}",
            f"mkdir -p {sh_quote(str(wd))}",
        )
    if error := _probe(wd):
        return Check(
            "workdir",
            UNIVERSAL,
            "fail",
            f"workdir is not writable: {error}",
            f"chmod u+w {sh_quote(str(wd))}",
        )
    return Check("workdir", UNIVERSAL, "pass", "workdir is writable")


def check_output_dir(opts: DoctorOptions) -> Check:
    out = opts.resolved_output_dir
    if not out.exists():
        return Check(
            "output_dir",
            UNIVERSAL,
            "warn",
            "output directory does not exist",
            f"mkdir -p {sh_quote(str(out))}",
        )
    if not out.is_dir():
        return Check(
            "output_dir",
            UNIVERSAL,
            "fail",
            f"output path is not a directory: {out}",
            f"mv {sh_quote(str(out))} {sh_quote(str(out) + '.bak')} && "
            f"mkdir -p {sh_quote(str(out))}",
        )
    if error := _probe(out):
        return Check(
            "output_dir",
            UNIVERSAL,
            "fail",
            f"output directory is not writable: {error}",
            f"chmod u+w {sh_quote(str(out))}",
        )
    return Check("output_dir", UNIVERSAL, "pass", "output directory is writable")


def check_jobs(opts: DoctorOptions) -> Check:
    jobs = opts.resolved_output_dir / "jobs"
    if not jobs.exists():
        return Check("job_runtime_durability", UNIVERSAL, "pass", "no job runtime state")
    return Check(
        "job_runtime_durability",
        UNIVERSAL,
        "pass",
        "job runtime state present (durable jobs are not used by this build)",
    )


def check_temp_dir(_: DoctorOptions) -> Check:
    try:
        tmp = Path(tempfile.gettempdir())
    except OSError as exc:
        return Check(
            "temp_dir",
            UNIVERSAL,
            "fail",
            f"no usable temp directory: {exc}",
            'export TMPDIR="$HOME/.cache/tmp" && mkdir -p "$TMPDIR"',
        )
    if error := _probe(tmp):
        return Check(
            "temp_dir",
            UNIVERSAL,
            "fail",
            f"temp directory {tmp} is not writable: {error}",
            'export TMPDIR="$HOME/.cache/tmp" && mkdir -p "$TMPDIR"',
        )
    return Check("temp_dir", UNIVERSAL, "pass", f"temp directory is writable ({tmp})")


def _home(opts: DoctorOptions) -> Path:
    home = opts.environ.get("HOME", "").strip()
    return Path(home) if home else Path.home()


def check_registry(opts: DoctorOptions) -> Check:
    registry = _home(opts) / ".gait" / "registry"
    if registry.is_dir():
        return Check("registry_cache", UNIVERSAL, "pass", "registry cache directory exists")
    return Check(
        "registry_cache",
        UNIVERSAL,
        "warn",
        "registry cache directory does not exist",
        "mkdir -p ~/.gait/registry",
    )


def check_rate_lock(opts: DoctorOptions) -> Check:
    """Warn about ``<output>/gate_rate_limits.json.lock`` older than the protocol's staleness.

    The threshold is the rate limiter's own :data:`~gait_runtime.gate._limits.LOCK_STALE_S`
    (15 s): a lock that old is one the next writer removes, so it is reported as such.
    """
    lock = opts.resolved_output_dir / (STATE_FILE_NAME + ".lock")
    try:
        age = opts.now - lock.stat().st_mtime
    except OSError:
        return Check("gate_rate_limit_lock", UNIVERSAL, "pass", "no stale gate rate-limit lock")
    if age > LOCK_STALE_S:
        return Check(
            "gate_rate_limit_lock",
            UNIVERSAL,
            "warn",
            f"gate rate-limit lock is {int(age)}s old (a writer died holding it)",
            f"rm -f {sh_quote(str(lock))}",
        )
    return Check("gate_rate_limit_lock", UNIVERSAL, "pass", "gate rate-limit lock is fresh")
