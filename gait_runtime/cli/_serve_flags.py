"""The flags of ``gait serve`` / ``gait mcp serve`` and the config they build.

Owns: the server flags (the Go flags of ``spec/service.md`` §1 plus our own:
``--backend``, ``--http-server``, ``--drain-timeout``, ``--fsync``, mailbox and
batch sizes, timeouts, ``--otel``/``--otel-endpoint``, ``--log-level``,
``--log-format``), turning them into one frozen
:class:`~gait_runtime.supervisor.service.config.ServiceConfig` (every Go
start-up error message kept), and the span exporter choice
(:func:`tracing_choice`). Nothing here serves; ``serve.py`` runs the server.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..supervisor.service.config import HTTP_SERVERS
from ..supervisor.sessions.config import FSYNC_POLICIES, STATE_UPDATE_MODES
from ._frame import Parser, add_choice

__all__ = ["TracingChoice", "add_server_flags", "config_from_args", "tracing_choice"]


_NOT_EXECUTED: dict[str, object] = {"executed": False}


def add_server_flags(parser: Parser) -> None:
    """Add the server flags of ``gait serve`` / ``gait mcp serve`` to ``parser``."""
    add = parser.add_argument
    add("policy_arg", nargs="?", default="", help="policy file (same as --policy)")
    add(
        "--policy", default="", help="policy YAML (compiled at start-up; reloaded on SIGHUP/change)"
    )
    add(
        "--listen", default="127.0.0.1:8787", help="host:port or unix:/path (port 0: any free port)"
    )
    add_choice(
        parser,
        "--adapter",
        ("mcp", "openai", "anthropic", "langchain", "claude_code"),
        default="mcp",
        help="adapter of request calls that name none",
        details=_NOT_EXECUTED,
        error="unsupported --adapter value: {value}",
    )
    add_choice(
        parser,
        "--profile",
        ("standard", "oss-prod"),
        default="standard",
        help="context rules: oss-prod requires identity, workspace, session and prod keys",
        details=_NOT_EXECUTED,
        error="unsupported --profile value (expected standard or oss-prod)",
    )
    add_choice(
        parser,
        "--auth-mode",
        ("off", "token"),
        default="off",
        help="bearer-token authentication of callers",
        details=_NOT_EXECUTED,
        error="unsupported --auth-mode value (expected off or token)",
    )
    add("--auth-token-env", default="", help="environment variable holding the bearer token")
    add("--max-request-bytes", type=int, default=1 << 20, help="largest accepted request body")
    add_choice(
        parser,
        "--http-verdict-status",
        ("compat", "strict"),
        default="compat",
        help="HTTP status of decisions: compat (always 200) or strict (403/409 for non-allow)",
        details=_NOT_EXECUTED,
        error="unsupported --http-verdict-status value (expected compat or strict)",
    )
    add(
        "--allow-client-artifact-paths",
        action="store_true",
        help="accept trace_path/runpack_out from clients",
    )
    add("--trace-dir", default="./gait-out/mcp-serve/traces", help="where traces are written")
    add(
        "--trace-files",
        choices=("export", "off"),
        default="export",
        help="export: write trace_<id>.json from the trace log in the background (default); "
        "off: the durable log only, files via `gait trace export`",
    )
    add("--session-dir", default="./gait-out/mcp-serve/sessions", help="where journals live")
    add("--runpack-dir", default="", help="runpacks and checkpoints (empty: disabled)")
    for kind in ("trace", "runpack", "session"):
        add(
            f"--{kind}-max-age",
            default="0",
            help=f"delete {kind} files older than this (Go duration)",
        )
        add(f"--{kind}-max-count", type=int, default=0, help=f"keep at most this many {kind} files")
    add("--export-log-out", default="", help="decision log JSONL")
    add("--export-otel-out", default="", help="OTEL-style decision JSONL")
    add(
        "--otel",
        default=None,
        choices=("off", "otlp", "console"),
        help="decision spans: off|otlp|console (default: the OTEL_* environment, else off)",
    )
    add(
        "--otel-endpoint",
        default="",
        help="OTLP collector URL (implies --otel otlp; over HTTP /v1/traces is appended when "
        "missing; OTEL_EXPORTER_OTLP_PROTOCOL=grpc sends gRPC)",
    )
    add(
        "--log-level",
        default=None,
        help="debug|info|warning|error|critical (default: GAIT_LOG_LEVEL, else info)",
    )
    add(
        "--log-format",
        default="auto",
        choices=("json", "kv", "auto"),
        help="log lines on stderr: json, kv (logfmt key=value) or auto (aligned text on a "
        "TTY, else json)",
    )
    add_choice(
        parser,
        "--key-mode",
        ("dev", "prod"),
        default="dev",
        help="signing keys: dev (one ephemeral key per process) or prod (--private-key)",
        details=_NOT_EXECUTED,
        error='unsupported key mode: "{value}"',
    )
    add("--private-key", default="", help="private key file (prod)")
    add("--private-key-env", default="", help="environment variable holding the private key (prod)")
    add(
        "--approval-public-key",
        default="",
        help="public key that verifies approval_tokens sent with a request",
    )
    add("--backend", default="asyncio", choices=("asyncio", "trio"), help="event loop")
    add(
        "--http-server",
        default="auto",
        choices=HTTP_SERVERS,
        help="HTTP server: auto (uvicorn with httptools on asyncio, hypercorn on trio), "
        "uvicorn (asyncio only) or hypercorn",
    )
    add(
        "--no-uvloop",
        action="store_true",
        help="with --backend asyncio, use the stdlib loop even when uvloop is installed",
    )
    add("--drain-timeout", default="10s", help="graceful drain deadline (Go duration)")
    add(
        "--fsync",
        default="always",
        choices=FSYNC_POLICIES,
        help="journal fsync policy",
    )
    add(
        "--state-updates",
        default="rest",
        choices=STATE_UPDATE_MODES,
        help="when J.state.json is rewritten (a size-checked cache; rest = checkpoint/close)",
    )
    add(
        "--journal-io",
        default="auto",
        choices=("auto", "uring", "thread"),
        help="how appends under a session's lock lease reach the journal: an io_uring "
        "when the kernel allows (auto), required (uring), or the actor's thread",
    )
    add(
        "--max-sessions",
        type=int,
        default=0,
        help="bound on sessions open at once; at the bound the least recently used idle "
        "session closes early, and a new one is refused with 503 when all are busy "
        "(0 = derived from the descriptor limit: 2 per session, a quarter kept free)",
    )
    add(
        "--lock-lease",
        default="50ms",
        help="under sustained load keep a session's Go lock this long between releases "
        "(Go duration; longer = fewer lock-file round trips, longer waits for a Go CLI "
        "appending to the same journal; 0s = per batch)",
    )
    add(
        "--journal",
        default="",
        help="session journals on NATS JetStream: nats://host:port[,host:port...] (tls:// for "
        "TLS; credentials from GAIT_NATS_CREDS, GAIT_NATS_USER/GAIT_NATS_PASSWORD or "
        "GAIT_NATS_TOKEN); empty: files in --session-dir",
    )
    add("--journal-replicas", type=int, default=1, help="stream replicas when created (3: R3)")
    add("--journal-timeout", default="5s", help="bound on each request to the NATS cluster")
    add(
        "--journal-batch",
        default="atomic",
        choices=("atomic", "packed"),
        help="an actor batch on JetStream: one atomic batch of one message per record "
        "(atomic), or one message holding the batch's lines (packed; faster on one server)",
    )
    add("--lease", default="5s", help="session lease lifetime across supervisors (Go duration)")
    add(
        "--advertise",
        default="",
        help="this supervisor's address in redirects (default: http://<bound listen address>)",
    )
    add(
        "--cluster-unavailable-status",
        type=int,
        default=500,
        choices=(500, 503),
        help="answer when the cluster does not acknowledge an append: 500 = the fail-closed "
        "block, 503 = retry later",
    )
    add("--mailbox-size", type=int, default=1024, help="bounded mailbox per session")
    add("--batch-limit", type=int, default=256, help="group-commit batch limit")
    add(
        "--checkpoint-every",
        type=int,
        default=0,
        help="checkpoint every N events (needs --runpack-dir)",
    )
    add("--header-timeout", default="5s", help="request headers / idle keep-alive deadline")
    add("--read-timeout", default="30s", help="per-read body deadline")
    add("--policy-poll", default="1s", help="policy file change check interval (0: only SIGHUP)")
    add("--retention-interval", default="60s", help="retention janitor interval")
    add("--certfile", default="", help="PEM certificate chain: serve HTTPS (with --keyfile)")
    add("--keyfile", default="", help="PEM private key of --certfile")
    add(
        "--metrics-listen",
        default="",
        help="also serve /metrics, /livez and /readyz on this host:port, without the token",
    )
    add_choice(
        parser,
        "--metrics-auth",
        ("token", "loopback"),
        default="token",
        help="/metrics on the main port: token (the API token when auth is on) or "
        "loopback (no token from loopback clients)",
        details=_NOT_EXECUTED,
        error="unsupported --metrics-auth value (expected token or loopback)",
    )
    add(
        "--retention-report",
        default="",
        help="JSON report written by each sweep that removed files",
    )


def config_from_args(ns: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """Build the frozen server config from parsed flags (Go start-up checks, exit 6).

    Raises:
        UsageError: any invalid flag, with the Go implementation's message.
    """
    from ..supervisor.service.config import (
        RetentionRule,
        ServiceConfig,
        parse_duration_flag,
        parse_listen,
    )

    policy = (ns.policy or ns.policy_arg or "").strip()
    if not policy:
        raise UsageError("expected --policy <policy.yaml>")
    listen = parse_listen(ns.listen)
    auth_mode = ns.auth_mode.strip().lower()
    if auth_mode not in ("off", "token"):
        raise UsageError("unsupported --auth-mode value (expected off or token)")
    token: str | None = None
    if auth_mode == "token":
        if not ns.auth_token_env.strip():
            raise UsageError("--auth-mode token requires --auth-token-env")
        token = environ.get(ns.auth_token_env.strip(), "").strip()
        if not token:
            raise UsageError("--auth-token-env did not resolve to a non-empty value")
    rules: dict[str, RetentionRule] = {}
    for kind in ("trace", "runpack", "session"):
        age = parse_duration_flag(getattr(ns, f"{kind}_max_age"), flag=f"--{kind}-max-age")
        count = getattr(ns, f"{kind}_max_count")
        if age < 0:
            raise UsageError("retention max-age values must be >= 0")
        if count < 0:
            raise UsageError("retention max-count values must be >= 0")
        rules[kind] = RetentionRule(age, count)
    return ServiceConfig(
        policy_path=Path(policy),
        listen=listen,
        adapter=ns.adapter.strip().lower(),
        profile=ns.profile.strip().lower(),
        auth_token=token,
        max_request_bytes=ns.max_request_bytes,
        http_verdict_status=ns.http_verdict_status.strip().lower(),
        allow_client_artifact_paths=ns.allow_client_artifact_paths,
        trace_dir=Path(ns.trace_dir),
        trace_files=ns.trace_files,
        session_dir=Path(ns.session_dir),
        runpack_dir=Path(ns.runpack_dir) if ns.runpack_dir.strip() else None,
        trace_retention=rules["trace"],
        session_retention=rules["session"],
        runpack_retention=rules["runpack"],
        retention_interval_s=max(
            parse_duration_flag(ns.retention_interval, flag="--retention-interval"), 0.1
        ),
        retention_report=Path(ns.retention_report) if ns.retention_report.strip() else None,
        export_log_out=Path(ns.export_log_out) if ns.export_log_out.strip() else None,
        export_otel_out=Path(ns.export_otel_out) if ns.export_otel_out.strip() else None,
        key_mode=ns.key_mode.strip().lower() or "dev",
        private_key=ns.private_key,
        private_key_env=ns.private_key_env,
        approval_public_key=ns.approval_public_key,
        backend=ns.backend,
        http_server=ns.http_server,
        drain_timeout_s=parse_duration_flag(ns.drain_timeout, flag="--drain-timeout"),
        header_timeout_s=parse_duration_flag(ns.header_timeout, flag="--header-timeout"),
        read_timeout_s=parse_duration_flag(ns.read_timeout, flag="--read-timeout"),
        fsync=ns.fsync,
        state_updates=ns.state_updates,
        journal_io=ns.journal_io,
        lock_lease_s=parse_duration_flag(ns.lock_lease, flag="--lock-lease"),
        mailbox_size=ns.mailbox_size,
        max_sessions=ns.max_sessions,
        batch_limit=ns.batch_limit,
        checkpoint_every_events=ns.checkpoint_every,
        policy_poll_s=parse_duration_flag(ns.policy_poll, flag="--policy-poll"),
        certfile=Path(ns.certfile) if ns.certfile.strip() else None,
        keyfile=Path(ns.keyfile) if ns.keyfile.strip() else None,
        metrics_listen=parse_listen(ns.metrics_listen) if ns.metrics_listen.strip() else None,
        metrics_access=ns.metrics_auth,
        journal_url=ns.journal.strip(),
        journal_replicas=ns.journal_replicas,
        journal_timeout_s=parse_duration_flag(ns.journal_timeout, flag="--journal-timeout"),
        journal_batch=ns.journal_batch,
        lease_s=parse_duration_flag(ns.lease, flag="--lease"),
        advertise=ns.advertise.strip(),
        cluster_unavailable_status=ns.cluster_unavailable_status,
    )


TracingChoice = tuple[str | None, str | None]
"""``(exporter kind or None for off, endpoint or None)`` chosen for decision spans."""


def tracing_choice(otel: str | None, endpoint: str, environ: Mapping[str, str]) -> TracingChoice:
    """Which span exporter the server uses, and where it sends spans.

    Precedence: ``OTEL_SDK_DISABLED=true`` turns tracing off whatever else is
    set; then ``--otel``; then ``--otel-endpoint`` alone (means ``otlp``); then
    ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``); then an
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
    alone (means ``otlp``); otherwise off. With ``otlp`` and no
    ``--otel-endpoint`` the SDK reads the endpoint variables itself.

    Raises:
        UsageError: ``OTEL_TRACES_EXPORTER`` names an unsupported exporter.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None, None
    url = endpoint.strip() or None
    if otel is not None:
        return (None, None) if otel == "off" else (otel, url if otel == "otlp" else None)
    if url is not None:
        return "otlp", url
    value = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if value == "none":
        return None, None
    if value in ("otlp", "otlp_proto_http"):
        return "otlp", None
    if value == "console":
        return "console", None
    if value:
        raise UsageError(
            f"OTEL_TRACES_EXPORTER={value!r} is not supported (use otlp, console or none)",
            code="otel_exporter_unsupported",
        )
    if any(
        environ.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return "otlp", None
    return None, None
