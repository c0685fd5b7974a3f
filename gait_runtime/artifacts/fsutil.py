"""Durable file writes shared by every artifact writer.

Owns: atomic replace (temp file in the same directory, write, fsync, chmod 0600,
rename, fsync the directory), parent-directory creation with mode 0750, the
"no ``..`` in a relative output path" rule, and the translation of ``OSError``
into :class:`~gait_runtime.errors.IOFailure`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path, PurePath

from ..errors import ArtifactInputError, IOFailure

__all__ = ["ensure_dir", "fsync_dir", "reject_parent_traversal", "write_atomic"]


def ensure_dir(path: Path) -> None:
    """``mkdir -p`` with mode 0750."""
    try:
        path.mkdir(mode=0o750, parents=True, exist_ok=True)
    except OSError as exc:
        raise IOFailure(f"create directory {path}: {exc.strerror or exc}") from exc


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (best effort on odd filesystems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def reject_parent_traversal(path: str, what: str = "output path") -> None:
    """Refuse relative paths that contain a ``..`` segment (absolute paths are allowed)."""
    pure = PurePath(path)
    if not pure.is_absolute() and ".." in pure.parts:
        raise ArtifactInputError(
            f"relative {what} must not traverse parent directories: {path}",
            code="path_traversal",
        )


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    A reader sees either the old bytes or the new ones, never a mix; after return
    the new bytes survive a crash.
    """
    directory = path.parent if str(path.parent) else Path(".")
    ensure_dir(directory)
    tmp = directory / f".{path.name}.tmp-{secrets.token_hex(6)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise IOFailure(f"write {path}: {exc.strerror or exc}") from exc
    fsync_dir(directory)
