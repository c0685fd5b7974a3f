"""``gait doctor``, ``gait doctor adoption`` and ``gait init``: thin handlers over :mod:`gait_runtime.doctor`.

``gait doctor`` maps its flags to :class:`~gait_runtime.doctor.DoctorOptions`;
with ``--production-readiness`` and a ``--posture`` or any serve flag it loads
the posture (``gait_runtime.supervisor.service.posture``) and lays the flags over it, so the
doctor judges exactly what ``gait serve`` would run with.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Final

from .. import __version__
from ..errors import UsageError
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_adoption", "build_doctor", "build_init"]

_SERVE_FLAGS: Final = (
    ("listen", str, "host:port the server would listen on"),
    ("auth_mode", str, "off or token"),
    ("auth_token_env", str, "env var holding the bearer token"),
    ("max_request_bytes", int, "request body limit in bytes"),
    ("http_verdict_status", str, "compat or strict"),
    ("profile", str, "standard or oss-prod"),
    ("trace_max_age", str, "trace retention as a Go duration (168h)"),
    ("trace_max_count", int, "keep at most this many traces"),
)


def build_doctor(parser: Parser) -> Handler:
    """``gait doctor [--production-readiness [--posture P | serve flags]] [--summary] [--json]``."""
    add_common(
        parser, "checks the environment (or production settings) and prints a fix per problem"
    )
    add = parser.add_argument
    add("--workdir", default=".", help="directory to check (default .)")
    add("--output-dir", default="./gait-out", help="artifact directory, relative to --workdir")
    add("--key-mode", default=None, help="dev (default) or prod")
    add("--private-key", default="", help="signing key file")
    add("--private-key-env", default="", help="env var holding the signing key")
    add("--public-key", default="", help="verify key file")
    add("--public-key-env", default="", help="env var holding the verify key")
    add("--production-readiness", action="store_true", help="judge production settings")
    add("--summary", action="store_true", help="print only the summary and what is not passing")
    add("--posture", default="", help="posture profile (name or file) to judge (readiness)")
    for name, kind, text in _SERVE_FLAGS:
        add("--" + name.replace("_", "-"), type=kind, default=None, help=f"serve flag: {text}")
    add(
        "--allow-client-artifact-paths",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve flag: accept client-chosen artifact paths",
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..artifacts.keys import KeySource
        from ..artifacts.timefmt import format_ns
        from ..doctor import DoctorOptions, run_doctor

        settings, source = _serve_settings(ns)
        key_mode = ns.key_mode or (str(settings.get("key_mode", "dev")) if settings else "dev")
        private = KeySource(ns.private_key, ns.private_key_env)
        if settings is not None and not private.given:
            private = KeySource(
                str(settings.get("private_key") or ""), str(settings.get("private_key_env") or "")
            )
        opts = DoctorOptions(
            workdir=Path(ns.workdir),
            output_dir=ns.output_dir,
            key_mode=key_mode,
            private_key=private,
            public_key=KeySource(ns.public_key, ns.public_key_env),
            argv0=sys.argv[0] if sys.argv else "",
            environ=dict(os.environ),
            now=time.time(),
        )
        result = run_doctor(
            opts,
            production_readiness=ns.production_readiness,
            serve_settings=settings,
            serve_source=source,
        )
        payload = result.to_json(created_at=format_ns(time.time_ns()), producer_version=__version__)
        if ns.summary:
            payload["summary_mode"] = True
        return Result(payload, result.text(summary_only=ns.summary), result.exit_code)

    return handle


def _serve_settings(ns: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """Posture ``serve:`` mapping with the serve flags on top (``None`` when neither given)."""
    flags = {name: getattr(ns, name) for name, _, _ in _SERVE_FLAGS}
    flags["allow_client_artifact_paths"] = ns.allow_client_artifact_paths
    given = {k: v for k, v in flags.items() if v is not None}
    if not ns.posture and not given:
        return None, ""
    if not ns.production_readiness:
        raise UsageError("--posture and serve flags need --production-readiness")
    settings: dict[str, Any] = {}
    sources = []
    if ns.posture:
        from ..supervisor.service.posture import load_posture

        posture = load_posture(ns.posture)
        settings.update(posture.serve)
        sources.append(f"posture {posture.source}")
    if given:
        settings.update(given)
        sources.append("flags " + " ".join("--" + k.replace("_", "-") for k in sorted(given)))
    if ns.key_mode:
        settings["key_mode"] = ns.key_mode
    return settings, " + ".join(sources)


def build_adoption(parser: Parser) -> Handler:
    """``gait doctor adoption --from <events.jsonl> [--json]``."""
    add_common(parser, "reports activation milestones and their timings from an adoption log")
    parser.add_argument("--from", dest="from_", default="", help="adoption log (GAIT_ADOPTION_LOG)")

    def handle(ns: argparse.Namespace) -> Result:
        from ..doctor import adoption_report, adoption_text

        source = ns.from_.strip()
        if not source:
            raise UsageError("missing required --from <events.jsonl>")
        report = adoption_report(Path(source), source, producer_version=__version__)
        return Result({"ok": True, "report": report}, adoption_text(report))

    return handle


def build_init(parser: Parser) -> Handler:
    """``gait init [--template low|medium|high] [--out .gait.yaml] [--production-config]``."""
    add_common(parser, "writes a starter .gait.yaml policy from a built-in template")
    add = parser.add_argument
    add("--template", default="medium", help="low, medium (default) or high risk")
    add("--out", default=".gait.yaml", help="policy file to write (default .gait.yaml)")
    add(
        "--production-config",
        action="store_true",
        help="also write .gait/config.yaml that passes --production-readiness",
    )
    add("--force", action="store_true", help="overwrite existing files")

    def handle(ns: argparse.Namespace) -> Result:
        from ..doctor import init_project
        from ..gate.policy import load_policy

        done = init_project(
            Path(ns.out),
            template=ns.template,
            production_config=ns.production_config,
            force=ns.force,
        )
        policy = load_policy(done.policy_path)
        payload: dict[str, Any] = {
            "ok": True,
            "template": done.template,
            "policy_path": str(done.policy_path),
            "policy_digest": policy.digest,
            "next_commands": done.next_commands,
        }
        text = [f"init ok: wrote {done.policy_path} (template={done.template})"]
        if done.config_path is not None:
            payload["config_path"] = str(done.config_path)
            text.append(f"wrote {done.config_path} (production settings)")
        text += ["next:", *(f"  {c}" for c in done.next_commands)]
        return Result(payload, text)

    return handle
