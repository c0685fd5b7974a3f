"""Regress commands: ``gait regress init|run|bootstrap``.

Thin handlers over :mod:`gait_runtime.regress`: flags, the session-chain
verifier handed to init (the chain format belongs to the sessions code), a
``rich`` progress bar on stderr for runs with more than a handful of fixtures
(only on a terminal and never with ``--json``), and the Go-compatible text and
``--json`` output. Exit codes: 0 pass, 5 regression, 6 invalid input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_bootstrap", "build_init", "build_run"]

PROGRESS_MIN_FIXTURES: Final = 6
"""Runs with at least this many fixtures show a progress bar (on a terminal)."""


def _init_flags(parser: Parser) -> None:
    parser.add_argument(
        "--from", dest="from_", default="", help="run id, runpack path or session_chain.json"
    )
    parser.add_argument("--name", default="", help="fixture name (default: the run id, cleaned)")
    parser.add_argument(
        "--checkpoint",
        default="latest",
        help="session chain checkpoint: latest (default) or an index",
    )


def _run_flags(parser: Parser) -> None:
    parser.add_argument("--config", default="gait.yaml", help="regress config (default gait.yaml)")
    parser.add_argument(
        "--output", default="regress_result.json", help="result file (default regress_result.json)"
    )
    parser.add_argument("--junit", default="", help="also write a JUnit XML report here")
    parser.add_argument(
        "--grader",
        action="append",
        default=[],
        metavar="NAME",
        help="run an extra installed grader (repeatable; entry point group gait_runtime.graders)",
    )
    parser.add_argument(
        "--allow-nondeterministic",
        action="store_true",
        help="allow graders that declare themselves non-deterministic",
    )
    parser.add_argument(
        "--context-conformance", action="store_true", help="add the context_conformance grader"
    )
    parser.add_argument(
        "--allow-context-runtime-drift",
        action="store_true",
        help="accepted for compatibility; this build fails any context digest difference",
    )


def _verify_chain(path: Path) -> list[str]:
    from ..supervisor.journal import verify_chain

    report = verify_chain(path)
    return [*report.linkage_errors, *report.checkpoint_errors]


def _init(ns: argparse.Namespace) -> Any:
    from ..regress import init_fixture

    return init_fixture(
        ns.from_, name=ns.name, checkpoint=ns.checkpoint, chain_verifier=_verify_chain
    )


@contextmanager
def _progress(as_json: bool) -> Iterator[Any]:
    """A progress callback drawing a ``rich`` bar on stderr, or ``None`` when silent."""
    if as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("regress"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    )
    task = None

    def update(done: int, total: int, name: str) -> None:
        nonlocal task
        if total < PROGRESS_MIN_FIXTURES:
            return
        if task is None:
            task = bar.add_task("", total=total)
            bar.start()
        bar.update(task, completed=done, description=name)

    try:
        yield update
    finally:
        bar.stop()


def _run(ns: argparse.Namespace) -> Any:
    from ..regress import run_regress

    with _progress(ns.json) as progress:
        return run_regress(
            config=ns.config,
            output=ns.output,
            junit=ns.junit,
            extra_graders=ns.grader,
            context_conformance=ns.context_conformance,
            allow_nondeterministic=ns.allow_nondeterministic,
            progress=progress,
        )


def build_init(parser: Parser) -> Handler:
    """``gait regress init --from <run_id|path|session_chain.json> [--name] [--checkpoint]``."""
    add_common(parser, "turns a runpack or session checkpoint into fixtures/<name> and gait.yaml")
    _init_flags(parser)

    def handle(ns: argparse.Namespace) -> Result:
        outcome = _init(ns)
        return Result(outcome.to_json(), outcome.text())

    return handle


def build_run(parser: Parser) -> Handler:
    """``gait regress run [--config] [--output] [--junit] [--grader NAME]``: 0 pass, 5 fail."""
    add_common(parser, "replays and grades every fixture; exit 5 on a regression")
    _run_flags(parser)

    def handle(ns: argparse.Namespace) -> Result:
        outcome = _run(ns)
        return Result(outcome.to_json(), outcome.text(), outcome.exit_code)

    return handle


def build_bootstrap(parser: Parser) -> Handler:
    """``gait regress bootstrap --from ...``: init then run, in one process."""
    add_common(parser, "regress init then regress run in one step (the flow gait demo prints)")
    _init_flags(parser)
    _run_flags(parser)

    def handle(ns: argparse.Namespace) -> Result:
        init = _init(ns)
        outcome = _run(ns)
        run_json = outcome.to_json()
        payload = {k: v for k, v in init.to_json().items() if k not in ("next_commands", "ok")}
        payload.update({k: v for k, v in run_json.items() if k not in ("fixture_set", "graders")})
        ident = f"run_id={init.run_id} fixture={init.fixture_name}"
        if outcome.failures:
            header = f"regress bootstrap failed: {ident} failed={len(outcome.failures)}"
        else:
            header = f"regress bootstrap ok: {ident}"
        return Result(payload, outcome.text(header), outcome.exit_code)

    return handle
