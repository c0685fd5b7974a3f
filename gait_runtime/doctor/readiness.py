"""``gait doctor --production-readiness``: the settings that would let an attacker in or lose evidence.

Owns: :func:`config_readiness_checks` (judges ``<workdir>/.gait/config.yaml``
exactly as the Go implementation does: same keys, same pass rules, the first
failing service-boundary rule reported) and :func:`serve_readiness_checks`
(judges the settings a ``gait serve`` would run with: a posture profile and/or
serve flags). Both return the production checks in the contract order:
``production_readiness_config``, ``production_profile``, ``production_key_mode``,
``production_retention``, ``production_service_boundary``,
``production_context_strictness``. Every failing check carries the fix to paste.
Pure apart from reading the config file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from ..artifacts.timefmt import parse_go_duration
from ._check import Check, sh_quote

__all__ = [
    "MAX_REQUEST_BYTES",
    "config_readiness_checks",
    "serve_readiness_checks",
]

SCOPE: Final = "production_readiness"
MAX_REQUEST_BYTES: Final = 4 << 20
"""Request bodies above 4 MiB are a denial-of-service surface."""
DEFAULT_LISTEN: Final = "127.0.0.1:8787"
CONFIG_PATH: Final = Path(".gait") / "config.yaml"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_listen(listen: str) -> tuple[str, str] | None:
    """(host, port) of ``host:port`` / ``[v6]:port``; ``None`` when malformed."""
    text = listen.strip()
    if text.startswith("unix:"):
        return ("localhost", "0") if len(text) > 5 else None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            return None
        host, port = text[1:end], text[end + 2 :]
    else:
        if text.count(":") != 1:
            return None
        host, port = text.split(":")
    if not port.isdigit() or int(port) > 65535:
        return None
    return host, port


def _duration_ok(value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        return parse_go_duration(value.strip()) >= 0
    except ValueError:
        return False


def _boundary(settings: Mapping[str, Any], fixes: Mapping[str, str]) -> Check:
    """The first failing service-boundary rule (or a pass)."""
    name = "production_service_boundary"
    listen = str(settings.get("listen") or DEFAULT_LISTEN)
    parts = _split_listen(listen)
    if parts is None:
        return Check(name, SCOPE, "fail", f"listen {listen!r} is not host:port", fixes["listen"])
    auth = str(settings.get("auth_mode") or "off").strip().lower()
    if not _is_loopback(parts[0]) and auth != "token":
        return Check(
            name, SCOPE, "fail", f"non-loopback listen {listen} without token auth", fixes["auth"]
        )
    if auth == "token" and not str(settings.get("auth_token_env") or "").strip():
        return Check(name, SCOPE, "fail", "token auth without auth_token_env", fixes["auth"])
    if settings.get("allow_client_artifact_paths") is True:
        return Check(
            name,
            SCOPE,
            "fail",
            "client artifact paths are allowed (callers choose where files are written)",
            fixes["paths"],
        )
    size = settings.get("max_request_bytes", 1 << 20)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_REQUEST_BYTES:
        return Check(
            name,
            SCOPE,
            "fail",
            f"max_request_bytes {size!r} is outside 1..{MAX_REQUEST_BYTES}",
            fixes["size"],
        )
    status = str(settings.get("http_verdict_status") or "compat").strip().lower()
    if status != "strict":
        return Check(
            name,
            SCOPE,
            "fail",
            f"http_verdict_status is {status} (block/approval answer HTTP 200)",
            fixes["status"],
        )
    return Check(name, SCOPE, "pass", f"service boundary is locked down ({listen})")


def _profile(profile: str, fix: str) -> Check:
    if profile.strip().lower() == "oss-prod":
        return Check("production_profile", SCOPE, "pass", "profile is oss-prod")
    shown = profile or "standard"
    return Check("production_profile", SCOPE, "fail", f"profile is {shown}, not oss-prod", fix)


def _key_mode(mode: str, fix: str) -> Check:
    if mode.strip().lower() == "prod":
        return Check("production_key_mode", SCOPE, "pass", "key mode is prod")
    shown = mode or "dev"
    return Check(
        "production_key_mode",
        SCOPE,
        "fail",
        f"key mode is {shown} (ephemeral keys: traces verify nowhere else)",
        fix,
    )


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def config_readiness_checks(workdir: Path) -> list[Check]:
    """The production checks over ``<workdir>/.gait/config.yaml``."""
    path = workdir / CONFIG_PATH
    shown = sh_quote(str(CONFIG_PATH))
    exists = path.is_file()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) if exists else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [
            Check(
                "production_readiness_config",
                SCOPE,
                "fail",
                f"{CONFIG_PATH} does not parse: {first}",
                f"gait init --production-config --force  # rewrites {shown}",
            )
        ]
    doc = doc if isinstance(doc, dict) else {}
    gate, retention, serve = (
        _section(doc, "gate"),
        _section(doc, "retention"),
        _section(doc, "mcp_serve"),
    )
    edit = f"in {shown}"
    checks = [
        Check("production_readiness_config", SCOPE, "pass", f"{CONFIG_PATH} exists")
        if exists
        else Check(
            "production_readiness_config",
            SCOPE,
            "fail",
            f"{CONFIG_PATH} does not exist",
            "gait init --production-config",
        ),
        _profile(str(gate.get("profile") or ""), f"set gate.profile: oss-prod {edit}"),
        _key_mode(str(gate.get("key_mode") or ""), f"set gate.key_mode: prod {edit}"),
    ]
    missing = [
        k for k in ("trace_ttl", "session_ttl", "export_ttl") if not _duration_ok(retention.get(k))
    ]
    if missing:
        checks.append(
            Check(
                "production_retention",
                SCOPE,
                "fail",
                f"retention not set (or not a duration): {', '.join(missing)}",
                f"set retention.trace_ttl: 168h, retention.session_ttl: 336h, "
                f"retention.export_ttl: 168h {edit}",
            )
        )
    else:
        checks.append(Check("production_retention", SCOPE, "pass", "retention TTLs are set"))
    if serve.get("enabled") is not True and not str(serve.get("listen") or "").strip():
        checks.append(
            Check(
                "production_service_boundary",
                SCOPE,
                "pass",
                "decision service is not enabled in the config",
            )
        )
    else:
        checks.append(
            _boundary(
                serve,
                {
                    "listen": f"set mcp_serve.listen: 127.0.0.1:8787 {edit}",
                    "auth": f"set mcp_serve.auth_mode: token and mcp_serve.auth_token_env: "
                    f"GAIT_SERVE_TOKEN {edit}",
                    "paths": f"set mcp_serve.allow_client_artifact_paths: false {edit}",
                    "size": f"set mcp_serve.max_request_bytes: 1048576 {edit}",
                    "status": f"set mcp_serve.http_verdict_status: strict {edit}",
                },
            )
        )
    strict = str(gate.get("profile") or "").strip().lower() == "oss-prod"
    policy = str(gate.get("policy") or "").strip()
    if strict and policy:
        checks.append(
            Check(
                "production_context_strictness",
                SCOPE,
                "pass",
                f"oss-prod context rules with policy {policy}",
            )
        )
    else:
        need = [] if strict else ["gate.profile: oss-prod"]
        need += [] if policy else ["gate.policy: ./.gait.yaml"]
        checks.append(
            Check(
                "production_context_strictness",
                SCOPE,
                "fail",
                "context is not strict (identity/workspace/session may default)",
                f"set {' and '.join(need)} {edit}",
            )
        )
    return checks


def serve_readiness_checks(settings: Mapping[str, Any], source: str) -> list[Check]:
    """The production checks over the settings a ``gait serve`` would run with.

    Args:
        settings: serve option name (underscored) → value, from a posture profile's
            ``serve:`` mapping with any serve flags given on the command line on top.
        source: what the settings came from (posture path and/or ``flags``).
    """
    profile = str(settings.get("profile") or "standard")
    checks = [
        Check(
            "production_readiness_config", SCOPE, "pass", f"judging serve settings from {source}"
        ),
        _profile(profile, "--profile oss-prod"),
        _key_mode(
            str(settings.get("key_mode") or "dev"),
            "--key-mode prod --private-key-env GAIT_PRIVATE_KEY",
        ),
    ]
    traces_kept = (
        _duration_ok(settings.get("trace_max_age"))
        and parse_go_duration(str(settings.get("trace_max_age")).strip()) > 0
    )
    count = settings.get("trace_max_count", 0)
    if traces_kept or (isinstance(count, int) and count > 0):
        checks.append(Check("production_retention", SCOPE, "pass", "trace retention is set"))
    else:
        checks.append(
            Check(
                "production_retention",
                SCOPE,
                "fail",
                "no trace retention (trace files grow until the disk is full)",
                "--trace-max-age 168h",
            )
        )
    checks.append(
        _boundary(
            settings,
            {
                "listen": "--listen 127.0.0.1:8787",
                "auth": "--auth-mode token --auth-token-env GAIT_SERVE_TOKEN",
                "paths": "--no-allow-client-artifact-paths",
                "size": "--max-request-bytes 1048576",
                "status": "--http-verdict-status strict",
            },
        )
    )
    if profile.strip().lower() == "oss-prod":
        checks.append(
            Check(
                "production_context_strictness",
                SCOPE,
                "pass",
                "oss-prod context rules (identity, workspace, session_id required)",
            )
        )
    else:
        checks.append(
            Check(
                "production_context_strictness",
                SCOPE,
                "fail",
                f"context profile {profile} lets identity/workspace/session default",
                "--profile oss-prod",
            )
        )
    return checks
