"""Locked single-write line appends: re-exported from :mod:`gait_runtime.artifacts.jsonl`.

The helper moved to ``artifacts`` so light callers (the CLI's adoption log) can
use it without importing this package; this module keeps the old import path.
"""

from __future__ import annotations

from ..artifacts.jsonl import LOCK_RETRY_S as LOCK_RETRY_S
from ..artifacts.jsonl import LOCK_STALE_AFTER_S as LOCK_STALE_AFTER_S
from ..artifacts.jsonl import LOCK_TIMEOUT_S as LOCK_TIMEOUT_S
from ..artifacts.jsonl import append_line_locked as append_line_locked
from ..artifacts.jsonl import file_lock as file_lock

__all__ = [
    "LOCK_RETRY_S",
    "LOCK_STALE_AFTER_S",
    "LOCK_TIMEOUT_S",
    "append_line_locked",
    "file_lock",
]
