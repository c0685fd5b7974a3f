"""The trace-file export worker process: ``python -m gait_runtime.artifacts._export_worker``.

Owns: the child side of the server's export hops. It reads one JSON request a line
on stdin (``log_dir``, ``trace_dir``, ``hop``, ``durable``), runs
:func:`~gait_runtime.artifacts.tracelog.export_step_or_error` and writes one JSON
answer a line on stdout (the :class:`~gait_runtime.artifacts.tracelog.ExportStep`
itself, as a JSON object); it exits at the end of its input, so it never outlives the server.
An unexpected exception is the step's ``error``, never a dead worker. Does not
own: when hops run, or their counters (``supervisor/service/trace_export.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import msgspec

from .tracelog import ExportStep, export_step_or_error

__all__ = ["answer", "main"]


def answer(request: dict[str, Any]) -> ExportStep:
    """Run the step one request names."""
    durable = request.get("durable")
    return export_step_or_error(
        Path(request["log_dir"]),
        Path(request["trace_dir"]),
        int(request["hop"]),
        (str(durable[0]), int(durable[1])) if durable else None,
    )


def main() -> int:
    """Answer requests until stdin ends (a terminal's Ctrl-C is the server's to handle)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout.buffer
    for raw in sys.stdin.buffer:
        try:
            step = answer(json.loads(raw))
        except Exception as exc:  # the worker's boundary: a failed step, never a dead worker
            step = ExportStep(
                error=f"trace export worker: {type(exc).__name__}: {exc}", pid=os.getpid()
            )
        out.write(msgspec.json.encode(step) + b"\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
