"""The supervisor under test, as a real subprocess: start, read its address, signal, reap, RSS.

Owns: building the ``python -m gait_runtime serve`` command line for a
workload profile (posture flags first, then the harness's own: loopback port 0,
``--json``, absolute state directories), starting it with a bounded wait for
its JSON start-up line, SIGTERM with a bounded drain wait, SIGKILL, and reading
its resident set size from ``/proc/<pid>/status``. The server's stderr (its
structured log) is appended to ``server.log`` in the output directory.
Does not own: what to send it (``driver.py``) or when to restart it (``runner.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.abc

from ..errors import IOFailure
from ..supervisor.service.posture import Posture, posture_serve_args
from .profile import WorkloadProfile

__all__ = ["ServerDirs", "ServerProcess", "read_rss_mb", "serve_command"]


@dataclass(frozen=True, slots=True)
class ServerDirs:
    """The directories one run's supervisor writes (absolute paths).

    Attributes:
        root: the run's output directory.
        sessions: session journals, state and chain files.
        traces: signed trace files.
        runpacks: checkpoint runpacks.
        policy: the policy file the server loads.
        log: the server's stderr, appended across restarts.
    """

    root: Path

    @property
    def sessions(self) -> Path:
        """Session journals, state and chain files."""
        return self.root / "sessions"

    @property
    def traces(self) -> Path:
        """Signed trace files."""
        return self.root / "traces"

    @property
    def runpacks(self) -> Path:
        """Checkpoint runpacks."""
        return self.root / "runpacks"

    @property
    def policy(self) -> Path:
        """The policy file the server loads."""
        return self.root / "policy.yaml"

    @property
    def log(self) -> Path:
        """The server's stderr, appended across restarts."""
        return self.root / "server.log"


def serve_command(profile: WorkloadProfile, posture: Posture, dirs: ServerDirs) -> list[str]:
    """The full ``gait serve`` command line for ``profile`` (harness flags win over the posture)."""
    srv = profile.server
    return [
        sys.executable,
        "-m",
        "gait_runtime",
        "serve",
        *posture_serve_args(posture),
        "--policy",
        str(dirs.policy),
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--backend",
        profile.backend,
        "--session-dir",
        str(dirs.sessions),
        "--trace-dir",
        str(dirs.traces),
        "--runpack-dir",
        str(dirs.runpacks),
        "--fsync",
        srv.fsync,
        "--checkpoint-every",
        str(srv.checkpoint_every),
        "--batch-limit",
        str(srv.batch_limit),
        "--mailbox-size",
        str(srv.mailbox_size),
        "--drain-timeout",
        f"{srv.drain_timeout_s:g}s",
        *srv.extra_args,
    ]


def read_rss_mb(pid: int) -> float | None:
    """Resident set size (``VmRSS``) of ``pid`` in MiB, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(slots=True)
class ServerProcess:
    """One incarnation of the supervisor subprocess.

    Attributes:
        command: the command line.
        cwd: working directory.
        env: environment.
        log_path: file receiving the server's stderr.
        process: the running process (after :meth:`start`).
        startup: the decoded start-up JSON line.
        base_url: ``http://host:port`` from the start-up line.
    """

    command: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    process: anyio.abc.Process | None = None
    startup: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout_s: float) -> str:
        """Start the server and wait (bounded) for its start-up line; return the base URL.

        Raises:
            IOFailure: the server exited, printed something unexpected, or did not
                report its address within ``timeout_s`` (the log tail is included).
        """
        # A plain file handle: the child process writes to it directly; closed in reap().
        self._log = open(self.log_path, "ab")  # noqa: SIM115, ASYNC230
        self.process = await anyio.open_process(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        buffer = b""
        with anyio.move_on_after(timeout_s):
            assert self.process.stdout is not None
            while b"\n" not in buffer:
                try:
                    chunk = await self.process.stdout.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
                buffer += chunk
        line = buffer.split(b"\n", 1)[0]
        try:
            startup = json.loads(line)
            listen = str(startup["listen"])
        except (ValueError, KeyError, TypeError):
            await self.kill()
            tail = self._log_tail()
            raise IOFailure(
                f"supervisor did not report its address within {timeout_s:g}s "
                f"(stdout {line[:200]!r}); log tail: {tail}",
                code="soak_server_start",
            ) from None
        self.startup = startup
        self.base_url = f"http://{listen}"
        return self.base_url

    def _log_tail(self) -> str:
        try:
            data = self.log_path.read_bytes()[-600:]
        except OSError:
            return ""
        return data.decode("utf-8", errors="replace").replace("\n", " | ")

    def signal(self, signum: int) -> None:
        """Send ``signum`` if the process is still running."""
        if self.process is not None and self.process.returncode is None:
            try:
                os.kill(self.process.pid, signum)
            except ProcessLookupError:
                pass

    async def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, then wait up to ``timeout_s`` for exit; SIGKILL on overrun.

        Returns:
            The exit code, or ``None`` when the drain overran and the process was killed.
        """
        self.signal(signal.SIGTERM)
        assert self.process is not None
        with anyio.move_on_after(timeout_s):
            code = await self.process.wait()
            await self.reap()
            return code
        await self.kill()
        return None

    async def kill(self) -> int:
        """SIGKILL and reap; returns the (negative) exit status."""
        self.signal(signal.SIGKILL)
        assert self.process is not None
        with anyio.fail_after(30, shield=True):
            code = await self.process.wait()
        await self.reap()
        return code

    async def reap(self) -> None:
        """Close the pipes and the log file."""
        if self.process is not None:
            with anyio.move_on_after(5, shield=True):
                await self.process.aclose()
        if self._log is not None:
            self._log.close()
            self._log = None
