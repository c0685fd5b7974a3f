"""Helper process for the SIGKILL test: append to one session forever, print each ack.

Usage: ``python crash_appender.py <session_dir> <appenders> <journal_io>``. Every acknowledged
sequence is printed (and flushed) only after the manager answered, i.e. after the
record is durable; the parent kills this process at random points.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import anyio

from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.sessions.config import JournalIo
from gait_runtime.telemetry.logging import configure_logging


async def main(session_dir: Path, appenders: int, journal_io: JournalIo) -> None:
    config = SessionConfig(
        session_dir=session_dir,
        checkpoint_every_events=25,
        idle_timeout_s=0,
        journal_io=journal_io,
    )
    async with SessionManager(config) as manager:

        async def appender(k: int) -> None:
            while True:
                ack = await manager.append("crash", "run_crash", EventFields(f"tool.{k}", "allow"))
                sys.stdout.write(f"{ack.sequence}\n")
                sys.stdout.flush()

        print("ready", flush=True)
        async with anyio.create_task_group() as tg:
            for k in range(appenders):
                tg.start_soon(appender, k)


if __name__ == "__main__":
    configure_logging(level="warning")  # stdout carries the acknowledged sequences only
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), cast(JournalIo, sys.argv[3]))
