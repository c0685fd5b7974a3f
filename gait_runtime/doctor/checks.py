"""The environment checks of ``gait doctor``, in the contract order.

Owns: :class:`DoctorOptions` and :func:`environment_checks`, which returns, in
order: ``workdir``, ``output_dir``, ``job_runtime_durability``, ``temp_dir``,
``registry_cache``, ``gate_rate_limit_lock``, ``onboarding_binary``,
``key_source_ambiguity``, ``key_permissions``, ``key_config`` and, in a source
checkout of gait-runtime, ``schema_files`` (the only non-fixable check),
``hooks_path`` and ``onboarding_assets``; then ``telemetry_health`` when a
telemetry health snapshot exists. Production readiness uses a subset
(:func:`readiness_base_checks`). Offline: the only process started is
``<gait> version``, bounded by a timeout.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..artifacts.keys import KeySource, load_private, load_public
from ..errors import GaitError
from ._check import Check, sh_quote

__all__ = [
    "DoctorOptions",
    "environment_checks",
    "onboarding_mode",
    "readiness_base_checks",
    "required_schema_files",
]

PROBE_NAME: Final = ".gait-doctor-writecheck"
LOCK_STALE_S: Final = 30.0
VERSION_TIMEOUT_S: Final = 10.0
UNIVERSAL: Final = "universal"
REPO: Final = "repo_checkout"

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


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    """Inputs of one doctor run.

    Attributes:
        workdir: directory checked (``--workdir``).
        output_dir: ``--output-dir``, relative to ``workdir`` unless absolute.
        key_mode: ``dev`` or ``prod``.
        private_key: signing key source.
        public_key: verify key source.
        argv0: the invoked program (to locate the ``gait`` binary).
        environ: environment variables (``PATH``, ``HOME``, key env vars).
        now: wall-clock seconds (lock staleness).
    """

    workdir: Path = Path(".")
    output_dir: str = "./gait-out"
    key_mode: str = "dev"
    private_key: KeySource = field(default_factory=KeySource)
    public_key: KeySource = field(default_factory=KeySource)
    argv0: str = ""
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: float = 0.0

    @property
    def resolved_output_dir(self) -> Path:
        """``output_dir`` joined to ``workdir`` when relative, cleaned."""
        out = Path(self.output_dir)
        if out.is_absolute():
            return Path(os.path.normpath(out))
        return Path(os.path.normpath(os.path.join(self.workdir, out)))


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


def _workdir(opts: DoctorOptions) -> Check:
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


def _output_dir(opts: DoctorOptions) -> Check:
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


def _jobs(opts: DoctorOptions) -> Check:
    jobs = opts.resolved_output_dir / "jobs"
    if not jobs.exists():
        return Check("job_runtime_durability", UNIVERSAL, "pass", "no job runtime state")
    return Check(
        "job_runtime_durability",
        UNIVERSAL,
        "pass",
        "job runtime state present (durable jobs are not used by this build)",
    )


def _temp_dir(_: DoctorOptions) -> Check:
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


def _registry(opts: DoctorOptions) -> Check:
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


def _rate_lock(opts: DoctorOptions) -> Check:
    lock = opts.resolved_output_dir / "gate_rate_limits.json.lock"
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


def _binary(opts: DoctorOptions, info: dict[str, str]) -> Check:
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


def _ambiguity(opts: DoctorOptions) -> Check:
    both = [
        what
        for what, src in (("private", opts.private_key), ("public", opts.public_key))
        if src.path.strip() and src.env.strip()
    ]
    if both:
        flags = " and ".join(f"--{w}-key/--{w}-key-env" for w in both)
        return Check(
            "key_source_ambiguity",
            UNIVERSAL,
            "fail",
            f"both a path and an env var were given ({flags})",
            f"pass only one of {flags}",
        )
    return Check("key_source_ambiguity", UNIVERSAL, "pass", "key sources are unambiguous")


def _permissions(opts: DoctorOptions) -> Check:
    for what, src in (("private", opts.private_key), ("public", opts.public_key)):
        path = src.path.strip()
        if not path:
            continue
        try:
            info = os.stat(path)
        except OSError as exc:
            return Check(
                "key_permissions",
                UNIVERSAL,
                "warn",
                f"{what} key {path} is not accessible: {exc.strerror or exc}",
                f"ls -l {sh_quote(path)}",
            )
        if stat.S_ISDIR(info.st_mode):
            return Check(
                "key_permissions",
                UNIVERSAL,
                "warn",
                f"{what} key {path} is a directory",
                f"ls -l {sh_quote(path)}",
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return Check(
                "key_permissions",
                UNIVERSAL,
                "warn",
                f"{what} key {path} is writable by group or others",
                f"chmod 600 {sh_quote(path)}",
            )
    return Check("key_permissions", UNIVERSAL, "pass", "key file permissions are safe")


def _key_config(opts: DoctorOptions) -> Check:
    mode = opts.key_mode.strip().lower()
    given = opts.private_key.given or opts.public_key.given
    if mode == "dev":
        if given:
            return Check(
                "key_config",
                UNIVERSAL,
                "warn",
                "dev key mode ignores the key sources given",
                "gait doctor --key-mode prod --private-key <path>",
            )
        return Check("key_config", UNIVERSAL, "pass", "dev key mode (ephemeral signing keys)")
    if mode != "prod":
        return Check(
            "key_config",
            UNIVERSAL,
            "fail",
            f"unsupported key mode: {opts.key_mode!r}",
            "gait doctor --key-mode prod --private-key <path>",
        )
    fix = (
        "gait keys init --out-dir ./gait-keys && gait doctor --key-mode prod "
        "--private-key ./gait-keys/gait_private.key"
    )
    if not opts.private_key.given:
        return Check("key_config", UNIVERSAL, "fail", "prod key mode needs a signing key", fix)
    try:
        key = load_private(opts.private_key, opts.environ)
        if (
            opts.public_key.given
            and load_public(opts.public_key, opts.environ).raw != key.public.raw
        ):
            return Check(
                "key_config", UNIVERSAL, "fail", "public key does not match private key", fix
            )
    except GaitError as exc:
        return Check(
            "key_config", UNIVERSAL, "fail", f"signing key does not load: {exc.message}", fix
        )
    return Check("key_config", UNIVERSAL, "pass", "prod signing key loads")


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


def _repo_checks(opts: DoctorOptions) -> list[Check]:
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
        _workdir(opts),
        _output_dir(opts),
        _jobs(opts),
        _temp_dir(opts),
        _registry(opts),
        _rate_lock(opts),
        _binary(opts, binary),
        _ambiguity(opts),
        _permissions(opts),
        _key_config(opts),
    ]
    if onboarding_mode(opts.workdir) == "repo_checkout":
        checks += _repo_checks(opts)
    return checks + _telemetry(opts)


def readiness_base_checks(opts: DoctorOptions) -> list[Check]:
    """Checks 1–4 and 8–10, the universal part of ``--production-readiness``."""
    return [
        _workdir(opts),
        _output_dir(opts),
        _jobs(opts),
        _temp_dir(opts),
        _ambiguity(opts),
        _permissions(opts),
        _key_config(opts),
    ]


def now_s() -> float:
    """Wall-clock seconds (the CLI passes this as :attr:`DoctorOptions.now`)."""
    return time.time()
