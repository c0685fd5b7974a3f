"""The decision path: one evaluate request body in, one decision (or error) out.

Owns: decoding the ``/v1/evaluate`` request (``spec/service.md`` §3.1), the
client-path lockdown (§4, checked *before* evaluating), adapter decoding (§6),
evaluation against the current compiled policy, the signed trace and its
unique file name (§3.3), journaling through the session's actor before the
reply, the decision span with its ``gait.trace.sign`` and
``gait.journal.append`` children, the log correlation ids (``session_id``,
``trace_id``, ``event_id``), export submission (lossy), the response body in Go field order (§3.2)
and the HTTP status (compat/strict, §5). Does not own: HTTP framing, auth,
content type or body limits (``service/http.py``), nor policy reload
(``runtime.py``).

Fail-closed rule: an invalid input answers 400 with the Go message; a full
session mailbox answers 503 + ``Retry-After``; any other failure after the
request was accepted answers 500 with a body that also says
``"verdict": "block"`` and ``"executed": false`` — never an allow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import anyio.to_thread
import msgspec
import structlog

from ...artifacts.fsutil import reject_parent_traversal
from ...artifacts.keys import ResolvedSigningKey
from ...artifacts.signing import VerifyKey
from ...artifacts.timefmt import format_ns
from ...errors import (
    ArtifactInputError,
    GaitError,
    InvalidInputError,
    JournalUnavailableError,
    MailboxFull,
    SessionLimitReached,
    SessionOwnedElsewhere,
    verdict_exit_code,
)
from ...gate.evaluate import evaluate
from ...gate.intent import normalize_intent
from ...gate.pipeline import decide
from ...gate.policy import CompiledPolicy
from ...gate.trace import build_trace
from ...plugin import FALLBACK_WARNING, decode_call
from ...runpack.store import write_runpack
from ...telemetry._record import DecisionAttributes
from ...telemetry.export import DecisionExporter
from ...telemetry.logging import bind_ids
from ...telemetry.metrics import Metrics
from ...telemetry.otel import DecisionSpan, decision_span
from ..journal.records import EventFields
from ..journal.scan import chain_path_for
from ..sessions.manager import SessionManager
from .config import ServiceConfig
from .evidence import decision_runpack, default_run_id, file_stamp, trace_file_bytes
from .evidence import normalize_run_id as normalize_run_id
from .trace_writer import TraceWriter

__all__ = [
    "DecisionReply",
    "DecisionService",
    "DecisionStats",
    "normalize_run_id",
]

_log = structlog.get_logger("gait_runtime.supervisor.service.decisions")

_STRICT_STATUS: Final[dict[str, int]] = {
    "allow": 200,
    "block": 403,
    "require_approval": 409,
    "dry_run": 409,
}
INTERNAL_FAILURE_REASON: Final = "internal_failure"
"""Reason code of the block answer given when the decision path itself fails."""


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    call: dict[str, Any] | None = None
    adapter: str = ""
    run_id: str = ""
    session_id: str = ""
    session_journal: str = ""
    checkpoint_interval: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] = 0
    trace_path: str = ""
    runpack_out: str = ""
    emit_runpack: bool = False
    pack_out: str = ""
    emit_pack: bool = False
    approval_tokens: list[dict[str, Any]] | None = None


_DECODER: Final = msgspec.json.Decoder(_Request)


class _RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class DecisionReply:
    """An HTTP answer from the decision path.

    Attributes:
        status: HTTP status code.
        body: the JSON object to send (Go field order).
        headers: extra response headers.
        verdict: the decision's verdict, or ``""`` for an error answer.
    """

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[bytes, bytes], ...] = ()
    verdict: str = ""


@dataclass(slots=True)
class DecisionStats:
    """Counters of the decision path (read by ``/v1/health`` and ``/metrics``)."""

    decisions: dict[str, int] = field(
        default_factory=lambda: {"allow": 0, "block": 0, "dry_run": 0, "require_approval": 0}
    )
    errors: int = 0
    internal_failures: int = 0
    mailbox_full: int = 0
    dropped_exports: int = 0


def error_reply(status: int, message: str, *headers: tuple[bytes, bytes]) -> DecisionReply:
    """The Go error body ``{"error": <message>, "ok": false}``."""
    return DecisionReply(status, {"error": message, "ok": False}, tuple(headers))


MAX_ID_BYTES: Final = 128
"""Longest ``session_id`` / ``run_id`` accepted, in UTF-8 bytes (file names stay < 255)."""
MAX_NESTING: Final = 64
"""Deepest nesting of objects and arrays accepted in ``request.call``."""
_ID_FORBIDDEN: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTEXT_STRINGS: Final = (
    "identity",
    "workspace",
    "risk_class",
    "phase",
    "agent_id",
    "run_id",
    "workflow_id",
    "repo",
    "environment",
    "job_id",
    "session_id",
    "request_id",
    "environment_fingerprint",
)


def _decode(body: bytes) -> _Request:
    """Decode and validate a request body; every input fault is a 400, before any artifact."""
    try:
        request = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise _RequestError(400, _decode_message(body, str(exc))) from None
    except UnicodeDecodeError:
        raise _RequestError(400, "decode request: body is not valid UTF-8") from None
    except RecursionError:
        raise _RequestError(
            400, f"request.call is nested deeper than {MAX_NESTING} levels"
        ) from None
    if not request.call:
        raise _RequestError(400, "request.call is required")
    _check_depth(request.call)
    _check_id("request.session_id", request.session_id)
    _check_id("request.run_id", request.run_id)
    context = request.call.get("context")
    if isinstance(context, dict):
        for key in _CONTEXT_STRINGS:
            value = context.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise _RequestError(400, f"call.context.{key} must be a string")
            if key in ("session_id", "run_id"):
                _check_id(f"call.context.{key}", value)
    elif context is not None:
        raise _RequestError(400, "call.context must be an object")
    return request


def _check_id(name: str, value: str) -> None:
    """Identifiers name files: bounded length, no control or line-breaking characters."""
    if len(value) > MAX_ID_BYTES or len(value.encode()) > MAX_ID_BYTES:
        raise _RequestError(400, f"{name} is longer than {MAX_ID_BYTES} bytes")
    if _ID_FORBIDDEN.search(value):
        raise _RequestError(400, f"{name} contains a control character")


def _check_depth(value: object) -> None:
    """Refuse containers nested deeper than :data:`MAX_NESTING` (no recursion: any depth)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_NESTING:
            raise _RequestError(400, f"request.call is nested deeper than {MAX_NESTING} levels")
        stack.extend((child, depth + 1) for child in children)


