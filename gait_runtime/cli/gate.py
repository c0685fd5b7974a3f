"""``gait gate eval``, ``policy validate|test|fmt``, ``approve``, ``trace verify``, ``bench gate``.

Thin handlers: parse flags, call one command body of
:mod:`gait_runtime.commands` (which uses :mod:`gait_runtime.gate`), render its
outcome with :mod:`._gate_text`. ``gate eval`` and ``policy test`` take their own ``--explain`` (an
explanation screen of the decision, exit code unchanged) instead of the frame's
one-line command description.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..artifacts.keys import KeySource
from ..clock import Clock, SystemClock
from ._frame import Handler, Parser, Result, add_common, correlation_id

__all__ = [
    "build_approve",
    "build_bench_gate",
    "build_gate_eval",
    "build_policy_fmt",
    "build_policy_test",
    "build_policy_validate",
    "build_trace_export",
    "build_trace_verify",
]

CLOCK: Clock = SystemClock()
"""Wall clock for trace ``observed_at``, token expiry checks and minting (tests swap it)."""


def _decision_flags(parser: Parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one line of JSON on stdout")
    parser.add_argument(
        "--explain",
        dest="explain_decision",
        action="store_true",
        help="explain which rule decided and why (exit code unchanged)",
    )


def _require(value: str, what: str) -> None:
    if not value.strip():
        from ..errors import UsageError

        raise UsageError(f"{what} is required")


def _argv(ns: argparse.Namespace) -> list[str]:
    return list(getattr(ns, "gait_argv", []))


def build_gate_eval(parser: Parser) -> Handler:
    """``gait gate eval --policy P --intent I [...]``: exit 0 allow/dry_run, 3 block, 4 approval."""
    _decision_flags(parser)
    add = parser.add_argument
    add("--policy", default="", help="policy YAML file")
    add("--intent", default="", help="IntentRequest JSON file")
    add("--profile", default="", help="standard (default) or oss-prod")
    add("--key-mode", default="", help="dev (default: ephemeral key) or prod")
    add("--config", default="", help="project config (default .gait/config.yaml, gate: section)")
    add("--no-config", action="store_true", help="do not read the project config")
    add("--private-key", default="", help="signing key file (prod)")
    add("--private-key-env", default="", help="env var holding the signing key (prod)")
    add("--approval-token", default="", help="approval token file")
    add("--approval-token-chain", default="", help="comma-separated approval token files")
    add("--approval-public-key", default="", help="public key verifying approval tokens")
    add("--approval-public-key-env", default="", help="env var holding that public key")
    add("--approval-private-key", default="", help="private key whose public half verifies tokens")
    add("--approval-private-key-env", default="", help="env var holding that private key")
    add("--trace-out", default="", help="trace path (default trace_<trace_id>_<event_id>.json)")
    add("--approval-audit-out", default="", help="approval audit record path")
    add("--simulate", action="store_true", help="observe only: record the verdict, then allow")
    add("--rate-limit-state", default="", help="counter file (.gait-out/gate_rate_limits.json)")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.gate import GateEvalOptions, run_gate_eval
        from ..commands.gate_config import fill_from_config, load_gate_defaults
        from ._gate_text import gate_eval_result

        defaults = load_gate_defaults(ns.config, disabled=ns.no_config)
        flags = {k: v for k, v in vars(ns).items() if isinstance(v, str)}
        vars(ns).update(fill_from_config(flags, defaults))
        tokens = [ns.approval_token, *ns.approval_token_chain.split(",")]
        opts = GateEvalOptions(
            policy=ns.policy,
            intent=ns.intent,
            profile=ns.profile or "standard",
            key_mode=ns.key_mode or "dev",
            private_key=KeySource(ns.private_key, ns.private_key_env),
            approval_public_key=KeySource(ns.approval_public_key, ns.approval_public_key_env),
            approval_private_key=KeySource(ns.approval_private_key, ns.approval_private_key_env),
            approval_tokens=[t for t in tokens if t.strip()],
            trace_out=ns.trace_out,
            approval_audit_out=ns.approval_audit_out,
            simulate=ns.simulate,
            explain=ns.explain_decision,
            rate_limit_state=ns.rate_limit_state or ".gait-out/gate_rate_limits.json",
            correlation_id=correlation_id(_argv(ns)),
        )
        return gate_eval_result(run_gate_eval(opts, now_ns=CLOCK.now_ns()), explain=opts.explain)

    return handle


def build_policy_test(parser: Parser) -> Handler:
    """``gait policy test <policy> <intent>``: same exit codes as ``gate eval``, no trace."""
    _decision_flags(parser)
    parser.add_argument("policy", help="policy YAML file")
    parser.add_argument("intent", help="IntentRequest JSON file")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.gate import run_policy_test
        from ._gate_text import policy_test_result

        explain = bool(ns.explain_decision)
        return policy_test_result(
            run_policy_test(ns.policy, ns.intent, explain=explain), explain=explain
        )

    return handle


def build_policy_validate(parser: Parser) -> Handler:
    """``gait policy validate <policy>``: exit 0 valid, 6 invalid."""
    add_common(parser, "parses and validates a policy strictly and prints its policy_digest")
    parser.add_argument("policy", nargs="?", default="", help="policy YAML file")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.gate_inputs import policy_validate_payload
        from ..gate.policy import load_policy

        _require(ns.policy, "a policy path")
        payload = policy_validate_payload(load_policy(ns.policy))
        return Result(payload, [str(payload["summary"])])

    return handle


def build_policy_fmt(parser: Parser) -> Handler:
    """``gait policy fmt <policy> [--write | --check]``: canonical formatting."""
    add_common(parser, "prints a policy in canonical layout (same policy_digest, idempotent)")
    parser.add_argument("policy", nargs="?", default="", help="policy YAML file")
    parser.add_argument("--write", action="store_true", help="rewrite the file in place")
    parser.add_argument("--check", action="store_true", help="exit 6 if not canonical")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.policy_fmt import format_file
        from ._gate_text import format_result

        _require(ns.policy, "a policy path")
        path = Path(ns.policy)
        out = format_file(path, write=ns.write, check=ns.check)
        return format_result(out, path, write=ns.write, check=ns.check)

    return handle


def build_approve(parser: Parser) -> Handler:
    """``gait approve --intent-digest --policy-digest --ttl --scope --approver --reason-code``."""
    add_common(parser, "mints an ed25519-signed approval token bound to intent and policy digests")
    add = parser.add_argument
    add("--intent-digest", default="", help="intent_digest the token approves")
    add("--policy-digest", default="", help="policy_digest the token is bound to")
    add("--ttl", default="", help="validity as a Go duration (90s, 30m, 1h30m)")
    add("--scope", action="append", default=[], help="comma-separated scope (tool:<name>, ...)")
    add("--approver", default="", help="approver identity")
    add("--reason-code", default="", help="reason or ticket code")
    add("--max-targets", type=int, default=0, help="maximum targets (0 = unlimited)")
    add("--max-ops", type=int, default=0, help="maximum operations (0 = unlimited)")
    add("--delegation-binding-digest", default="", help="delegation binding digest")
    add("--out", default="", help="token path (default approval_<token_id>.json)")
    add("--key-mode", default="dev", help="dev (ephemeral key) or prod")
    add("--private-key", default="", help="signing key file (prod)")
    add("--private-key-env", default="", help="env var holding the signing key (prod)")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.gate import ApproveOptions, run_approve
        from ._gate_text import approve_result

        opts = ApproveOptions(
            intent_digest=ns.intent_digest,
            policy_digest=ns.policy_digest,
            ttl=ns.ttl,
            scope=ns.scope,
            approver=ns.approver,
            reason_code=ns.reason_code,
            max_targets=ns.max_targets,
            max_ops=ns.max_ops,
            delegation_binding_digest=ns.delegation_binding_digest,
            out=ns.out,
            key_mode=ns.key_mode,
            private_key=KeySource(ns.private_key, ns.private_key_env),
        )
        return approve_result(run_approve(opts, now_ns=CLOCK.now_ns()))

    return handle


def build_trace_verify(parser: Parser) -> Handler:
    """``gait trace verify <path> --public-key P``: exit 0 verified, 2 failed, 6 no key."""
    add_common(
        parser,
        "verifies the ed25519 signature of a gate trace record, or of every line of a "
        "server trace log (its directory or one tracelog-*.jsonl segment)",
    )
    add = parser.add_argument
    add("path", nargs="?", default="", help="trace JSON file, trace-log directory or segment")
    add("--public-key", default="", help="public key file")
    add("--public-key-env", default="", help="env var holding the public key")
    add("--private-key", default="", help="private key file (public half derived)")
    add("--private-key-env", default="", help="env var holding the private key")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.gate import run_trace_verify
        from ._gate_text import trace_verify_result

        _require(ns.path, "a trace path")
        public = KeySource(ns.public_key, ns.public_key_env)
        private = KeySource(ns.private_key, ns.private_key_env)
        return trace_verify_result(run_trace_verify(ns.path, public, private))

    return handle


def build_trace_export(parser: Parser) -> Handler:
    """``gait trace export [--trace-dir D]``: exit 0 exported, 1 write failed, 6 no log."""
    add_common(
        parser,
        "writes the Go-compatible trace_<id>.json files of a server trace log (the files "
        "the server's background exporter writes), from the log's export cursor on; "
        "files already present with the same bytes are kept",
    )
    add = parser.add_argument
    add("--trace-dir", default="gait-out/mcp-serve/traces", help="the server's --trace-dir")
    add("--log", default="", help="trace-log directory (default <trace-dir>/log)")
    add("--out", default="", help="where the files go (default <trace-dir>)")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.tracelog import default_log_dir, run_trace_export

        trace_dir = Path(ns.trace_dir)
        log_dir = Path(ns.log) if ns.log else default_log_dir(trace_dir)
        out = Path(ns.out) if ns.out else trace_dir
        payload = run_trace_export(log_dir, out)
        return Result(
            payload,
            [
                f"trace export: {payload['exported']} written, "
                f"{payload['already_present']} already present in {out}"
            ],
        )

    return handle


def build_bench_gate(parser: Parser) -> Handler:
    """``gait bench gate [--iterations N]``: median/p90/p99 of evaluate and a full call."""
    add_common(
        parser, "times evaluate, normalise+digest+evaluate, +sign, and the full call in-process"
    )
    parser.add_argument("--iterations", type=int, default=2000, help="timed iterations per case")

    def handle(ns: argparse.Namespace) -> Result:
        from ..commands.bench import BENCH_CASES, run_gate_bench
        from ..errors import UsageError

        if ns.iterations < 10:
            raise UsageError("--iterations must be at least 10")
        report = run_gate_bench(ns.iterations)
        text = [f"bench gate: {report['iterations']} iterations, {report['policy_rules']} rules"]
        for case in BENCH_CASES:
            s = report[case]
            text.append(
                f"  {case:<10} median {s['median_us']:.1f} us  p90 {s['p90_us']:.1f} us  "
                f"p99 {s['p99_us']:.1f} us  cpu {s['cpu_us']:.1f} us"
            )
        return Result({"ok": True, **report}, text)

    return handle
