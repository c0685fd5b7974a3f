"""The frozen configuration of one decision server (``gait serve`` / ``gait mcp serve``).

Owns: :class:`ServiceConfig` (every setting the supervisor and its HTTP edge
read, validated once at start-up), :class:`ListenAddress` with the
``host:port | unix:/path`` parser and the loopback rule of ``spec/service.md``
§1, :class:`RetentionRule`, and the duration-flag adapter used by the retention
flags. Does not own: flag parsing (``cli/serve.py``) or anything that runs.

Every validation error is a :class:`~gait_runtime.errors.UsageError` whose
message is the Go implementation's text, so ``gait serve`` exits 6 with the
same words.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from ...artifacts.timefmt import parse_go_duration
from ...errors import UsageError
from ..sessions.config import JOURNAL_IO_MODES, FsyncPolicy, JournalIo, StateUpdates

__all__ = [
    "ADAPTER_NAMES",
    "DEFAULT_LISTEN",
    "DEFAULT_MAX_REQUEST_BYTES",
    "HTTP_SERVERS",
    "ListenAddress",
    "RetentionRule",
    "ServiceConfig",
    "parse_duration_flag",
    "parse_listen",
    "resolve_http_server",
]

DEFAULT_LISTEN: Final = "127.0.0.1:8787"
DEFAULT_MAX_REQUEST_BYTES: Final = 1 << 20
"""1 MiB, the Go default for ``--max-request-bytes``."""

ADAPTER_NAMES: Final = ("mcp", "openai", "anthropic", "langchain", "claude_code")
"""Adapter names of ``spec/service.md`` §6 (the wire contract)."""

Backend = Literal["asyncio", "trio"]

HTTP_SERVERS: Final[tuple[str, ...]] = ("auto", "uvicorn", "hypercorn")
"""``--http-server`` choices: ``auto`` is uvicorn on asyncio, hypercorn on trio."""


def resolve_http_server(choice: str, backend: str) -> str:
    """The server that ``choice`` means on ``backend`` (``uvicorn`` or ``hypercorn``).

    Raises:
        UsageError: an unknown choice, or uvicorn asked for on trio.
    """
    if choice not in HTTP_SERVERS:
        raise UsageError("unsupported --http-server value (expected auto, uvicorn or hypercorn)")
    if choice == "auto":
        return "hypercorn" if backend == "trio" else "uvicorn"
    if choice == "uvicorn" and backend == "trio":
        raise UsageError("--http-server uvicorn needs --backend asyncio (trio: hypercorn)")
    return choice


def parse_duration_flag(text: str, *, flag: str) -> float:
    """A duration flag's value (``168h``, ``1m30s``, ``-5s``, ``0``) in seconds.

    The syntax is :func:`~gait_runtime.artifacts.timefmt.parse_go_duration`'s;
    this adds the unit (seconds) and the Go flag error wording.

    Args:
        text: the duration text.
        flag: flag name used in the error message.

    Raises:
        UsageError: the text is not a Go duration.
    """
    try:
        return parse_go_duration(text) / 1e9
    except ValueError:
        raise UsageError(f'invalid {flag} value: time: invalid duration "{text.strip()}"') from None


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """Where the server listens: a TCP ``host:port`` or a Unix socket path.

    Attributes:
        host: host part as given (brackets stripped; empty means every interface).
        port: TCP port (0 asks the OS for a free one).
        unix_path: path of a Unix domain socket; when set, ``host``/``port`` are unused.
    """

    host: str = "127.0.0.1"
    port: int = 8787
    unix_path: str = ""

    @property
    def is_unix(self) -> bool:
        """True for a Unix domain socket."""
        return bool(self.unix_path)

    @property
    def is_loopback(self) -> bool:
        """The bind rule of ``spec/service.md`` §1 (Unix sockets count as local)."""
        if self.is_unix:
            return True
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def bind_host(self) -> str:
        """Host to bind: the empty host means every IPv4 interface."""
        return self.host or "0.0.0.0"

    def display(self) -> str:
        """``host:port`` (IPv6 hosts in brackets) or ``unix:/path``."""
        if self.is_unix:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen(text: str) -> ListenAddress:
    """Parse ``--listen``: ``host:port``, ``[v6]:port``, ``:port`` or ``unix:/path``.

    Raises:
        UsageError: ``invalid --listen address: <detail>`` (Go's wording).
    """
    raw = text.strip()
    if raw.startswith("unix:"):
        path = raw[len("unix:") :]
        if not path:
            raise UsageError("invalid --listen address: missing unix socket path")
        return ListenAddress(unix_path=path)
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or raw[end + 1 : end + 2] != ":":
            raise UsageError(f"invalid --listen address: address {raw}: missing port in address")
        host, port_text = raw[1:end], raw[end + 2 :]
    else:
        if raw.count(":") != 1:
            detail = (
                "too many colons in address" if raw.count(":") > 1 else "missing port in address"
            )
            raise UsageError(f"invalid --listen address: address {raw}: {detail}")
        host, port_text = raw.split(":")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"invalid --listen address: address {raw}: invalid port")
    return ListenAddress(host=host, port=int(port_text))


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """Max-age / max-count caps for one class of files (``spec/service.md`` §9).

    Attributes:
        max_age_s: delete files older than this many seconds (0 = no age cap).
        max_count: keep at most this many newest files (0 = no count cap).
    """

    max_age_s: float = 0.0
    max_count: int = 0

    @property
    def enabled(self) -> bool:
        """True when at least one cap is set."""
        return self.max_age_s > 0 or self.max_count > 0


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything one decision server needs, validated at construction.

    Attributes:
        policy_path: the policy YAML; compiled at start-up (invalid ⇒ exit 6).
        listen: where to listen.
        adapter: default adapter for requests without ``adapter``.
        profile: ``standard`` or ``oss-prod``.
        auth_token: the resolved bearer token (``None`` when auth is off).
        max_request_bytes: request bodies above this answer 413.
        http_verdict_status: ``compat`` or ``strict``.
        allow_client_artifact_paths: accept ``trace_path``/``runpack_out``/``session_journal``.
        trace_dir: where traces are written.
        trace_files: ``export`` (a background exporter writes each ``trace_<id>.json``
            from the trace log after the reply) or ``off`` (the log only; ``gait trace
            export`` writes the files on demand).
        session_dir: where session journals live.
        runpack_dir: where runpacks and checkpoints go (empty: disabled).
        trace_retention: caps for ``trace_dir``.
        session_retention: caps for ``session_dir``.
        runpack_retention: caps for ``runpack_dir``.
        retention_interval_s: seconds between janitor sweeps.
        retention_report: JSON report written by each sweep that removed files (empty: none).
        export_log_out: Go-compatible decision log JSONL (empty: off).
        export_otel_out: Go-compatible OTEL-style JSONL (empty: off).
        key_mode: ``dev`` (one ephemeral key per process) or ``prod``.
        private_key: private key path (prod).
        private_key_env: private key env var name (prod).
        approval_public_key: public key file that verifies ``approval_tokens`` (empty: none).
        backend: ``asyncio`` or ``trio``.
        http_server: ``auto`` (uvicorn on asyncio, hypercorn on trio), ``uvicorn``
            (asyncio only) or ``hypercorn``.
        drain_timeout_s: graceful-drain deadline on SIGTERM/SIGINT.
        header_timeout_s: a connection must send complete request headers within this
            time, and idle keep-alive connections close after it.
        read_timeout_s: each read of a request body must complete within this time.
        fsync: journal fsync policy.
        state_updates: when ``J.state.json`` is rewritten (``batch``, ``durable`` or
            ``rest``); the state file is a size-checked cache that readers rebuild when
            stale, so the server defaults to ``rest`` (checkpoint, compaction, close).
        journal_io: ``auto``, ``uring`` or ``thread`` (see :class:`~.config.SessionConfig`).
        lock_lease_s: how long a busy session keeps its Go lock between releases
            (see :class:`~.config.SessionConfig`).
        mailbox_size: bounded mailbox per session actor.
        max_sessions: bound on sessions open at once (0 = derived from the descriptor
            limit; see :class:`~.config.SessionConfig`).
        batch_limit: group-commit batch limit per session actor.
        checkpoint_every_events: automatic checkpoint cadence (0 = only on drain / request).
        policy_poll_s: how often the policy file is checked for changes (0 = never).
        producer_version: written into traces and journals.
        certfile: PEM certificate chain: serve HTTPS (with ``keyfile``); empty: HTTP.
        keyfile: PEM private key of ``certfile``.
        metrics_listen: a second TCP listener serving only ``/metrics`` and the
            probes, without the token (``None``: none).
        metrics_access: ``token`` (``/metrics`` needs the API token when auth is
            on) or ``loopback`` (loopback clients need none).
        journal_url: ``nats://host:port[,…]`` puts session journals on NATS JetStream
            (empty: the file journal in ``session_dir``); see ``docs/cluster.md``.
        journal_replicas: stream and bucket replicas when the stream is created.
        journal_timeout_s: bound on every request to the cluster.
        journal_batch: ``atomic`` (one message per record, one atomic batch per
            actor batch) or ``packed`` (one message per actor batch).
        lease_s: session lease lifetime across supervisors.
        advertise: this supervisor's address for redirects (empty: the bound address).
        cluster_unavailable_status: HTTP status of a decision whose journal append
            the cluster did not acknowledge: 500 (the fail-closed block) or 503.
    """

    policy_path: Path
    listen: ListenAddress = field(default_factory=ListenAddress)
    adapter: str = "mcp"
    profile: str = "standard"
    auth_token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    http_verdict_status: str = "compat"
    allow_client_artifact_paths: bool = False
    trace_dir: Path = Path("gait-out/mcp-serve/traces")
    trace_files: Literal["export", "off"] = "export"
    session_dir: Path = Path("gait-out/mcp-serve/sessions")
    runpack_dir: Path | None = None
    trace_retention: RetentionRule = field(default_factory=RetentionRule)
    session_retention: RetentionRule = field(default_factory=RetentionRule)
    runpack_retention: RetentionRule = field(default_factory=RetentionRule)
    retention_interval_s: float = 60.0
    retention_report: Path | None = None
    export_log_out: Path | None = None
    export_otel_out: Path | None = None
    key_mode: str = "dev"
    private_key: str = ""
    private_key_env: str = ""
    approval_public_key: str = ""
    backend: Backend = "asyncio"
    http_server: str = "auto"
    drain_timeout_s: float = 10.0
    header_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    fsync: FsyncPolicy = "always"
    state_updates: StateUpdates = "rest"
    journal_io: JournalIo = "auto"
    lock_lease_s: float = 0.05
    mailbox_size: int = 1024
    max_sessions: int = 0
    batch_limit: int = 256
    checkpoint_every_events: int = 0
    policy_poll_s: float = 1.0
    producer_version: str = "0.0.0-dev"
    certfile: Path | None = None
    keyfile: Path | None = None
    metrics_listen: ListenAddress | None = None
    metrics_access: Literal["token", "loopback"] = "token"
    journal_url: str = ""
    journal_replicas: int = 1
    journal_timeout_s: float = 5.0
    journal_batch: str = "atomic"
    lease_s: float = 5.0
    advertise: str = ""
    cluster_unavailable_status: int = 500

    def __post_init__(self) -> None:
        if self.adapter not in ADAPTER_NAMES:
            raise UsageError(f"unsupported --adapter value: {self.adapter}")
        if self.profile not in ("standard", "oss-prod"):
            raise UsageError("unsupported --profile value (expected standard or oss-prod)")
        if self.max_request_bytes <= 0:
            raise UsageError("--max-request-bytes must be > 0")
        if self.http_verdict_status not in ("compat", "strict"):
            raise UsageError("unsupported --http-verdict-status value (expected compat or strict)")
        if self.auth_token is None and not self.listen.is_loopback:
            raise UsageError("non-loopback --listen requires --auth-mode token")
        if self.profile == "oss-prod" and self.key_mode != "prod":
            raise UsageError("oss-prod profile requires --key-mode prod")
        resolve_http_server(self.http_server, self.backend)
        if self.drain_timeout_s < 0 or self.header_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise UsageError("timeouts must be > 0")
        if self.journal_io not in JOURNAL_IO_MODES:
            raise UsageError("unsupported --journal-io value (expected auto, uring or thread)")
        if self.lock_lease_s < 0:
            raise UsageError("--lock-lease must not be negative")
        if self.mailbox_size <= 0 or self.batch_limit <= 0:
            raise UsageError("--mailbox-size and --batch-limit must be > 0")
        if self.lease_s <= 0 or self.journal_timeout_s <= 0:
            raise UsageError("--lease and --journal-timeout must be > 0")
        if self.journal_batch not in ("atomic", "packed"):
            raise UsageError("--journal-batch must be atomic or packed")
        if self.cluster_unavailable_status not in (500, 503):
            raise UsageError("--cluster-unavailable-status must be 500 or 503")
        if self.max_sessions < 0:
            raise UsageError("--max-sessions must not be negative (0 = from the descriptor limit)")
        if (self.certfile is None) != (self.keyfile is None):
            raise UsageError("--certfile and --keyfile must be given together")
        for flag, path in (("--certfile", self.certfile), ("--keyfile", self.keyfile)):
            if path is not None and not path.is_file():
                raise UsageError(f"{flag} not found: {path}", code="tls_file_missing")
        if self.metrics_listen is not None and self.metrics_listen.is_unix:
            raise UsageError("--metrics-listen must be host:port")
        if self.metrics_access not in ("token", "loopback"):
            raise UsageError("unsupported --metrics-auth value (expected token or loopback)")

    @property
    def tls(self) -> bool:
        """True when the server answers HTTPS."""
        return self.certfile is not None

    @property
    def strict_status(self) -> bool:
        """True when non-allow verdicts map to 403/409."""
        return self.http_verdict_status == "strict"
