"""Helper process for the SIGKILL test: append to one session forever, print each ack.

Usage: ``python crash_appender.py <session_dir> <appenders> <journal_io>``. Every acknowledged
sequence is printed (and flushed) only after the manager answered, i.e. after the
record is durable; the parent kills this process at random points.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import cast

import anyio
import structlog

from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.sessions.config import JournalIo


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
    # stdout carries the acknowledged sequences only; warnings go to stderr
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), cast(JournalIo, sys.argv[3]))
