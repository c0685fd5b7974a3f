""":class:`LocalGate`: the gate in-process, for agents that embed the policy.

Same interface as :class:`~gait_runtime.sdk.client.GaitClient` (``evaluate`` returns
any decision, ``check`` returns only on ``allow``), same decoding (the adapter
plugins and the profile rules), same evaluation and approval-token checks as the
decision server, and a signed trace per decision (written to ``trace_dir`` when one
is given). No network, no event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..artifacts.keys import KeySource, load_public, resolve_signing_key
from ..errors import GaitError, verdict_exit_code
from ..gate import CompiledPolicy, decide, load_policy, normalize_intent
from ..gate.trace import write_new_trace
from ..plugin import FALLBACK_WARNING, decode_call
from .decision import Decision, decision_from, not_allowed
from .errors import CallDecodeError

__all__ = ["LocalGate"]


class LocalGate:
    """Evaluate tool calls in-process against a policy file.

    Args:
        policy: a policy file, or an already compiled policy.
        key_mode: ``dev`` (an ephemeral signing key) or ``prod`` (``private_key`` required).
        private_key: the trace signing key file (``prod``).
        approval_public_key: verifies approval tokens (none: every token is invalid).
        profile: ``standard`` or ``oss-prod`` context rules.
        trace_dir: write each signed trace there (none: traces stay in memory).
        clock_ns: wall clock in Unix nanoseconds (token expiry, trace time).
    """

    def __init__(
        self,
        policy: str | Path | CompiledPolicy,
        *,
        key_mode: str = "dev",
        private_key: str = "",
        approval_public_key: str = "",
        profile: str = "standard",
        trace_dir: str | Path | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.policy = policy if isinstance(policy, CompiledPolicy) else load_policy(policy)
        self._signing = resolve_signing_key(key_mode, KeySource(path=private_key))
        self._approval_key = (
            load_public(KeySource(path=approval_public_key)) if approval_public_key else None
        )
        self._profile = profile
        self._trace_dir = Path(trace_dir) if trace_dir is not None else None
        self._clock_ns = clock_ns

    def __enter__(self) -> LocalGate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (the same lifecycle as the HTTP client)."""

    def evaluate(
        self,
        call: Mapping[str, Any],
        *,
        adapter: str = "mcp",
        run_id: str = "",
        session_id: str = "",
        approval_tokens: Sequence[Mapping[str, Any]] = (),
    ) -> Decision:
        """Decide on ``call`` (any verdict is returned).

        Raises:
            CallDecodeError: the payload cannot be decoded or normalised.
        """
        try:
            decoded = decode_call(adapter, call, profile=self._profile)
            intent = normalize_intent(decoded.intent, strip_context_claims=True)
        except GaitError as exc:
            raise CallDecodeError(f"decode tool call: {exc}") from exc
        final = decide(
            self.policy,
            intent,
            tokens=approval_tokens,
            approval_key=self._approval_key,
            signing_key=self._signing.key,
            now_ns=self._clock_ns(),
        )
        trace_path = ""
        if self._trace_dir is not None:
            trace_path = str(write_new_trace(self._trace_dir, final.trace))
        doc: dict[str, Any] = {
            "ok": True,
            "executed": False,
            "adapter": adapter,
            "run_id": run_id or decoded.run_id_hint or "run_local_" + intent.intent_digest[:12],
            "session_id": session_id or str(intent.context.get("session_id", "")),
            "tool_name": intent.tool_name,
            "verdict": final.verdict,
            "reason_codes": sorted(final.reason_codes),
            "violations": sorted(final.violations),
            "policy_digest": self.policy.digest,
            "intent_digest": intent.intent_digest,
            "trace_id": final.trace["trace_id"],
            "trace_path": trace_path,
            "warnings": [FALLBACK_WARNING] if decoded.fallback_used else [],
            "exit_code": verdict_exit_code(final.verdict),
        }
        if final.approval is not None and final.approval.approval_ref:
            doc["approval_ref"] = final.approval.approval_ref
        return decision_from(doc)

    def check(self, call: Mapping[str, Any], *, adapter: str = "mcp", **kw: Any) -> Decision:
        """Like :meth:`evaluate`, but returns only on ``allow``.

        Raises:
            ToolNotAllowed: ``block``, ``dry_run`` or ``require_approval`` (typed).
        """
        decision = self.evaluate(call, adapter=adapter, **kw)
        if not decision.allowed:
            raise not_allowed(decision, call, adapter)
        return decision
