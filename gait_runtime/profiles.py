"""Where the shipped YAML profiles live (runtime postures and soak workloads).

Owns: :func:`profiles_root` — the packaged copy (``gait_runtime/_data/profiles``
in a wheel) when present, else the checkout's top-level ``profiles/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["profiles_root"]


@cache
def profiles_root() -> Path:
    """Directory of the shipped profiles: the packaged copy if present, else the checkout's."""
    here = Path(__file__).resolve().parent
    packaged = here / "_data" / "profiles"
    if packaged.is_dir():
        return packaged
    return here.parent / "profiles"
