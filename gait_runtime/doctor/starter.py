"""``gait init``: starter policies (low, medium, high risk) and a production config template.

Owns: the built-in ``.gait.yaml`` templates, :func:`init_project` (writes the
chosen template, and optionally ``.gait/config.yaml`` that passes
``gait doctor --production-readiness``; never overwrites without ``force``) and
the next commands to run. Every template is a valid ``gait.gate.policy``
(checked by the tests with the real policy compiler).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..artifacts.fsutil import write_atomic
from ..errors import UsageError

__all__ = ["TEMPLATES", "InitResult", "init_project", "template_text"]

_HEADER: Final = """\
# gait starter policy ({name} risk), written by `gait init --template {name}`.
# Rules are checked in priority order (lower number first); anything no rule
# matches gets default_verdict. Validate with `gait policy validate .gait.yaml`
# and try an intent with `gait policy test .gait.yaml intent.json`.
schema_id: gait.gate.policy
schema_version: 1.0.0
"""

_LOW: Final = """\
# Low risk: local experiments. Reads and workspace writes run; deletes and
# anything unknown wait for an approval.
default_verdict: require_approval
rules:
  - name: deletes-need-approval
    priority: 10
    effect: require_approval
    match:
      endpoint_classes: [fs.delete]
    reason_codes: [destructive_requires_review]
  - name: allow-reads
    priority: 20
    effect: allow
    match:
      endpoint_classes: [fs.read, net.dns]
  - name: allow-writes-outside-system-paths
    priority: 30
    effect: allow
    match:
      endpoint_classes: [fs.write]
    endpoint:
      path_denylist: ["/etc/**", "/root/**", "/usr/**"]
"""

_MEDIUM: Final = """\
# Medium risk: shared environments. Fail closed without targets; reads run,
# writes and network calls need an approval, deletes are blocked.
default_verdict: block
fail_closed:
  enabled: true
  required_fields: [targets]
rules:
  - name: block-deletes
    priority: 10
    effect: block
    match:
      endpoint_classes: [fs.delete]
    reason_codes: [destructive_blocked]
  - name: allow-reads
    priority: 20
    effect: allow
    match:
      endpoint_classes: [fs.read]
    endpoint:
      path_denylist: ["/etc/**", "/root/**"]
  - name: writes-need-approval
    priority: 30
    effect: require_approval
    match:
      endpoint_classes: [fs.write, net.http]
    reason_codes: [write_requires_review]
"""

_HIGH: Final = """\
# High risk: production data. Fail closed on missing targets and argument
# provenance; only low-risk reads run; writes need two distinct approvers;
# deletes, process execution and high/critical risk calls are blocked.
default_verdict: block
fail_closed:
  enabled: true
  risk_classes: [critical, high]
  required_fields: [targets, arg_provenance]
rules:
  - name: block-high-risk
    priority: 5
    effect: block
    match:
      risk_classes: [critical, high]
    reason_codes: [high_risk_blocked]
  - name: block-destructive-and-exec
    priority: 10
    effect: block
    match:
      endpoint_classes: [fs.delete, proc.exec]
    reason_codes: [destructive_blocked]
  - name: allow-low-risk-reads
    priority: 20
    effect: allow
    match:
      risk_classes: [low]
      endpoint_classes: [fs.read]
    endpoint:
      path_denylist: ["/etc/**", "/root/**", "/var/lib/**"]
  - name: writes-need-two-approvers
    priority: 30
    effect: require_approval
    min_approvals: 2
    match:
      endpoint_classes: [fs.write, net.http]
    reason_codes: [write_requires_review]
"""

TEMPLATES: Final = {"low": _LOW, "medium": _MEDIUM, "high": _HIGH}
"""Template name → body (without the common header)."""

_PRODUCTION_CONFIG: Final = """\
# Production settings judged by `gait doctor --production-readiness`.
gate:
  policy: {policy}
  profile: oss-prod
  key_mode: prod
retention:
  trace_ttl: 168h
  session_ttl: 336h
  export_ttl: 168h
mcp_serve:
  enabled: false
  listen: ""
  auth_mode: token
  auth_token_env: GAIT_SERVE_TOKEN
  allow_client_artifact_paths: false
  max_request_bytes: 1048576
  http_verdict_status: strict
"""


def template_text(name: str) -> str:
    """The full ``.gait.yaml`` text of a template.

    Raises:
        UsageError: unknown template name.
    """
    body = TEMPLATES.get(name.strip().lower())
    if body is None:
        raise UsageError(
            f"unknown --template {name!r} (one of: {', '.join(TEMPLATES)})", code="template_unknown"
        )
    return _HEADER.format(name=name.strip().lower()) + body


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``gait init`` wrote and what to run next."""

    template: str
    policy_path: Path
    config_path: Path | None
    next_commands: list[str]


def init_project(
    policy_path: Path,
    *,
    template: str = "medium",
    production_config: bool = False,
    force: bool = False,
    config_path: Path = Path(".gait") / "config.yaml",
) -> InitResult:
    """Write the starter policy (and the production config when asked).

    Raises:
        UsageError: a file exists and ``force`` is false, or the template is unknown.
    """
    text = template_text(template)
    targets = [policy_path] + ([config_path] if production_config else [])
    for target in targets:
        if target.exists() and not force:
            raise UsageError(
                f"{target} already exists (pass --force to overwrite)", code="init_exists"
            )
    write_atomic(policy_path, text.encode("utf-8"), mode=0o644)
    if production_config:
        shown = policy_path.as_posix()
        if not policy_path.is_absolute() and not shown.startswith(("./", "../")):
            shown = "./" + shown
        body = _PRODUCTION_CONFIG.format(policy=shown)
        write_atomic(config_path, body.encode("utf-8"), mode=0o640)
    shown = policy_path.as_posix()
    commands = [
        f"gait policy validate {shown}",
        f"gait policy test {shown} <intent.json>",
        "gait demo",
        "gait doctor",
    ]
    if production_config:
        commands.append("gait doctor --production-readiness --key-mode prod --private-key <path>")
    return InitResult(
        template.strip().lower(), policy_path, config_path if production_config else None, commands
    )
