"""``gait serve`` / ``gait mcp serve``, ``gait guard retain`` and ``gait demo swarm``.

Owns: building the commands' parsers (the server flags and the config they
build live in ``_serve_flags.py``: :func:`add_server_flags`,
:func:`config_from_args`, :func:`tracing_choice`), logging and tracing set-up, calling
:func:`gait_runtime.supervisor.serve` (which owns the event loop, exception
groups and error mapping), the start-up line (text, or one JSON line with
``--json``), and the ``gait guard retain`` flags of ``spec/sessions.md`` §11.1.
Nothing here decides, journals or serves.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import GaitError, InternalError, UsageError
from ._frame import Handler, Parser, Result, add_common, correlation_id, dump_json_line
from ._serve_flags import add_server_flags, config_from_args, tracing_choice

__all__ = [
    "add_server_flags",
    "build_guard_retain",
    "build_mcp_serve",
    "build_serve",
    "config_from_args",
    "serve_command",
    "tracing_choice",
]


def _serve(ns: argparse.Namespace, command: str) -> Result:
    gateway = None
    if getattr(ns, "upstream", None):
        from ._mcp_flags import gateway_from_args, require_sdk

        require_sdk()
        gateway = gateway_from_args(ns)
    return serve_command(ns, command, gateway=gateway)


def serve_command(
    ns: argparse.Namespace, command: str, *, gateway: Any = None, stdio: bool = False
) -> Result:
    """Run the server until it drained; with ``gateway`` also the MCP gateway.

    ``stdio`` serves the gateway on this process's stdin/stdout instead of HTTP (the
    start-up line then goes to stderr, and the server stops when stdin closes).
    """
    from ..supervisor.entry import ServeReady, serve
    from ..telemetry.logging import LogFormat, configure_logging, reset_logging, resolve_level
    from ..telemetry.otel import TracingHandle, setup_tracing

    try:
        config = config_from_args(ns, os.environ)
        level = resolve_level(ns.log_level)
        kind, endpoint = tracing_choice(ns.otel, ns.otel_endpoint, os.environ)
    except GaitError as exc:
        exc.details.setdefault("executed", False)
        raise
    fmt: LogFormat | None = None
    if ns.log_format == "json":
        fmt = "json"
    elif ns.log_format == "kv":
        fmt = "logfmt"
    configure_logging(level=level if ns.log_level is not None else None, fmt=fmt)
    if kind is None:
        tracing = TracingHandle()
    else:
        tracing = setup_tracing(
            exporter="otlp" if kind == "otlp" else "console",
            endpoint=endpoint,
            service_version=__version__,
        )
    argv = sys.argv[1:]
    mcp_gateway = None
    if gateway is not None:
        from ..supervisor.transport.mcp_gateway.gateway import McpGateway

        mcp_gateway = McpGateway(gateway)
    startup = sys.stderr if stdio else sys.stdout

    def announce(ready: ServeReady) -> None:
        if ns.json:
            line = {
                "adapter": config.adapter,
                "backend": config.backend,
                "http_server": ready.http_server,
                "loop": ready.loop,
                "correlation_id": correlation_id(argv),
                "listen": ready.listen,
                "ok": True,
                "pid": os.getpid(),
                "policy": str(config.policy_path),
                "policy_digest": ready.policy_digest,
                "profile": config.profile,
            }
            if mcp_gateway is not None:
                line["mcp"] = "stdio" if stdio else "/mcp"
                line["upstreams"] = sorted(mcp_gateway.upstreams)
            startup.write(dump_json_line(line) + "\n")
        else:
            where = "stdio" if stdio else f"listening on {ready.listen}"
            startup.write(
                f"{command}: {where} "
                f"(policy {config.policy_path}, backend {config.backend}, "
                f"http {ready.http_server}, pid {os.getpid()})\n"
            )
        startup.flush()

    try:
        listen = serve(
            config,
            tracing=tracing,
            use_uvloop=not ns.no_uvloop,
            on_ready=announce,
            mcp=mcp_gateway.attach if mcp_gateway is not None else None,
            stdio=mcp_gateway.serve_stdio if stdio and mcp_gateway is not None else None,
        )
    except InternalError as exc:
        if exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        raise
    finally:
        tracing.shutdown()
        reset_logging()
    payload = {"ok": True, "event": "stopped", "drained": True, "listen": listen}
    if stdio:
        sys.stderr.write(f"{command}: stopped (drained)\n")
        return Result(payload, [])
    return Result(payload, [f"{command}: stopped (drained)"])


def apply_posture(parser: Parser, ns: argparse.Namespace, command: str) -> argparse.Namespace:
    """Re-parse with a runtime posture's flags first, so flags given explicitly win.

    ``--posture NAME|path`` names a posture profile (``profiles/dev.yaml``,
    ``profiles/oss-prod.yaml`` or a file). ``--profile`` keeps the Go meaning
    (``standard|oss-prod`` context rules), which a posture may itself set.

    Raises:
        InvalidInputError: the posture cannot be found or does not validate.
    """
    if not ns.posture.strip():
        return ns
    from ..supervisor.service.posture import load_posture, posture_serve_args

    posture = load_posture(ns.posture.strip())
    given = list(getattr(ns, "gait_argv", []))[len(command.split()) :]
    reparsed = parser.parse_intermixed_args([*posture_serve_args(posture), *given])
    reparsed.gait_argv = getattr(ns, "gait_argv", [])
    return reparsed


def _build(parser: Parser, command: str, explain: str) -> Handler:
    add_common(parser, explain)
    add_server_flags(parser)
    from ._mcp_flags import add_gateway_flags

    add_gateway_flags(parser, upstream_flag="--mcp-upstream")
    parser.add_argument(
        "--posture",
        default="",
        help="runtime posture profile: dev | oss-prod | path to a posture YAML (flags win)",
    )
    return lambda ns: _serve(apply_posture(parser, ns, command), command)


def build_serve(parser: Parser) -> Handler:
    """``gait serve``: the long-running decision server (supervisor + HTTP)."""
    return _build(
        parser, "serve", "runs the long-running decision server: evaluate, sign, journal, answer"
    )


def build_mcp_serve(parser: Parser) -> Handler:
    """``gait mcp serve``: the Go command name for the same server."""
    return _build(
        parser, "mcp serve", "runs the decision server (alias of gait serve with the Go flags)"
    )


def build_guard_retain(parser: Parser) -> Handler:
    """``gait guard retain``: prune old trace and pack files with an auditable report."""
    add_common(parser, "deletes trace/pack files older than their TTL and reports what it did")
    parser.add_argument("--root", default=".", help="directory to walk")
    parser.add_argument("--trace-ttl", default="168h", help="TTL of trace_*.json (Go duration)")
    parser.add_argument("--pack-ttl", default="720h", help="TTL of evidence/incident packs")
    parser.add_argument("--report-out", default="", help="write the JCS report here")
    parser.add_argument("--dry-run", action="store_true", help="report without deleting")

    def handle(ns: argparse.Namespace) -> Result:
        from ..artifacts.fsutil import write_atomic
        from ..supervisor.service.config import parse_duration_flag
        from ..supervisor.service.retention import guard_retain

        trace_ttl = parse_duration_flag(ns.trace_ttl, flag="--trace-ttl")
        pack_ttl = parse_duration_flag(ns.pack_ttl, flag="--pack-ttl")
        if trace_ttl < 0 or pack_ttl < 0:
            raise UsageError("retention ttl values must be >= 0")
        if not Path(ns.root).is_dir():
            raise UsageError(f"retention root is not a directory: {ns.root}")
        report = guard_retain(
            ns.root,
            trace_ttl_s=trace_ttl,
            pack_ttl_s=pack_ttl,
            dry_run=ns.dry_run,
            producer_version=__version__,
        )
        if ns.report_out.strip():
            write_atomic(Path(ns.report_out), report.report_bytes())
        payload: dict[str, Any] = {"ok": True, "root_path": report.root_path}
        payload["scanned_files"] = report.scanned_files
        if report.deleted:
            payload["deleted_files"] = [e.to_json() for e in report.deleted]
        if report.kept:
            payload["kept_files"] = [e.to_json() for e in report.kept]
        if report.dry_run:
            payload["dry_run"] = True
        text = [f"guard retain ok: scanned={report.scanned_files} deleted={len(report.deleted)}"]
        return Result(payload, text)

    return handle


def build_demo_swarm(parser: Parser) -> Handler:
    """``gait demo swarm``: serve, drive three simulated agents, checkpoint, verify, stop."""
    add_common(
        parser,
        "starts the decision server on loopback with dev keys, runs 3 simulated agents "
        "through a few dozen tool calls, checkpoints, verifies every artifact, stops",
    )
    parser.add_argument(
        "--out", default="./gait-out", help="output root (the demo uses <out>/swarm)"
    )
    parser.add_argument(
        "--backend", default="asyncio", choices=("asyncio", "trio"), help="event loop"
    )

    def handle(ns: argparse.Namespace) -> Result:
        from ..demo_swarm import run_swarm
        from ..errors import VerificationError
        from ..telemetry.logging import configure_logging, reset_logging

        configure_logging(level="warning")
        try:
            report = run_swarm(Path(ns.out), backend=ns.backend)
        finally:
            reset_logging()
        verdicts = dict(sorted(report.verdicts.items()))
        payload: dict[str, Any] = {
            "ok": report.ok,
            "listen": report.listen,
            "policy_digest": report.policy_digest,
            "calls": report.calls,
            "verdicts": verdicts,
            "approved_with_token": report.approved,
            "journal_events": report.events,
            "traces_verified": report.traces_verified,
            "checkpoints_verified": report.checkpoints_verified,
            "chains_verified": report.chains_verified,
            "out_dir": report.out_dir,
            "ticket_footer": report.footer,
            "ticket_runpack": report.footer_path,
        }
        if not report.ok:
            raise VerificationError(
                "demo swarm: artifacts failed verification: " + "; ".join(report.failures),
                details=payload,
            )
        counts = " ".join(f"{k}={v}" for k, v in verdicts.items())
        text = [
            f"demo swarm: 3 agents made {report.calls} tool calls to gait serve on {report.listen}",
            f"verdicts: {counts} (approved with a token: {report.approved})",
            f"journals: {report.events} events in {report.chains_verified} sessions, "
            f"{report.checkpoints_verified} checkpoints",
            f"verified: {report.traces_verified} signed traces, "
            f"{report.checkpoints_verified} checkpoint runpacks, {report.chains_verified} session chains",
            f"artifacts: {report.out_dir}",
            report.footer,
            f"verify it again: gait verify {report.footer_path}",
        ]
        return Result(payload, text)

    return handle
