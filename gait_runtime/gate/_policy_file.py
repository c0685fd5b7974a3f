"""Reading a policy file: the text and its source name (``str(Path(path))``).

Owns: :func:`read_policy`, the file step of :func:`~.policy.load_policy`, which the
coding-agent hook calls on every decision, so it does not import :mod:`pathlib` for a
path already in normal form.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import PolicyError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_policy"]


def read_policy(path: str | Path) -> tuple[str, str]:
    """The file step of :func:`load_policy`: (the policy text, its source name).

    The source name is ``str(Path(path))``.

    Raises:
        PolicyError: unreadable policy file.
    """
    source = _path_text(path)
    try:
        with open(source, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
    except OSError as exc:
        raise PolicyError(
            f"read policy {source}: {exc.strerror or exc}", code="policy_unreadable"
        ) from exc
    return text, source


def _path_text(path: str | Path) -> str:
    """``str(Path(path))`` without importing pathlib for a path already in that form
    (the coding-agent hook reads its policy on every call)."""
    text = os.fspath(path)
    if (
        text
        and "//" not in text
        and "/./" not in text
        and not text.startswith("./")
        and not text.endswith(("/", "/."))
    ):
        return text
    from pathlib import Path

    return str(Path(text))
