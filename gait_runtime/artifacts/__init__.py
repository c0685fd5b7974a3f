"""Synchronous artifact core: canonical bytes, digests, signatures, keys, schemas, zips.

Nothing here imports anyio or does network I/O; files are touched only by the
explicitly named load/save/write functions.
"""

from __future__ import annotations
