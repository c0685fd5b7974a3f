"""Policy reload: the compiled policy as an immutable value swapped atomically.

Owns: :class:`PolicyHolder` — compile the policy file at start-up (with the
``oss-prod`` profile's checks), notice a changed file (mtime, size, inode),
recompile on SIGHUP or change, swap only on success (a bad edit keeps the
old policy and is counted and logged). Every decision reads
:attr:`PolicyHolder.current` once, so it records the ``policy_digest`` it
used. The Supervisor (``runtime.py``) runs the watch loop and the SIGHUP handler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from ...errors import PolicyError
from ...gate.model import CompiledPolicy
from ...gate.policy import check_oss_prod, load_policy

__all__ = ["PolicyHolder"]

_log = structlog.get_logger("gait_runtime.supervisor.runtime")


@dataclass(frozen=True, slots=True)
class _FileSignature:
    mtime_ns: int
    size: int
    inode: int


def _signature(path: Path) -> _FileSignature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _FileSignature(st.st_mtime_ns, st.st_size, st.st_ino)


def _is_empty_document(path: Path) -> bool:
    """True when the policy file holds nothing but blank lines and comments."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


class PolicyHolder:
    """Holds the current compiled policy; swaps it atomically on a good reload.

    Args:
        path: the policy file.
        profile: ``standard`` or ``oss-prod`` (which adds the profile's policy checks).

    Raises:
        PolicyError: the initial policy is unreadable or invalid.
    """

    def __init__(self, path: Path, *, profile: str) -> None:
        self._path = path
        self._profile = profile
        self._signature = _signature(path)
        self._current = self._compile()
        self.reloads = 0
        self.reload_errors = 0
        self.last_error = ""

    def _compile(self) -> CompiledPolicy:
        policy = load_policy(self._path)
        if _is_empty_document(self._path):
            if self._profile == "oss-prod":
                raise PolicyError(
                    f"policy file {self._path} is empty: the oss-prod profile refuses a policy "
                    "without rules (it would answer require_approval to every call)",
                    code="policy_empty",
                    hint="write the rules, or at least default_verdict, into the policy file",
                )
            _log.warning(
                "policy_empty",
                path=str(self._path),
                effect="every call answers require_approval (the default verdict)",
            )
        if self._profile == "oss-prod":
            check_oss_prod(policy)
        return policy

    @property
    def current(self) -> CompiledPolicy:
        """The policy every new decision uses (one attribute read: atomic)."""
        return self._current

    def reload(self) -> bool:
        """Compile the file again; swap on success, keep the old policy on failure.

        Returns:
            True when a new policy with a different digest is now current.
        """
        self._signature = _signature(self._path)
        try:
            policy = self._compile()
        except PolicyError as exc:
            self.reload_errors += 1
            self.last_error = exc.message
            _log.error(
                "policy_reload_failed",
                path=str(self._path),
                error=exc.message,
                kept_digest=self._current.digest,
            )
            return False
        self.last_error = ""
        changed = policy.digest != self._current.digest
        self._current = policy
        if changed:
            self.reloads += 1
            _log.info("policy_reloaded", path=str(self._path), digest=policy.digest)
        return changed

    def changed_on_disk(self) -> bool:
        """True when the file's mtime, size or inode changed since the last (re)load."""
        return _signature(self._path) != self._signature
