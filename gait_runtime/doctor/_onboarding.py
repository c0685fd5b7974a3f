"""The onboarding checks of ``gait doctor``: the ``gait`` binary and a source checkout.

Owns: ``onboarding_binary`` (find the ``gait`` executable and run
``<gait> version``, bounded by :data:`VERSION_TIMEOUT_S`: the only process
doctor starts), :func:`onboarding_mode` and, in a gait-runtime checkout,
``schema_files`` (the only non-fixable check), ``hooks_path`` and
``onboarding_assets``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

from ._check import REPO, UNIVERSAL, Check, sh_quote
from ._options import DoctorOptions

__all__ = [
    "VERSION_TIMEOUT_S",
    "check_binary",
    "onboarding_mode",
    "repo_checks",
    "required_schema_files",
]

VERSION_TIMEOUT_S: Final = 10.0

_REQUIRED_SCHEMAS: Final = (
    "runpack/manifest",
    "runpack/run",
    "runpack/intent",
    "runpack/result",
    "runpack/refs",
    "gate/policy",
    "gate/intent_request",
    "gate/trace",
    "gate/approval_token",
    "sessions/session_checkpoint",
    "sessions/session_chain",
    "scout/signal_report",
)

_ONBOARDING_ASSETS: Final = (
    "profiles/dev.yaml",
    "profiles/oss-prod.yaml",
    "profiles/smoke.yaml",
    "docs/doctor.md",
    "README.md",
)


def _find_binary(opts: DoctorOptions) -> tuple[str, str, str]:
    """(binary path, source, PATH's gait when it differs)."""
    on_path = shutil.which("gait", path=opts.environ.get("PATH")) or ""
    invoked = opts.argv0
    if invoked and os.path.basename(invoked) in ("gait", "gait.exe"):
        resolved = invoked if os.sep in invoked else (on_path or invoked)
        resolved = os.path.abspath(resolved)
        other = on_path if on_path and os.path.abspath(on_path) != resolved else ""
        return resolved, "invoked_executable", other
    if on_path:
        return os.path.abspath(on_path), "path", ""
    local = opts.workdir / "gait"
    if local.is_file():
        return os.path.abspath(local), "workdir", ""
    return "", "", ""


def check_binary(opts: DoctorOptions, info: dict[str, str]) -> Check:
    path, source, other = _find_binary(opts)
    fix = "python -m pip install gait-runtime  # provides the gait command"
    if not path:
        return Check("onboarding_binary", UNIVERSAL, "warn", "gait executable not found", fix)
    info.update({"binary_path": path, "binary_path_source": source, "path_binary_path": other})
    if not os.access(path, os.X_OK):
        return Check(
            "onboarding_binary",
            UNIVERSAL,
            "warn",
            f"{path} is not executable",
            f"chmod +x {sh_quote(path)}",
        )
    try:
        done = subprocess.run(  # our own binary, argv list, no shell
            [path, "version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            check=False,
            env=dict(opts.environ) | {"GAIT_ADOPTION_LOG": ""},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("onboarding_binary", UNIVERSAL, "warn", f"{path} version failed: {exc}", fix)
    output = done.stdout.strip()
    if done.returncode != 0 or not output.startswith("gait "):
        return Check(
            "onboarding_binary", UNIVERSAL, "warn", f"{path} version printed {output[:60]!r}", fix
        )
    info["binary_version"] = output.split(" ", 1)[1]
    return Check("onboarding_binary", UNIVERSAL, "pass", f"{path} ({output})")


def required_schema_files() -> tuple[str, ...]:
    """Schema names (``runpack/manifest``, ...) a checkout must ship."""
    return _REQUIRED_SCHEMAS


def onboarding_mode(workdir: Path) -> str:
    """``repo_checkout`` in a gait-runtime source checkout, else ``installed_binary``."""
    try:
        project = (workdir / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "installed_binary"
    if 'name = "gait-runtime"' in project and (workdir / "gait_runtime").is_dir():
        return "repo_checkout"
    return "installed_binary"


def repo_checks(opts: DoctorOptions) -> list[Check]:
    root = opts.workdir
    missing = [
        n for n in _REQUIRED_SCHEMAS if not (root / "schemas" / "v1" / f"{n}.schema.json").is_file()
    ]
    if missing:
        schemas = Check(
            "schema_files",
            REPO,
            "fail",
            f"missing schema files: {', '.join(missing)}",
            "git checkout -- schemas/",
            non_fixable=True,
        )
    else:
        schemas = Check("schema_files", REPO, "pass", "required schema files are present")
    hooks = root / ".githooks"
    if not hooks.is_dir():
        hooks_check = Check("hooks_path", REPO, "pass", "no repository hooks to install")
    else:
        config = root / ".git" / "config"
        text = config.read_text(encoding="utf-8") if config.is_file() else ""
        if "hookspath = .githooks" in text.lower().replace("\t", ""):
            hooks_check = Check("hooks_path", REPO, "pass", "git hooks path is .githooks")
        else:
            hooks_check = Check(
                "hooks_path",
                REPO,
                "warn",
                "git hooks path is not .githooks",
                "git config core.hooksPath .githooks",
            )
    absent = [a for a in _ONBOARDING_ASSETS if not (root / a).is_file()]
    if absent:
        assets = Check(
            "onboarding_assets",
            REPO,
            "warn",
            f"missing onboarding assets: {', '.join(absent)}",
            "git checkout -- " + " ".join(absent),
        )
    else:
        assets = Check("onboarding_assets", REPO, "pass", "onboarding assets are present")
    return [schemas, hooks_check, assets]
