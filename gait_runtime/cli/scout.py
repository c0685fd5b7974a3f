"""``gait scout signal``: the thin handler over :mod:`gait_runtime.scout`.

Parses the run, trace, regress and baseline sources, shows a progress bar on
stderr (only on a terminal and never with ``--json``), writes the report to
``--out`` and renders the Go-compatible text or ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import msgspec

from .. import __version__
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_signal"]

_DEFAULT_OUT: Final = "./gait-out/scout_signal_report.json"


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A ``progress(done, total)`` callback drawing a rich bar on stderr, or ``None``."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    with bar:
        task = bar.add_task("scout: runpacks", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def build_signal(parser: Parser) -> Handler:
    """``gait scout signal --runs <run_id|path|dir,...> [--traces] [--regress] [--baseline]``."""
    add_common(
        parser,
        "fingerprints runpacks and checkpoints, groups them into incident families, "
        "attributes drift, ranks by risk and suggests the next fix (offline)",
    )
    add = parser.add_argument
    add("sources", nargs="*", help="more run sources (run_id, runpack path or directory)")
    add("--runs", action="append", default=[], help="comma-separated run_id|path|dir")
    add("--traces", action="append", default=[], help="comma-separated trace JSON files or dirs")
    add("--regress", action="append", default=[], help="comma-separated regress_result.json")
    add("--baseline", default="", help="a previous signal report to compare against")
    add("--out", default=_DEFAULT_OUT, help=f"report path (default {_DEFAULT_OUT})")

    def handle(ns: argparse.Namespace) -> Result:
        from ..scout import build_signal_report, summary_lines

        show = not ns.json and sys.stderr.isatty()
        with _progress(show) as progress:
            report = build_signal_report(
                [*ns.runs, *ns.sources],
                traces=ns.traces,
                regress=ns.regress,
                baseline=ns.baseline.strip(),
                producer_version=__version__,
                progress=progress,
            )
        with report:
            out = Path(ns.out)
            report.save(out)
            payload: dict[str, Any] = {
                "ok": True,
                "output_path": ns.out,
                "run_count": report.run_count,
                "family_count": report.family_count,
                "top_issues": len(report.top_issues),
            }
            if report.skipped:
                payload["skipped_inputs"] = len(report.skipped)
            text: list[str] = []
            if ns.json:
                payload["report"] = msgspec.Raw(report.to_bytes(sorted_keys=True))
            else:
                text = summary_lines(report, ns.out)
        return Result(payload, text)

    return handle
