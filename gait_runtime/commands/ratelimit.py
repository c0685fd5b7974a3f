"""Rate limits and destructive budgets for ``gate eval`` (spec/gate.md §3.7).

Owns: the JSON state file
(``gait.gate.rate_limit_state``: counters sorted by key, pruned to the current
window, written atomically with mode 0600) and its lock protocol (``<state>.lock``
created exclusively, retried every 15 ms, given up after 3 s with a
``state_contention`` error, removed when older than 15 s). Clocks and the sleep
function are injected, so tests never wait. The pure parts (the
:class:`RateLimit` value, the most-restrictive choice, the counter key) live in
:mod:`gait_runtime.gate._limits` and are re-exported here.

Our choice where the spec is silent: a decision that is already ``block`` does
not consume budget (a blocked call never runs); ``used`` counts this request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..artifacts.fsutil import ensure_dir, write_atomic
from ..artifacts.gojson import go_json_indent
from ..artifacts.lockfile import release_lock_file, take_lock_file
from ..artifacts.timefmt import format_ns
from ..errors import ContentionError, InvalidInputError
from ..gate._limits import (
    LOCK_STALE_S,
    SCOPES,
    STATE_FILE_NAME,
    WINDOWS,
    RateLimit,
    counter_key,
    most_restrictive_limit,
)

__all__ = [
    "DEFAULT_STATE_PATH",
    "SCOPES",
    "WINDOWS",
    "RateLimit",
    "RateUse",
    "consume",
    "counter_key",
    "most_restrictive_limit",
]

DEFAULT_STATE_PATH: Final = ".gait-out/" + STATE_FILE_NAME
STATE_SCHEMA_ID: Final = "gait.gate.rate_limit_state"
LOCK_RETRY_S: Final = 0.015
LOCK_TIMEOUT_S: Final = 3.0


@dataclass(frozen=True, slots=True)
class RateUse:
    """Outcome of one :func:`consume`.

    Attributes:
        allowed: the request fits in the limit (and was counted).
        scope: the limit's scope.
        key: the counter key.
        used: requests counted in this window, including this one when allowed.
        remaining: requests left in this window.
    """

    allowed: bool
    scope: str
    key: str
    used: int
    remaining: int


@contextmanager
def _state_lock(
    path: Path,
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    wall_seconds: Callable[[], float],
) -> Iterator[None]:
    """``<state>.lock`` held for the block (:mod:`gait_runtime.artifacts.lockfile`)."""
    try:
        held = take_lock_file(
            path,
            deadline=monotonic() + LOCK_TIMEOUT_S,
            retry_s=LOCK_RETRY_S,
            stale_after_s=LOCK_STALE_S,
            monotonic=monotonic,
            sleep=sleep,
            wall_seconds=wall_seconds,
        )
    except OSError as exc:
        raise ContentionError(f"rate limit state lock {path}: {exc}") from exc
    if not held:
        raise ContentionError(
            f"rate limit state lock {path} is held; gave up after "
            f"{LOCK_TIMEOUT_S:g}s (state contention)"
        )
    try:
        yield
    finally:
        try:
            release_lock_file(path)
        except OSError:
            pass


def _read_counters(path: Path) -> dict[str, int]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInputError(f"read rate limit state {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw)
        counters = {str(c["key"]): int(c["count"]) for c in doc.get("counters") or []}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInputError(
            f"parse rate limit state {path}: not a gait.gate.rate_limit_state file",
            code="rate_limit_state_invalid",
        ) from exc
    return counters


def _current(key: str, now_ns: int) -> bool:
    """True when the counter's bucket is the current window's bucket."""
    window = key.split("|", 1)[0]
    seconds = WINDOWS.get(window)
    if seconds is None:
        return False
    bucket = now_ns // 1_000_000_000 // seconds * seconds
    return key.split("|")[2] == format_ns(bucket * 1_000_000_000)


def consume(
    state_path: str | Path,
    requests: Sequence[tuple[RateLimit, str]],
    *,
    now_ns: int,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_seconds: Callable[[], float] = time.time,
) -> list[RateUse]:
    """Check and count several limits atomically under the state lock.

    Args:
        state_path: the JSON state file.
        requests: ``(limit, counter key)`` pairs, checked in order.
        now_ns: decision time (selects and prunes windows).
        monotonic: clock for the lock timeout.
        sleep: wait between lock attempts.
        wall_seconds: wall clock for stale-lock detection.

    Returns:
        One :class:`RateUse` per pair. Nothing is counted when any pair is
        exceeded; an exceeded pair is never counted.

    Raises:
        ContentionError: the lock could not be taken within 3 s (exit 1).
        InvalidInputError: the state file is unreadable or malformed (exit 6).
    """
    path = Path(state_path)
    ensure_dir(path.parent if str(path.parent) else Path("."))
    lock_path = path.with_name(path.name + ".lock")
    with _state_lock(lock_path, monotonic=monotonic, sleep=sleep, wall_seconds=wall_seconds):
        counters = {k: v for k, v in _read_counters(path).items() if _current(k, now_ns)}
        uses = []
        for limit, key in requests:
            count = counters.get(key, 0)
            allowed = count < limit.requests
            used = count + 1 if allowed else count
            uses.append(RateUse(allowed, limit.scope, key, used, max(limit.requests - used, 0)))
        if all(u.allowed for u in uses):
            for use in uses:
                counters[use.key] = use.used
        doc = {
            "schema_id": STATE_SCHEMA_ID,
            "schema_version": "1.0.0",
            "counters": [{"key": k, "count": counters[k]} for k in sorted(counters)],
        }
        write_atomic(path, go_json_indent(doc) + b"\n")
    return uses
