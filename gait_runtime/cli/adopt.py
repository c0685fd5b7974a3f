"""``gait ci regress``, ``gait conformance``, ``gait skills install``: the adoption kit."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import EXIT_OK, EXIT_VERIFICATION_FAILED, default_envelope_fields
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_ci_regress", "build_conformance", "build_skills_install"]


def build_ci_regress(parser: Parser) -> Handler:
    """``gait ci regress``: the CI contract every template calls (docs/ci.md)."""
    from ..adopt.ci import DEFAULT_ARTIFACT_ROOT

    add_common(
        parser,
        "restores regress fixtures when gait.yaml is missing, runs gait regress run --json "
        "--junit, writes summary.json and summary.md, and exits with regress run's code",
    )
    parser.add_argument(
        "--workdir", default=".", help="repository root holding gait.yaml and fixtures/"
    )
    parser.add_argument("--config", default="gait.yaml", help="regress config (default gait.yaml)")
    parser.add_argument(
        "--artifact-root",
        default=DEFAULT_ARTIFACT_ROOT,
        help=f"results, junit.xml and the summary go here (default {DEFAULT_ARTIFACT_ROOT})",
    )
    parser.add_argument(
        "--from",
        dest="source",
        default="run_demo",
        help="run id or runpack to restore fixtures from when gait.yaml is missing "
        "(default run_demo: the demo runpack, recorded when absent)",
    )
    parser.add_argument(
        "--no-restore", action="store_true", help="never create fixtures; a missing config fails"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds allowed per step (default 900)"
    )
    parser.add_argument(
        "--github",
        action="store_true",
        help="also append exit_code, summary_path, artifact_path to $GITHUB_OUTPUT and the "
        "summary page to $GITHUB_STEP_SUMMARY (when set)",
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..adopt.ci import ContractOptions, publish_github, run_contract

        opts = ContractOptions(
            workdir=Path(ns.workdir),
            config=ns.config,
            artifact_root=ns.artifact_root,
            source=ns.source,
            restore=not ns.no_restore,
            timeout_s=ns.timeout,
        )
        outcome = run_contract(opts)
        if ns.github:
            publish_github(outcome, opts, dict(os.environ))
        s = outcome.summary
        payload = {k: v for k, v in s.items() if k not in ("schema_id", "schema_version")}
        payload["ok"] = outcome.exit_code == 0
        text = [f"ci regress: status={s['status']} exit_code={outcome.exit_code}"]
        if s.get("top_failure_reason"):
            text.append(f"top_failure_reason: {s['top_failure_reason']}")
        if s.get("next_command"):
            text.append(f"next: {s['next_command']}")
        if s.get("error"):
            text.append(f"error: {s['error']}")
            code, category, hint = default_envelope_fields(outcome.exit_code)
            payload.setdefault("error_code", code)
            payload.setdefault("error_category", category)
            payload.setdefault("hint", hint)
            payload.setdefault("retryable", False)
        if "summary_path" in s:
            text.append(f"summary: {s['summary_path']}")
            text.append("artifacts: " + ", ".join(s["artifact_paths"]))
        return Result(payload, text, outcome.exit_code)

    return handle


def build_conformance(parser: Parser) -> Handler:
    """``gait conformance``: check the published contracts against this install."""
    add_common(
        parser,
        "checks the intent schema's required fields, gate eval's digest fields, the run "
        "receipt ticket footer and refs.json receipts against docs/contracts; exit 2 on drift",
    )
    parser.add_argument(
        "--schemas",
        default="",
        help="schema directory holding v1/ to check instead of the installed one",
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..adopt.conformance import run_conformance

        report = run_conformance(schema_root=Path(ns.schemas) if ns.schemas else None)
        failed = [c for c in report if not c.ok]
        payload = {
            "ok": not failed,
            "checks": [c.as_json() for c in report],
            "checks_total": len(report),
            "checks_failed": len(failed),
        }
        text = [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in report]
        text.append(
            f"conformance {'ok' if not failed else 'failed'}: "
            f"{len(report) - len(failed)}/{len(report)} checks pass"
        )
        if failed:
            payload["error"] = "conformance drift: " + ", ".join(c.name for c in failed)
            payload["error_code"] = "conformance_drift"
            payload["error_category"] = "verification_failed"
            payload["hint"] = "compare the failing check with docs/contracts/ and the release notes"
            payload["retryable"] = False
        return Result(payload, text, 2 if failed else 0)

    return handle


def build_skills_install(parser: Parser) -> Handler:
    """``gait skills install``: copy the agent skills into a skills directory (idempotent)."""
    from ..adopt.skills import DEFAULT_DEST

    add_common(
        parser,
        "copies the gait agent skills (capture a runpack, incident to regression, policy test "
        "rollout) into a skills directory; re-running changes nothing",
    )
    parser.add_argument(
        "--dest", default=DEFAULT_DEST, help=f"skills directory (default {DEFAULT_DEST})"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 2 if any skill is missing/stale"
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..adopt.skills import install_skills

        entries = install_skills(Path(ns.dest), check=ns.check)
        stale = [e for e in entries if e.status in ("missing", "stale")]
        payload = {
            "ok": not stale,
            "dest": ns.dest,
            "skills": [e.as_json() for e in entries],
            "changed": sum(e.status in ("installed", "updated") for e in entries),
        }
        text = [f"{e.status}: {e.path}" for e in entries]
        code = EXIT_VERIFICATION_FAILED if stale else EXIT_OK
        if stale:
            payload["error"] = f"{len(stale)} skill file(s) missing or stale in {ns.dest}"
            payload["error_code"] = "skills_stale"
            payload["error_category"] = "verification_failed"
            payload["hint"] = f"run gait skills install --dest {ns.dest}"
            payload["retryable"] = False
        return Result(payload, text, code)

    return handle
