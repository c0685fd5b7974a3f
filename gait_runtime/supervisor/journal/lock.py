"""Cross-process locks: the Go-compatible session lock and the state-directory lock.

Owns: the session lock protocol of ``spec/sessions.md`` §7 (``J.lock`` created
exclusively with a JSON body, deleted on release, stale after ``stale_after``,
contention diagnostics in Go's exact format), its tunables (§7.2, Go duration
syntax), the in-process mutex per lock path that Go also keeps, and
:func:`acquire_state_dir_lock`, the ``flock`` that stops two supervisors from
sharing one state directory. Unlike Go, a lock whose ``pid`` names a process
that no longer exists on this host is reclaimed at once (and logged), so a
killed writer never stalls a session.

Everything here is synchronous: the session actor calls it from a worker
thread, once per batch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from ...artifacts.timefmt import format_go_duration, parse_go_duration, parse_rfc3339
from ...errors import ArtifactInputError, ContentionError, IOFailure, StateDirLockedError

__all__ = [
    "LOCK_SCHEMA",
    "HeldSessionLock",
    "LockSettings",
    "StateDirLock",
    "acquire_state_dir_lock",
    "lock_settings_from_env",
    "session_lock",
]

LOCK_SCHEMA: Final = "gait.runpack.session_lock"
STATE_DIR_LOCK_NAME: Final = ".gait-supervisor.lock"
_log = structlog.get_logger("gait_runtime.supervisor.journal.lock")

_SECOND: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class LockSettings:
    """Tunables of the session lock (``spec/sessions.md`` §7.2), in nanoseconds."""

    profile: str = "standard"
    timeout_ns: int = 2 * _SECOND
    retry_ns: int = 50_000_000
    stale_after_ns: int = 300 * _SECOND

    @property
    def swarm(self) -> bool:
        """True for the ``swarm`` profile (Go skips fsync after event appends)."""
        return self.profile == "swarm"


def lock_settings_from_env(environ: Mapping[str, str] | None = None) -> LockSettings:
    """Read ``GAIT_SESSION_LOCK_*`` exactly as Go does (invalid values fall back)."""
    env = os.environ if environ is None else environ
    profile = env.get("GAIT_SESSION_LOCK_PROFILE", "").strip().lower()
    if profile != "swarm":
        profile = "standard"
    swarm = profile == "swarm"
    defaults = (
        (10 * _SECOND, 20_000_000, 600 * _SECOND)
        if swarm
        else (2 * _SECOND, 50_000_000, 300 * _SECOND)
    )

    def pick(name: str, default: int, floor: int) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = parse_go_duration(raw)
        except ValueError:
            return default
        return value if value > 0 else floor

    timeout = pick("GAIT_SESSION_LOCK_TIMEOUT", defaults[0], 2 * _SECOND)
    retry = min(pick("GAIT_SESSION_LOCK_RETRY", defaults[1], 50_000_000), timeout)
    stale = pick("GAIT_SESSION_LOCK_STALE_AFTER", defaults[2], 300 * _SECOND)
    return LockSettings(profile, timeout, retry, stale)


_PATH_MUTEXES: dict[str, threading.Lock] = {}
_PATH_MUTEXES_GUARD: Final = threading.Lock()


def _path_mutex(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _PATH_MUTEXES_GUARD:
        mutex = _PATH_MUTEXES.get(key)
        if mutex is None:
            mutex = _PATH_MUTEXES[key] = threading.Lock()
        return mutex


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # unknown holder: never presume it dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_EMPTY_ABANDONED_NS: Final = _SECOND
"""An empty lock file older than this was left by a writer killed between create and write."""


def _reclaim_reason(path: Path, stale_after_ns: int, now_ns: int) -> str | None:
    """Why the existing lock may be removed, or ``None`` when it must be respected.

    Beyond Go's rules (stale ``created_at``), we reclaim a lock whose holder pid is
    gone, and an *empty* lock file older than one second: a writer creates the
    file and writes its body at once, so an empty file that old belongs to a
    writer killed in between (Go would block on it until its timeout, every time).
    A non-empty body we cannot parse is still respected, as in Go.
    """
    try:
        raw = path.read_bytes()
        if not raw.strip():
            idle = now_ns - path.stat().st_mtime_ns
            return (
                f"empty lock file abandoned {idle // 1_000_000} ms ago"
                if idle > _EMPTY_ABANDONED_NS
                else None
            )
        body = json.loads(raw)
    except FileNotFoundError:
        return "gone"
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    created = body.get("created_at")
    if isinstance(created, str):
        try:
            age = now_ns - parse_rfc3339(created).unix_ns
        except ArtifactInputError:
            age = None
        if age is not None and age > stale_after_ns:
            return f"stale (created_at={created})"
    pid = body.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid != os.getpid():
        return None if _pid_alive(pid) else f"holder pid {pid} is gone"
    return None


def _lock_body(now_ns: int) -> bytes:
    seconds = now_ns // _SECOND
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    body = {
        "created_at": stamp,
        "pid": os.getpid(),
        "schema_id": LOCK_SCHEMA,
        "schema_version": "1.0.0",
    }
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


class HeldSessionLock:
    """One holding of ``<journal>.lock``: :meth:`acquire`, then :meth:`release`.

    Holds the in-process mutex of the lock path for as long as the file lock,
    so threads and tasks of this process never race each other to the file
    (Go does the same). ``release`` may be called from another thread than
    ``acquire`` (the session actor's worker threads differ between batches).

    Args:
        journal: the journal path ``J``; the lock file is ``J + ".lock"``.
        settings: timeout, retry and staleness.
        wall_ns: wall clock used for the lock body and staleness.
        on_reclaim: called with a reason when a stale or orphaned lock is removed.
    """

    def __init__(
        self,
        journal: Path,
        settings: LockSettings,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        on_reclaim: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(str(journal) + ".lock")
        self._settings = settings
        self._wall_ns = wall_ns
        self._on_reclaim = on_reclaim
        self._mutex = _path_mutex(self.path)
        self.held = False

    def acquire(self) -> None:
        """Take the mutex, then the lock file.

        Raises:
            ContentionError: the lock stayed busy for ``timeout`` (Go's message).
            IOFailure: the lock file could not be created for another reason.
        """
        self._mutex.acquire()
        try:
            _acquire(self.path, self._settings, self._wall_ns, self._on_reclaim)
        except BaseException:
            self._mutex.release()
            raise
        self.held = True

    def release(self) -> None:
        """Delete the lock file and drop the mutex (no-op when not held)."""
        if not self.held:
            return
        self.held = False
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        finally:
            self._mutex.release()


@contextlib.contextmanager
def session_lock(
    journal: Path,
    settings: LockSettings,
    *,
    wall_ns: Callable[[], int] = time.time_ns,
    on_reclaim: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold ``<journal>.lock`` for the duration of the ``with`` block (see :class:`HeldSessionLock`).

    Raises:
        ContentionError: the lock stayed busy for ``timeout`` (Go's message).
        IOFailure: the lock file could not be created for another reason.
    """
    handle = HeldSessionLock(journal, settings, wall_ns=wall_ns, on_reclaim=on_reclaim)
    handle.acquire()
    try:
        yield
    finally:
        handle.release()


def _acquire(
    lock_path: Path,
    settings: LockSettings,
    wall_ns: Callable[[], int],
    on_reclaim: Callable[[str], None] | None,
) -> None:
    started = time.monotonic_ns()
    attempts = 0
    while True:
        attempts += 1
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            reason = _reclaim_reason(lock_path, settings.stale_after_ns, wall_ns())
            if reason is not None:
                if reason != "gone":
                    _log.warning("reclaimed session lock", path=str(lock_path), reason=reason)
                    if on_reclaim is not None:
                        on_reclaim(reason)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock_path)
                continue
            waited = time.monotonic_ns() - started
            if waited >= settings.timeout_ns:
                waited_ms = waited - waited % 1_000_000
                raise ContentionError(
                    "session state contention: lock timeout "
                    f"(path={lock_path} waited={format_go_duration(waited_ms)} attempts={attempts} "
                    f"timeout={format_go_duration(settings.timeout_ns)} "
                    f"retry={format_go_duration(settings.retry_ns)} profile={settings.profile})",
                    code="session_lock_timeout",
                ) from None
            time.sleep(settings.retry_ns / _SECOND)
            continue
        except OSError as exc:
            raise IOFailure(f"create session lock {lock_path}: {exc.strerror or exc}") from exc
        try:
            os.write(fd, _lock_body(wall_ns()))
        except OSError as exc:
            # ENOSPC/EIO: never leave an empty lock behind (a Go CLI would wait on it).
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
            raise IOFailure(f"write session lock {lock_path}: {exc.strerror or exc}") from exc
        os.close(fd)
        return


@dataclass(slots=True)
class StateDirLock:
    """A held state-directory lock; call :meth:`release` (or use ``with``) to drop it."""

    path: Path
    fd: int

    def release(self) -> None:
        """Unlock and close (the lock file stays; its content is only informative)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StateDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_state_dir_lock(directory: Path) -> StateDirLock:
    """Take the exclusive, non-blocking ``flock`` on ``<directory>/.gait-supervisor.lock``.

    The kernel drops an ``flock`` when its holder dies, so a crashed supervisor
    never leaves the directory locked.

    Raises:
        StateDirLockedError: another process holds it (the message names its pid).
        IOFailure: the directory or lock file cannot be created.
    """
    try:
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        path = directory / STATE_DIR_LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise IOFailure(f"open state directory lock in {directory}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = b""
        with contextlib.suppress(OSError):
            holder = os.pread(fd, 64, 0)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise IOFailure(f"lock state directory {directory}: {exc.strerror or exc}") from exc
        pid = holder.decode("ascii", "replace").strip() or "unknown"
        raise StateDirLockedError(
            f"state directory {directory} is in use by another supervisor (pid {pid} holds {path})",
            details={"holder_pid": pid, "lock_path": str(path)},
        ) from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return StateDirLock(path, fd)
