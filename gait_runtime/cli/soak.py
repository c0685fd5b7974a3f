"""``gait soak run|compare|verify``: thin handlers over :mod:`gait_runtime.harness`.

Owns: the flags (profile, output directory, overrides, ``--budget name=value``,
``--quiet``, ``--no-plot``), the exit code of a run (0 when every budget and
check passed, 2 naming what failed), and rendering. The harness itself lives
in ``gait_runtime/harness/``; see ``docs/soak.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, EXIT_VERIFICATION_FAILED, UsageError
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_compare", "build_run", "build_verify"]


def _budget(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError(text)
        return name.strip(), float(value)
    except ValueError:
        raise UsageError(f"invalid --budget {text!r} (expected name=value)") from None


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    from ..supervisor.service.config import parse_duration_flag

    return parse_duration_flag(text, flag="--duration")


def build_run(parser: Parser) -> Handler:
    """``gait soak run``: drive a real supervisor per a workload profile, verify, report."""
    add_common(
        parser,
        "starts a supervisor, drives simulated agents over loopback HTTP, verifies every "
        "journal and acknowledged decision, and judges the profile's budgets",
    )
    add = parser.add_argument
    add("--profile", required=True, help="workload profile: a shipped NAME or a YAML path")
    add("--out", default="", help="output directory (default gait-out/soak/<profile>-<time>)")
    add("--duration", default=None, help="total driving time, e.g. 3s, 30m (scales the stages)")
    add("--agents", type=int, default=None, help="agents in every stage")
    add("--sessions", type=int, default=None, help="sessions in every stage")
    add("--backend", default=None, choices=("asyncio", "trio"), help="event loop of both sides")
    add("--seed", type=int, default=None, help="seed of the call mix and restart points")
    add("--restarts", type=int, default=None, help="number of injected restarts")
    add("--max-agents", type=int, default=None, help="capacity ramp: largest step")
    add(
        "--budget",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a budget (repeatable), e.g. p99_ms=50",
    )
    add("--quiet", action="store_true", help="no live progress on stderr")
    add("--no-plot", action="store_true", help="do not write soak_plot.png")

    def handle(ns: argparse.Namespace) -> Result:
        from ..harness import apply_overrides, load_profile, run_soak

        profile = apply_overrides(
            load_profile(ns.profile),
            duration_s=_duration(ns.duration),
            agents=ns.agents,
            sessions=ns.sessions,
            backend=ns.backend,
            seed=ns.seed,
            restarts=ns.restarts,
            budgets=dict(_budget(b) for b in ns.budget),
            max_agents=ns.max_agents,
        )
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out = Path(ns.out) if ns.out.strip() else Path("gait-out/soak") / f"{profile.name}-{stamp}"
        outcome = run_soak(
            profile, out, progress=None if ns.quiet else sys.stderr, plot=not ns.no_plot
        )
        payload: dict[str, Any] = dict(outcome.report)
        payload["report_path"] = str(outcome.report_path)
        if outcome.plot_path is not None:
            payload["plot_path"] = str(outcome.plot_path)
        code = EXIT_VERIFICATION_FAILED if outcome.failed else EXIT_OK
        return Result(payload, outcome.text, code)

    return handle


def build_compare(parser: Parser) -> Handler:
    """``gait soak compare a.json b.json``: two reports side by side."""
    add_common(parser, "prints two soak reports side by side with the change of each figure")
    parser.add_argument("a", help="first soak_report.json (the baseline)")
    parser.add_argument("b", help="second soak_report.json")

    def handle(ns: argparse.Namespace) -> Result:
        from ..harness.compare import compare_reports, compare_text
        from ..harness.report import load_report

        a, b = load_report(Path(ns.a)), load_report(Path(ns.b))
        rows = compare_reports(a, b)
        payload = {"ok": True, "a": ns.a, "b": ns.b, "figures": rows}
        return Result(payload, compare_text(a, b, rows, (ns.a, ns.b)))

    return handle


def build_verify(parser: Parser) -> Handler:
    """``gait soak verify DIR``: re-run the post-run checks on a soak output directory."""
    add_common(
        parser,
        "re-verifies a soak run directory: journals, chains and every acknowledged decision",
    )
    parser.add_argument("dir", help="a gait soak run output directory")
    parser.add_argument(
        "--skip-trace-files", action="store_true", help="do not require trace files"
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..harness.verify import verify_run

        root = Path(ns.dir)
        if not (root / "sessions").is_dir():
            raise UsageError(f"not a soak run directory (no sessions/): {root}")
        result = verify_run(
            root / "sessions", root / "acks.jsonl", check_trace_files=not ns.skip_trace_files
        )
        payload = result.to_json()
        text = [
            f"soak verify {'ok' if result.ok else 'FAILED'}: {result.journals} journals, "
            f"{result.events} events, {result.acknowledged} acknowledged, "
            f"{result.acknowledged_missing} missing, {result.malformed_lines} malformed lines"
        ]
        for check, count in sorted(result.failures.items()):
            text.append(f"  check {check} failed {count} time(s)")
        text += [f"  {p.check}: {p.journal}: {p.detail}" for p in result.problems]
        return Result(payload, text, EXIT_OK if result.ok else EXIT_VERIFICATION_FAILED)

    return handle
