"""One doctor check, the result roll-up and POSIX quoting of fix commands.

Owns: :class:`Check` (name, scope (:data:`UNIVERSAL`, :data:`REPO`, ...),
status, message, copy-paste fix, non-fixable flag), :class:`DoctorResult`
(the ``gait.doctor.result`` roll-up: status, fix commands, summary line, exit
code) and :func:`sh_quote`. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..errors import EXIT_DEPENDENCY_MISSING, EXIT_OK, EXIT_VERIFICATION_FAILED

__all__ = ["REPO", "UNIVERSAL", "Check", "DoctorResult", "Status", "sh_quote"]

Status = Literal["pass", "warn", "fail"]
UNIVERSAL: Final = "universal"
"""Scope of the checks that run everywhere."""
REPO: Final = "repo_checkout"
"""Scope of the checks that run only in a gait-runtime source checkout."""
RESULT_SCHEMA_ID: Final = "gait.doctor.result"


def sh_quote(text: str) -> str:
    """Single-quote ``text`` for a POSIX shell (``'`` becomes ``'\\''``)."""
    return "'" + text.replace("'", "'\\''") + "'"


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one doctor check.

    Attributes:
        name: stable check name (``workdir``, ``production_key_mode``, ...).
        scope: ``universal``, ``repo_checkout`` or ``production_readiness``.
        status: ``pass``, ``warn`` or ``fail``.
        message: one line saying what was found.
        fix_command: a command (or config line) to copy and paste; empty on pass.
        non_fixable: a missing dependency no command here can fix (exit 7).
    """

    name: str
    scope: str
    status: Status
    message: str
    fix_command: str = ""
    non_fixable: bool = False

    def to_json(self) -> dict[str, Any]:
        """The check object of ``gait.doctor.result``."""
        out: dict[str, Any] = {
            "name": self.name,
            "scope": self.scope,
            "status": self.status,
            "message": self.message,
        }
        if self.fix_command:
            out["fix_command"] = self.fix_command
        if self.non_fixable:
            out["non_fixable"] = True
        return out


@dataclass(slots=True)
class DoctorResult:
    """All checks of one ``gait doctor`` run and their roll-up."""

    onboarding_mode: str
    checks: list[Check]
    production_readiness: bool = False
    binary: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """``fail`` if any check failed, else ``warn`` if any warned, else ``pass``."""
        states = {c.status for c in self.checks}
        return "fail" if "fail" in states else "warn" if "warn" in states else "pass"

    @property
    def non_fixable(self) -> bool:
        """True when some check is a missing dependency."""
        return any(c.non_fixable for c in self.checks)

    @property
    def fix_commands(self) -> list[str]:
        """Unique, sorted fix commands."""
        return sorted({c.fix_command for c in self.checks if c.fix_command})

    @property
    def summary(self) -> str:
        """``doctor: onboarding_mode=… status=… failed=n warned=n non_fixable=bool``."""
        failed = sum(c.status == "fail" for c in self.checks)
        warned = sum(c.status == "warn" for c in self.checks)
        return (
            f"doctor: onboarding_mode={self.onboarding_mode} status={self.status} "
            f"failed={failed} warned={warned} non_fixable={str(self.non_fixable).lower()}"
        )

    @property
    def exit_code(self) -> int:
        """2 for a failing readiness check, else 7 for a missing dependency, else 0."""
        if self.production_readiness and self.status == "fail":
            return EXIT_VERIFICATION_FAILED
        if self.non_fixable:
            return EXIT_DEPENDENCY_MISSING
        return EXIT_OK

    def to_json(self, *, created_at: str, producer_version: str) -> dict[str, Any]:
        """The ``gait.doctor.result`` object (without the CLI envelope)."""
        out: dict[str, Any] = {
            "ok": self.exit_code == EXIT_OK,
            "schema_id": RESULT_SCHEMA_ID,
            "schema_version": "1.0.0",
            "created_at": created_at,
            "producer_version": producer_version,
            "onboarding_mode": self.onboarding_mode,
            "status": self.status,
        }
        if self.non_fixable:
            out["non_fixable"] = True
        out["summary"] = self.summary
        out["fix_commands"] = self.fix_commands
        out.update({k: v for k, v in self.binary.items() if v})
        out["checks"] = [c.to_json() for c in self.checks]
        return out

    def text(self, *, summary_only: bool = False) -> list[str]:
        """Text mode: the summary line, then each check (and its fix)."""
        lines = [self.summary]
        if summary_only:
            if self.status == "pass" and not self.non_fixable:
                lines += [
                    "tip: export GAIT_ADOPTION_LOG=./gait-out/adoption.jsonl to record milestones",
                    "tip: gait doctor adoption --from ./gait-out/adoption.jsonl",
                ]
                return lines
            checks = [c for c in self.checks if c.status != "pass"]
        else:
            checks = self.checks
        for check in checks:
            lines.append(f"- {check.name}: {check.status} ({check.message})")
            if check.fix_command:
                lines.append(f"  fix: {check.fix_command}")
        return lines
