"""The ``gait`` command line: parse, call one library function, render, map errors to exit codes.

Owns: the command table (command words → module that defines it), ``main`` and
the single place where a :class:`~gait_runtime.errors.GaitError` becomes an exit
code. Each command module exposes ``build(parser) -> Handler``; it is imported
only when its command runs, so ``gait verify`` never pays for the server or
telemetry imports.
"""

from __future__ import annotations

import os
import sys
import time

from .. import __version__

# Nothing else at module level: ``gait hook claude-code`` imports this package and must
# start in a few milliseconds (see :func:`run`), so even ``typing`` waits.
TYPE_CHECKING = False  # type checkers treat this name as True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO, Final

    from ._frame import Result

__all__ = ["COMMANDS", "main", "run"]

COMMANDS: Final[dict[tuple[str, ...], tuple[str, str]]] = {
    ("version",): ("gait_runtime.cli.misc:build_version", "print the gait version"),
    ("completion",): (
        "gait_runtime.cli.completion:build_completion",
        "print a shell completion script (bash, zsh, tcsh)",
    ),
    ("demo",): ("gait_runtime.cli.runpack:build_demo", "record and verify a demo runpack offline"),
    ("verify",): (
        "gait_runtime.cli.runpack:build_verify",
        "verify a runpack (hashes, digest, signatures)",
    ),
    ("run", "record"): (
        "gait_runtime.cli.runpack:build_record",
        "record a runpack from a run record JSON",
    ),
    ("run", "inspect"): (
        "gait_runtime.cli.runpack:build_inspect",
        "list a runpack's intents and results",
    ),
    ("run", "receipt"): (
        "gait_runtime.cli.runpack:build_receipt",
        "print the ticket footer of a runpack",
    ),
    ("run", "replay"): (
        "gait_runtime.cli.runpack:build_replay",
        "replay a runpack with stubbed tools",
    ),
    ("run", "diff"): ("gait_runtime.cli.runpack:build_diff", "compare two runpacks"),
    ("run", "session", "start"): (
        "gait_runtime.cli.session:build_start",
        "start (or confirm) a session journal",
    ),
    ("run", "session", "append"): (
        "gait_runtime.cli.session:build_append",
        "append one event to a session journal",
    ),
    ("run", "session", "status"): (
        "gait_runtime.cli.session:build_status",
        "print a session journal's counters",
    ),
    ("run", "session", "export"): (
        "gait_runtime.cli.cluster:build_export",
        "write a session stored on NATS JetStream as journal + chain + checkpoints",
    ),
    ("run", "session", "checkpoint"): (
        "gait_runtime.cli.session:build_checkpoint",
        "checkpoint new session events into a runpack",
    ),
    ("run", "session", "compact"): (
        "gait_runtime.cli.session:build_compact",
        "drop journal events covered by checkpoints",
    ),
    ("verify", "session-chain"): (
        "gait_runtime.cli.session:build_verify_chain",
        "verify a session checkpoint chain",
    ),
    ("keys", "init"): ("gait_runtime.cli.keys:build_init", "write a new ed25519 key pair"),
    ("keys", "rotate"): ("gait_runtime.cli.keys:build_rotate", "write a new timestamped key pair"),
    ("serve",): ("gait_runtime.cli.serve:build_serve", "run the long-running decision server"),
    ("mcp", "serve"): (
        "gait_runtime.cli.serve:build_mcp_serve",
        "run the decision server (Go command name)",
    ),
    ("mcp", "proxy"): (
        "gait_runtime.cli.mcp:build_proxy",
        "MCP gateway: gate, journal and sign every tools/call to upstream MCP servers",
    ),
    ("demo", "mcp"): (
        "gait_runtime.cli.mcp:build_demo_mcp",
        "an MCP client through gait mcp proxy: one allowed call, one blocked",
    ),
    ("guard", "retain"): (
        "gait_runtime.cli.serve:build_guard_retain",
        "prune old trace/pack files with a report",
    ),
    ("demo", "swarm"): (
        "gait_runtime.cli.serve:build_demo_swarm",
        "serve, drive 3 simulated agents, checkpoint, verify, stop",
    ),
    ("keys", "verify"): (
        "gait_runtime.cli.keys:build_verify",
        "check a key pair loads and matches",
    ),
    ("gate", "eval"): (
        "gait_runtime.cli.gate:build_gate_eval",
        "evaluate an intent against a policy and sign a trace",
    ),
    ("policy", "validate"): ("gait_runtime.cli.gate:build_policy_validate", "validate a policy"),
    ("policy", "test"): (
        "gait_runtime.cli.gate:build_policy_test",
        "evaluate an intent against a policy (no trace)",
    ),
    ("policy", "fmt"): ("gait_runtime.cli.gate:build_policy_fmt", "format a policy canonically"),
    ("approve",): ("gait_runtime.cli.gate:build_approve", "mint a signed approval token"),
    ("trace", "verify"): (
        "gait_runtime.cli.gate:build_trace_verify",
        "verify a signed trace file or every line of a trace log",
    ),
    ("trace", "export"): (
        "gait_runtime.cli.gate:build_trace_export",
        "write trace files from a server trace log",
    ),
    ("bench", "gate"): ("gait_runtime.cli.gate:build_bench_gate", "benchmark the gate in-process"),
    ("soak", "run"): (
        "gait_runtime.cli.soak:build_run",
        "drive a real supervisor per a workload profile, verify, judge budgets",
    ),
    ("soak", "compare"): ("gait_runtime.cli.soak:build_compare", "compare two soak reports"),
    ("soak", "verify"): (
        "gait_runtime.cli.soak:build_verify",
        "re-verify a soak run's journals and acknowledged decisions",
    ),
    ("regress", "init"): (
        "gait_runtime.cli.regress:build_init",
        "turn a runpack or session checkpoint into a regress fixture",
    ),
    ("regress", "run"): (
        "gait_runtime.cli.regress:build_run",
        "grade every regress fixture; exit 5 on a regression",
    ),
    ("regress", "bootstrap"): (
        "gait_runtime.cli.regress:build_bootstrap",
        "regress init + run in one step",
    ),
    ("ci", "regress"): (
        "gait_runtime.cli.adopt:build_ci_regress",
        "the CI contract: restore fixtures, regress run --junit, summary, exit code through",
    ),
    ("conformance",): (
        "gait_runtime.cli.adopt:build_conformance",
        "check the published contracts against this install (exit 2 on drift)",
    ),
    ("skills", "install"): (
        "gait_runtime.cli.adopt:build_skills_install",
        "install the gait agent skills into a skills directory (idempotent)",
    ),
    ("scout", "signal"): (
        "gait_runtime.cli.scout:build_signal",
        "incident families, drift and top issues over many runpacks",
    ),
    ("doctor",): ("gait_runtime.cli.doctor:build_doctor", "diagnose the environment with fixes"),
    ("doctor", "adoption"): (
        "gait_runtime.cli.doctor:build_adoption",
        "activation milestones from an adoption log",
    ),
    ("init",): ("gait_runtime.cli.doctor:build_init", "write a starter .gait.yaml policy"),
    ("hook", "claude-code"): (
        "gait_runtime.cli.hook:build_claude_code",
        "answer a PreToolUse hook payload (stdin) with allow, ask or deny; fail-closed",
    ),
    ("sidecar",): (
        "gait_runtime.cli.sidecar:build_sidecar",
        "evaluate IntentRequest JSON lines on stdin, one result line each on stdout",
    ),
    ("plugins", "list"): (
        "gait_runtime.cli.plugins:build_list",
        "list installed plugins (adapters, integrations) and where each comes from",
    ),
}


