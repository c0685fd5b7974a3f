"""``gait skills install``: copy the shipped agent skills into a skills directory.

Owns: locating the skills (``skills/`` in a checkout, ``gait_runtime/_data/skills``
in a wheel) and installing each ``<name>/SKILL.md`` idempotently: a file whose
bytes already match is left alone (``unchanged``), a different one is replaced
atomically (``updated``), an absent one is written (``installed``). Files in the
destination that are not ours are never touched. ``check=True`` writes nothing
and reports ``missing`` / ``stale`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from ..artifacts.fsutil import write_atomic
from ..errors import IOFailure, UsageError

__all__ = ["DEFAULT_DEST", "SkillEntry", "install_skills", "skill_names", "skills_root"]

DEFAULT_DEST: Final = ".agents/skills"


@cache
def skills_root() -> Path:
    """Directory of the shipped skills: the packaged copy if present, else the checkout's."""
    packaged = Path(__file__).resolve().parent.parent / "_data" / "skills"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "skills"


def skill_names() -> list[str]:
    """Names of the shipped skills (directories holding a ``SKILL.md``)."""
    return sorted(p.parent.name for p in skills_root().glob("*/SKILL.md"))


@dataclass(frozen=True, slots=True)
class SkillEntry:
    """One skill file and what installing it did (or would do)."""

    name: str
    path: str
    status: str  # installed | updated | unchanged | missing | stale

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "status": self.status}


def install_skills(dest: Path, *, check: bool = False) -> list[SkillEntry]:
    """Install (or with ``check`` only compare) every shipped skill under ``dest``.

    Raises:
        UsageError: ``dest`` exists and is not a directory.
        IOFailure: a skill file could not be written.
    """
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"skills destination is not a directory: {dest}")
    entries = []
    for name in skill_names():
        source = (skills_root() / name / "SKILL.md").read_bytes()
        target = dest / name / "SKILL.md"
        try:
            current: bytes | None = target.read_bytes()
        except FileNotFoundError:
            current = None
        if current == source:
            status = "unchanged"
        elif check:
            status = "missing" if current is None else "stale"
        else:
            status = "installed" if current is None else "updated"
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, source, mode=0o644)
            except OSError as exc:
                raise IOFailure(f"cannot write {target}: {exc.strerror or exc}") from exc
        entries.append(SkillEntry(name, target.as_posix(), status))
    return entries