def _decode_message(body: bytes, detail: str) -> str:
    if not body.strip():
        return "decode request: EOF"
    if "truncated" in detail:
        return "decode request: unexpected EOF"
    if "trailing characters" in detail:
        return "request body must contain a single JSON object"
    unknown = re.match(r"Object contains unknown field `(.*)`", detail)
    if unknown:
        return f'decode request: json: unknown field "{unknown.group(1)}"'
    return f"decode request: {detail}"


class DecisionService:
    """Turns request bodies into signed, journaled decisions.

    Args:
        config: the server configuration.
        policy: returns the current compiled policy (swapped atomically on reload).
        signing: the process's signing key (dev: one ephemeral key per process).
        trace_writer: the durable trace-file writer.
        journal: the session layer, or ``None`` to run without journals.
        exporter: the lossy decision exporter, or ``None``.
        clock_ns: wall clock in Unix nanoseconds (injected for tests).
        metrics: Prometheus metrics to update, or ``None``.
        approval_key: verifies ``approval_tokens`` (our additive request field); ``None``
            makes every token invalid.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        policy: Callable[[], CompiledPolicy],
        signing: ResolvedSigningKey,
        trace_writer: TraceWriter,
        journal: SessionManager | None,
        exporter: DecisionExporter | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        metrics: Metrics | None = None,
        approval_key: VerifyKey | None = None,
    ) -> None:
        self._config = config
        self._policy = policy
        self._signing = signing
        self._traces = trace_writer
        self._journal = journal
        self._exporter = exporter
        self._clock_ns = clock_ns
        self._metrics = metrics
        self._approval_key = approval_key
        self._last_stamp_ns = 0
        self.stats = DecisionStats()

    async def decide(
        self, body: bytes, *, traceparent: str | None = None, tracestate: str | None = None
    ) -> DecisionReply:
        """Evaluate one request body and produce its HTTP answer (never raises for input).

        Log lines of the decision carry ``session_id``, ``trace_id`` and
        ``event_id`` once they are known (the HTTP layer binds ``request_id``).

        Args:
            body: the request body.
            traceparent: the caller's W3C ``traceparent`` header; the decision span
                (when tracing is enabled) becomes its child.
            tracestate: the caller's W3C ``tracestate`` header.
        """
        started = time.perf_counter_ns()
        try:
            request = _decode(body)
            self._lockdown(request)
            with (
                ExitStack() as ids,
                decision_span(
                    "", traceparent=traceparent, tracestate=tracestate, surface="mcp_serve"
                ) as span,
            ):
                return await self._decide(request, started, span, ids)
        except _RequestError as exc:
            self.stats.errors += 1
            return error_reply(exc.status, exc.message)
        except MailboxFull as exc:
            self.stats.mailbox_full += 1
            retry = str(exc.details.get("retry_after_s", 1)).encode()
            message = (
                exc.message if isinstance(exc, SessionLimitReached) else "session mailbox full"
            )
            return error_reply(503, message, (b"retry-after", retry))
        except InvalidInputError as exc:
            self.stats.errors += 1
            return error_reply(400, exc.message)
        except SessionOwnedElsewhere as exc:
            # A supervisor that lost the race for a session's lease (or the lease
            # itself) sends the caller to the owner; nothing was journaled here.
            address = str(exc.details.get("address", ""))
            if address:
                return error_reply(307, exc.message, (b"location", address.encode("latin-1")))
            return error_reply(503, exc.message, (b"retry-after", b"1"))
        except JournalUnavailableError as exc:
            if self._config.cluster_unavailable_status == 503:
                return error_reply(503, exc.message, (b"retry-after", b"1"))
            return self._internal_failure(exc.message)
        except GaitError as exc:
            return self._internal_failure(exc.message)
        except Exception as exc:  # the decision-path boundary: fail closed, never allow
            _log.exception("decision_internal_failure")
            return self._internal_failure(f"{type(exc).__name__}: {exc}")

    def _internal_failure(self, message: str) -> DecisionReply:
        self.stats.internal_failures += 1
        body = {
            "ok": False,
            "executed": False,
            "verdict": "block",
            "reason_codes": [INTERNAL_FAILURE_REASON],
            "error": f"internal failure: {message}",
            "exit_code": verdict_exit_code("block"),
        }
        return DecisionReply(500, body, verdict="block")

    def _lockdown(self, request: _Request) -> None:
        """Refuse client output paths in Go's order (``spec/service.md`` §4), before evaluating."""
        allowed = self._config.allow_client_artifact_paths
        for name, what in (("trace_path", "trace path"), ("runpack_out", "runpack path")):
            value = str(getattr(request, name)).strip()
            if not value:
                continue
            if not allowed:
                raise _RequestError(400, f"request.{name} is not allowed by server configuration")
            try:
                reject_parent_traversal(value, what)
            except ArtifactInputError as exc:
                raise _RequestError(400, exc.message.split(":")[0]) from None
        if request.pack_out.strip():
            raise _RequestError(400, "request.pack_out is not allowed by server configuration")
        if request.emit_pack:
            raise _RequestError(400, "request.emit_pack requires server --pack-dir")
        if request.session_journal.strip():
            raise _RequestError(
                400, "request.session_journal is not allowed by server configuration"
            )
        context = request.call.get("context") if request.call else None
        if isinstance(context, dict) and str(context.get("context_envelope_path") or "").strip():
            raise _RequestError(
                400,
                "call.context.context_envelope_path is not supported; "
                "use --context-envelope at the boundary",
            )

    def _stamp_ns(self) -> int:
        """A wall-clock time strictly after the previous one (unique trace names)."""
        now = self._clock_ns()
        if now <= self._last_stamp_ns:
            now = self._last_stamp_ns + 1
        self._last_stamp_ns = now
        return now

    def _trace_path(self, request: _Request, stamp_ns: int) -> Path:
        if request.trace_path.strip():
            return Path(request.trace_path.strip())
        name = f"trace_{normalize_run_id(request.run_id)}_{file_stamp(stamp_ns)}.json"
        return self._config.trace_dir / name

    def _runpack_path(self, request: _Request, stamp_ns: int) -> Path | None:
        if request.runpack_out.strip():
            return Path(request.runpack_out.strip())
        if not request.emit_runpack or self._config.runpack_dir is None:
            return None
        name = f"runpack_{normalize_run_id(request.run_id)}_{file_stamp(stamp_ns)}.zip"
        return self._config.runpack_dir / name

    async def _checkpoint(
        self, request: _Request, session_id: str, sequence: int, journal: str
    ) -> str:
        """Checkpoint every ``checkpoint_interval`` events when ``--runpack-dir`` is set."""
        interval = request.checkpoint_interval
        if (
            self._journal is None
            or self._config.runpack_dir is None
            or interval <= 0
            or sequence % interval
        ):
            return ""
        try:
            record = await self._journal.checkpoint(session_id)
        except GaitError as exc:
            # The decision is journaled; a failed checkpoint must not turn it into an error.
            _log.warning("checkpoint_failed", session_id=session_id, error=exc.message)
            return f"session_checkpoint_error={exc.message}"
        if record is None:
            return ""
        return f"session_checkpoint={record.runpack_path} chain={chain_path_for(Path(journal))}"

    async def _decide(
        self, request: _Request, started_ns: int, span: DecisionSpan, ids: ExitStack
    ) -> DecisionReply:
        assert request.call is not None
        config = self._config
        adapter = request.adapter.strip().lower() or config.adapter
        decoded = decode_call(adapter, request.call, profile=config.profile)
        intent = normalize_intent(decoded.intent, strip_context_claims=True)
        policy = self._policy()
        result = evaluate(policy, intent)
        context = intent.context
        session_id = request.session_id.strip() or str(context.get("session_id") or "")
        run_id = (
            normalize_run_id(request.run_id)
            or normalize_run_id(decoded.run_id_hint)
            or default_run_id(session_id, intent.intent_digest)
        )
        stamp_ns = self._stamp_ns()
        verdict = result.verdict
        reason_codes = sorted(result.reason_codes)
        violations = sorted(result.violations)
        approval_ref = ""
        with span.trace_sign():
            if request.approval_tokens and verdict == "require_approval":
                final = decide(
                    policy,
                    intent,
                    result=result,
                    tokens=request.approval_tokens,
                    approval_key=self._approval_key,
                    signing_key=self._signing.key,
                    now_ns=stamp_ns,
                    producer_version=config.producer_version,
                )
                trace = final.trace
                verdict = final.verdict
                reason_codes = sorted(final.reason_codes)
                violations = sorted(final.violations)
                approval_ref = final.approval.approval_ref if final.approval else ""
            else:
                trace = build_trace(
                    policy,
                    intent,
                    result,
                    observed_at_ns=stamp_ns,
                    signing_key=self._signing.key,
                    producer_version=config.producer_version,
                )
            trace_path = self._trace_path(request, stamp_ns)
            await self._traces.write(trace_path, trace_file_bytes(trace))
        trace_id = str(trace["trace_id"])
        event_id = str(trace.get("event_id", ""))
        ids.enter_context(bind_ids(session_id=session_id, trace_id=trace_id, event_id=event_id))
        warnings: list[str] = list(self._signing.warnings)
        if decoded.fallback_used:
            warnings.append(FALLBACK_WARNING)
        if session_id and self._journal is not None:
            append_started = time.perf_counter_ns()
            with span.journal_append(**{"gait.session_id": session_id}):
                ack = await self._journal.append(
                    session_id,
                    run_id,
                    EventFields(
                        tool_name=intent.tool_name,
                        verdict=verdict,
                        trace_id=trace_id,
                        trace_path=str(trace_path),
                        intent_digest=intent.intent_digest,
                        policy_digest=policy.digest,
                        policy_id=policy.policy_id,
                        policy_version=policy.policy_version,
                        reason_codes=tuple(reason_codes),
                        violations=tuple(violations),
                        created_at_ns=stamp_ns,
                    ),
                    wait=False,
                )
            if self._metrics is not None:
                self._metrics.append_latency.observe(
                    (time.perf_counter_ns() - append_started) / 1e9
                )
            warnings.append(f"session_journal={ack.journal_path} sequence={ack.sequence}")
            checkpoint = await self._checkpoint(
                request, session_id, ack.sequence, str(ack.journal_path)
            )
            if checkpoint:
                warnings.append(checkpoint)
        runpack_path = self._runpack_path(request, stamp_ns)
        if runpack_path is not None:
            pack = decision_runpack(
                run_id, intent, verdict, reason_codes, violations, str(trace["trace_id"])
            )
            await anyio.to_thread.run_sync(write_runpack, runpack_path, pack)
        latency_ms = (time.perf_counter_ns() - started_ns) // 1_000_000
        attrs = DecisionAttributes(
            run_id=run_id,
            session_id=session_id,
            trace_path=str(trace_path),
            verdict=verdict,
            reason_codes=tuple(reason_codes),
            policy_digest=policy.digest,
            intent_digest=intent.intent_digest,
            decision_latency_ms=latency_ms,
            tool_name=intent.tool_name,
            trace_id=str(trace["trace_id"]),
            event_id=event_id,
            created_at=intent.created_at,
            observed_at=format_ns(stamp_ns),
            surface="mcp_serve",
        )
        span.record(attrs)
        if self._exporter is not None and not self._exporter.submit_nowait(attrs):
            self.stats.dropped_exports += 1
        body: dict[str, Any] = {"ok": True, "executed": False, "adapter": adapter, "run_id": run_id}
        for key in ("job_id", "phase"):
            if context.get(key):
                body[key] = context[key]
        if session_id:
            body["session_id"] = session_id
        body["tool_name"] = intent.tool_name
        body["verdict"] = verdict
        if reason_codes:
            body["reason_codes"] = reason_codes
        if violations:
            body["violations"] = violations
        body["policy_digest"] = policy.digest
        body["policy_id"] = policy.policy_id
        body["policy_version"] = policy.policy_version
        body["intent_digest"] = intent.intent_digest
        if latency_ms:
            body["decision_latency_ms"] = latency_ms
        body["trace_id"] = trace["trace_id"]
        body["trace_path"] = str(trace_path)
        if runpack_path is not None:
            body["runpack_path"] = str(runpack_path)
        if self._exporter is not None:
            if self._exporter.log_path is not None:
                body["log_export"] = str(self._exporter.log_path)
            if self._exporter.otel_path is not None:
                body["otel_export"] = str(self._exporter.otel_path)
        if approval_ref:
            body["approval_ref"] = approval_ref
        if warnings:
            body["warnings"] = warnings
        if trace.get("relationship"):
            body["relationship"] = trace["relationship"]
        body["exit_code"] = verdict_exit_code(verdict)
        self.stats.decisions[verdict] = self.stats.decisions.get(verdict, 0) + 1
        if self._metrics is not None:
            self._metrics.observe_decision(verdict, (time.perf_counter_ns() - started_ns) / 1e9)
        status = _STRICT_STATUS[verdict] if config.strict_status else 200
        _log.info(
            "decision",
            run_id=run_id,
            session_id=attrs.session_id,
            trace_id=attrs.trace_id,
            trace_path=attrs.trace_path,
            tool_name=intent.tool_name,
            verdict=verdict,
            reason_codes=reason_codes,
            policy_digest=policy.digest,
            intent_digest=intent.intent_digest,
            decision_latency_ms=latency_ms,
            status=status,
        )
        return DecisionReply(status, body, verdict=verdict)
