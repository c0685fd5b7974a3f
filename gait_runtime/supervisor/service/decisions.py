"""The decision path: one evaluate request body in, one decision (or error) out.

One decision is a sequence of named steps, each a method of :class:`DecisionService`:

1. decode — :func:`~.request.decode_request` and :func:`~.request.check_lockdown`
   (``spec/service.md`` §3.1, §4; every input fault a 400 before anything is evaluated);
2. ``_evaluate`` — adapter decoding (§6), normalisation and digests, the decision's one
   session id (:func:`session_of`) and run id (§3.3);
3. ``_sign_and_write`` — evaluation, :func:`~gait_runtime.gate.pipeline.decide` (the one
   trace path) and the durable trace file (the only place the trace is written);
4. ``_append_journal`` — the session's actor, before the reply, then checkpoints;
5. ``_write_runpack`` — the one-decision runpack when asked for;
6. ``_respond`` — the span record, lossy exports, metrics, the ``decision`` log line and
   the typed body (:class:`~.reply.DecisionBody`, Go field order, §3.2) with its
   compat/strict status (§5).

Owns the order of these steps, the decision span with its ``gait.trace.sign`` and
``gait.journal.append`` children and the log correlation ids (``session_id``,
``trace_id``, ``event_id``). Does not own: HTTP framing, auth, content type or body
limits (``service/http.py``), nor policy reload (``runtime.py``).

Fail-closed rule: an invalid input answers 400 with the Go message; a full
session mailbox answers 503 + ``Retry-After``; any other failure after the
request was accepted answers 500 with a body that also says
``"verdict": "block"`` and ``"executed": false`` — never an allow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
import structlog

from ...artifacts.keys import ResolvedSigningKey
from ...artifacts.signing import VerifyKey
from ...errors import (
    GaitError,
    InvalidInputError,
    JournalUnavailableError,
    MailboxFull,
    SessionLimitReached,
    SessionOwnedElsewhere,
    verdict_exit_code,
)
from ...gate.evaluate import evaluate
from ...gate.intent import NormalizedIntent, normalize_intent
from ...gate.pipeline import FinalDecision, decide
from ...gate.policy import CompiledPolicy
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
from .reply import INTERNAL_FAILURE_REASON as INTERNAL_FAILURE_REASON
from .reply import DecisionBody, DecisionReply, internal_failure_reply, verdict_status
from .reply import error_reply as error_reply
from .request import MAX_ID_BYTES as MAX_ID_BYTES
from .request import MAX_NESTING as MAX_NESTING
from .request import EvaluateRequest, RequestError, check_lockdown, decode_request
from .trace_writer import TraceWriter

__all__ = [
    "DecisionReply",
    "DecisionService",
    "DecisionStats",
    "normalize_run_id",
]

_LOGGER_NAME = "gait_runtime.supervisor.service.decisions"
_log = structlog.get_logger(_LOGGER_NAME)


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


@dataclass(slots=True)
class _Decision:
    """What the steps of one decision hand each other."""

    request: EvaluateRequest
    adapter: str
    intent: NormalizedIntent
    policy: CompiledPolicy
    session_id: str
    run_id: str
    stamp_ns: int
    warnings: list[str]
    final: FinalDecision | None = None
    trace_path: Path = Path()
    runpack_path: Path | None = None


def session_of(request: EvaluateRequest, intent: NormalizedIntent) -> str:
    """The one session a decision belongs to: ``request.session_id``, else the
    intent's ``context.session_id`` (empty: no session).

    The journal, the response ``session_id``, the decision span's
    ``gait.session_id``, the log lines and the exports all use this value. The
    signed trace keeps the Go shape: its ``relationship.parent_ref`` names the
    intent's own ``context.session_id`` (it is part of what the caller sent).
    """
    return request.session_id.strip() or str(intent.context.get("session_id") or "")


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
        # Bound once, when the server is built (after logging is configured): a
        # filtered-out level is then a no-op call, not a lazy proxy re-bind.
        self._log = structlog.get_logger(_LOGGER_NAME).bind()

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
            request = decode_request(body)
            check_lockdown(request, allow_client_paths=self._config.allow_client_artifact_paths)
            with (
                ExitStack() as ids,
                decision_span(
                    "", traceparent=traceparent, tracestate=tracestate, surface="mcp_serve"
                ) as span,
            ):
                decision = self._evaluate(request)
                await self._sign_and_write(decision, span)
                assert decision.final is not None
                trace = decision.final.trace
                ids.enter_context(
                    bind_ids(
                        session_id=decision.session_id,
                        trace_id=trace["trace_id"],
                        event_id=trace["event_id"],
                    )
                )
                await self._append_journal(decision, span)
                await self._write_runpack(decision)
                return self._respond(decision, started, span)
        except RequestError as exc:
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
        return internal_failure_reply(message)

    # ----------------------------------------------------------------- the steps

    def _evaluate(self, request: EvaluateRequest) -> _Decision:
        """Adapter decoding (§6), normalisation and digests, the session and run ids."""
        assert request.call is not None
        config = self._config
        adapter = request.adapter.strip().lower() or config.adapter
        decoded = decode_call(adapter, request.call, profile=config.profile)
        intent = normalize_intent(decoded.intent, strip_context_claims=True)
        session_id = session_of(request, intent)
        run_id = (
            normalize_run_id(request.run_id)
            or normalize_run_id(decoded.run_id_hint)
            or default_run_id(session_id, intent.intent_digest)
        )
        return _Decision(
            request=request,
            adapter=adapter,
            intent=intent,
            policy=self._policy(),
            session_id=session_id,
            run_id=run_id,
            stamp_ns=self._stamp_ns(),
            warnings=[
                *self._signing.warnings,
                *([FALLBACK_WARNING] if decoded.fallback_used else []),
            ],
        )

    async def _sign_and_write(self, d: _Decision, span: DecisionSpan) -> None:
        """Evaluate, decide (approval tokens when the request carries any), sign the
        trace and make its file durable (the one place the trace is written)."""
        result = evaluate(d.policy, d.intent)
        tokens = d.request.approval_tokens or ()
        with span.trace_sign():
            d.final = final = decide(
                d.policy,
                d.intent,
                result=result,
                tokens=tokens,
                approval_flow=bool(tokens),
                approval_key=self._approval_key,
                signing_key=self._signing.key,
                now_ns=d.stamp_ns,
                producer_version=self._config.producer_version,
            )
            d.trace_path = self._trace_path(d.request, d.stamp_ns)
            await self._traces.write(d.trace_path, trace_file_bytes(final.trace))

    async def _append_journal(self, d: _Decision, span: DecisionSpan) -> None:
        """Append the decision to its session's journal (before the reply), then checkpoint."""
        if not d.session_id or self._journal is None:
            return
        assert d.final is not None
        final, policy = d.final, d.policy
        append_started = time.perf_counter_ns()
        with span.journal_append(**{"gait.session_id": d.session_id}):
            ack = await self._journal.append(
                d.session_id,
                d.run_id,
                EventFields(
                    tool_name=d.intent.tool_name,
                    verdict=final.verdict,
                    trace_id=final.trace["trace_id"],
                    trace_path=str(d.trace_path),
                    intent_digest=d.intent.intent_digest,
                    policy_digest=policy.digest,
                    policy_id=policy.policy_id,
                    policy_version=policy.policy_version,
                    reason_codes=final.reason_codes,
                    violations=final.violations,
                    created_at_ns=d.stamp_ns,
                ),
                wait=False,
            )
        if self._metrics is not None:
            self._metrics.append_latency.observe((time.perf_counter_ns() - append_started) / 1e9)
        d.warnings.append(f"session_journal={ack.journal_path} sequence={ack.sequence}")
        checkpoint = await self._checkpoint(
            d.request, d.session_id, ack.sequence, str(ack.journal_path)
        )
        if checkpoint:
            d.warnings.append(checkpoint)

    async def _write_runpack(self, d: _Decision) -> None:
        """The one-decision runpack of ``emit_runpack`` / ``runpack_out``."""
        d.runpack_path = self._runpack_path(d.request, d.stamp_ns)
        if d.runpack_path is None:
            return
        assert d.final is not None
        final = d.final
        pack = decision_runpack(
            d.run_id,
            d.intent,
            final.verdict,
            list(final.reason_codes),
            list(final.violations),
            final.trace["trace_id"],
        )
        await anyio.to_thread.run_sync(write_runpack, d.runpack_path, pack)

    def _respond(self, d: _Decision, started_ns: int, span: DecisionSpan) -> DecisionReply:
        """Span, exports, metrics and the log line; then the typed body and status."""
        assert d.final is not None
        final, intent, policy, trace = d.final, d.intent, d.policy, d.final.trace
        verdict = final.verdict
        reason_codes = list(final.reason_codes)
        latency_ms = (time.perf_counter_ns() - started_ns) // 1_000_000
        attrs = DecisionAttributes(
            run_id=d.run_id,
            session_id=d.session_id,
            trace_path=str(d.trace_path),
            verdict=verdict,
            reason_codes=final.reason_codes,
            policy_digest=policy.digest,
            intent_digest=intent.intent_digest,
            decision_latency_ms=latency_ms,
            tool_name=intent.tool_name,
            trace_id=trace["trace_id"],
            event_id=trace["event_id"],
            created_at=intent.created_at,
            observed_at=trace["observed_at"],
            surface="mcp_serve",
        )
        span.record(attrs)
        exporter = self._exporter
        if exporter is not None and not exporter.submit_nowait(attrs):
            self.stats.dropped_exports += 1
        context = intent.context
        body = DecisionBody(
            ok=True,
            executed=False,
            adapter=d.adapter,
            run_id=d.run_id,
            job_id=context.get("job_id") or "",
            phase=context.get("phase") or "",
            session_id=d.session_id,
            tool_name=intent.tool_name,
            verdict=verdict,
            reason_codes=reason_codes,
            violations=list(final.violations),
            policy_digest=policy.digest,
            policy_id=policy.policy_id,
            policy_version=policy.policy_version,
            intent_digest=intent.intent_digest,
            decision_latency_ms=latency_ms,
            trace_id=trace["trace_id"],
            trace_path=attrs.trace_path,
            runpack_path=str(d.runpack_path) if d.runpack_path is not None else "",
            log_export=str(exporter.log_path or "") if exporter is not None else "",
            otel_export=str(exporter.otel_path or "") if exporter is not None else "",
            approval_ref=final.approval.approval_ref if final.approval else "",
            warnings=d.warnings,
            relationship=trace.get("relationship") or None,
            exit_code=verdict_exit_code(verdict),
        )
        self.stats.decisions[verdict] = self.stats.decisions.get(verdict, 0) + 1
        if self._metrics is not None:
            self._metrics.observe_decision(verdict, (time.perf_counter_ns() - started_ns) / 1e9)
        status = verdict_status(verdict, strict=self._config.strict_status)
        self._log.info(
            "decision",
            run_id=d.run_id,
            session_id=d.session_id,
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

    # ----------------------------------------------------------------- helpers

    def _stamp_ns(self) -> int:
        """A wall-clock time strictly after the previous one (unique trace names)."""
        now = self._clock_ns()
        if now <= self._last_stamp_ns:
            now = self._last_stamp_ns + 1
        self._last_stamp_ns = now
        return now

    def _trace_path(self, request: EvaluateRequest, stamp_ns: int) -> Path:
        if request.trace_path.strip():
            return Path(request.trace_path.strip())
        name = f"trace_{normalize_run_id(request.run_id)}_{file_stamp(stamp_ns)}.json"
        return self._config.trace_dir / name

    def _runpack_path(self, request: EvaluateRequest, stamp_ns: int) -> Path | None:
        if request.runpack_out.strip():
            return Path(request.runpack_out.strip())
        if not request.emit_runpack or self._config.runpack_dir is None:
            return None
        name = f"runpack_{normalize_run_id(request.run_id)}_{file_stamp(stamp_ns)}.zip"
        return self._config.runpack_dir / name

    async def _checkpoint(
        self, request: EvaluateRequest, session_id: str, sequence: int, journal: str
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