def _resolve(argv: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """Longest command-word prefix of ``argv`` that names a command.

    Raises:
        UsageError: no command matches; for a command group (``run session``)
            the message lists the group's subcommands.
    """
    from ..errors import UsageError

    for length in (3, 2, 1):
        words = tuple(argv[:length])
        if len(words) == length and words in COMMANDS:
            return words, list(argv[length:])
    group = _longest_group(argv)
    if group:
        name = " ".join(group)
        subs = ", ".join(_group_members(group))
        nxt = argv[len(group)] if len(argv) > len(group) else ""
        if not nxt or nxt.startswith("-"):
            raise UsageError(f"missing subcommand for {name} (one of: {subs})")
        raise UsageError(f"unknown command: {name} {nxt} (one of: {subs})")
    if argv and not argv[0].startswith("-"):
        raise UsageError(f"unknown command: {argv[0]}")
    raise UsageError("missing command")


def _longest_group(argv: Sequence[str]) -> tuple[str, ...]:
    """The longest prefix of ``argv`` that starts one or more longer commands."""
    for length in (2, 1):
        words = tuple(argv[:length])
        if len(words) == length and any(len(k) > length and k[:length] == words for k in COMMANDS):
            return words
    return ()


def _group_members(group: tuple[str, ...]) -> list[str]:
    """The next command words under ``group`` (``run`` → ``diff, inspect, ..., session``)."""
    return sorted(
        {k[len(group)] for k in COMMANDS if len(k) > len(group) and k[: len(group)] == group}
    )


def _group_usage(group: tuple[str, ...]) -> str:
    name = " ".join(group)
    members = [(k, v[1]) for k, v in sorted(COMMANDS.items()) if k[: len(group)] == group]
    width = max(len(" ".join(k)) for k, _ in members)
    lines = [f"gait {name}: subcommands", ""]
    lines += [f"  gait {' '.join(k).ljust(width)}  {summary}" for k, summary in members]
    lines += ["", f"Run gait {name} <subcommand> --help for its flags."]
    return "\n".join(lines)


def _usage() -> str:
    width = max(len(" ".join(k)) for k in COMMANDS)
    lines = [f"gait {__version__}: the gait-runtime command line", "", "commands:"]
    for words, (_, summary) in sorted(COMMANDS.items()):
        lines.append(f"  gait {' '.join(words).ljust(width)}  {summary}")
    lines += ["", "Every command takes --json (one line of JSON) and --help."]
    return "\n".join(lines)


def _default_logging() -> bool:
    """Library warnings go to stderr, never stdout (which carries the command's output).

    Until a command configures logging itself (``gait serve`` does), log
    records at warning level and above are written to stderr; anything below
    is dropped. Returns True when this call configured structlog (and the
    caller must reset it), False when logging was already configured.
    """
    import logging

    import structlog  # lazily: it pulls in rich when installed (~0.3 s), the hook path must not

    if structlog.is_configured():
        return False
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    return True


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None) -> int:
    """Run one ``gait`` command and return its exit code (never raises for user errors).

    When ``GAIT_ADOPTION_LOG`` is set, one adoption event is appended after the
    command finishes (success or failure); a failed write never changes the exit code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    code = _dispatch(args, out if out is not None else sys.stdout)
    if os.environ.get("GAIT_ADOPTION_LOG", "").strip():
        from ..usage import record_invocation

        elapsed_ms = int((time.monotonic() - started) * 1000)
        record_invocation(args, code, elapsed_ms, producer_version=__version__, stderr=sys.stderr)
    return code


def _dispatch(args: list[str], stream: IO[str]) -> int:
    import importlib

    from ..errors import EXIT_INTERNAL, GaitError
    from ._frame import Parser, correlation_id, dump_json_line, render_error, render_result

    as_json = "--json" in args
    if not args:
        stream.write(f"gait {__version__}\n")
        return 0
    if args[0] in ("-h", "--help", "help"):
        stream.write(_usage() + "\n")
        return 0
    if args[0] in ("--version", "-V"):
        args = ["version", *args[1:]]
    group = _longest_group(args)
    if (
        group
        and tuple(args[: len(group)]) not in COMMANDS
        and args[len(group) :][:1]
        in (
            ["-h"],
            ["--help"],
        )
    ):
        stream.write(_group_usage(group) + "\n")
        return 0
    command = ""
    try:
        words, rest = _resolve(args)
        command = " ".join(words)
        target, summary = COMMANDS[words]
        module_name, func_name = target.split(":")
        builder = getattr(importlib.import_module(module_name), func_name)
        parser = Parser(prog=f"gait {command}", description=summary)
        handler = builder(parser)
        try:
            ns = parser.parse_intermixed_args(rest)
            ns.gait_argv = list(args)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        if getattr(ns, "explain", None):
            text = ns.explain
            if as_json:
                payload = {"ok": True, "explain": text, "correlation_id": correlation_id(args)}
                stream.write(dump_json_line(payload) + "\n")
            else:
                stream.write(text + "\n")
            return 0
        quiet_default = _default_logging()
        try:
            result: Result = handler(ns)
        finally:
            if quiet_default:
                import structlog

                structlog.reset_defaults()
    except GaitError as exc:
        return render_error(exc, command=command, as_json=as_json, argv=args, out=stream)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI boundary: never a traceback for a user
        err = GaitError(f"internal error: {type(exc).__name__}: {exc}")
        if "GAIT_DEBUG" in os.environ:
            raise
        render_error(err, command=command, as_json=as_json, argv=args, out=stream)
        return EXIT_INTERNAL
    return render_result(result, as_json=as_json, argv=args, out=stream)


def run() -> None:
    """Console-script entry point (``gait hook claude-code`` answers without the CLI frame).

    The hook's hot path (:mod:`gait_runtime.hookcli`, the same as ``gait-hook``) runs
    before anything else of the CLI is imported; ``--help``/``--json`` fall through to
    the regular command.
    """
    if sys.argv[1:3] == ["hook", "claude-code"]:
        from ..hookcli import exit_now
        from ..hookcli import main as hook_main

        code = hook_main(sys.argv[3:])
        if code is not None:
            exit_now(code)
    sys.exit(main())
