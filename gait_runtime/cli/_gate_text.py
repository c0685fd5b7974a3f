"""Text screens of the gate commands (``gate eval``, ``policy test|fmt``, ``approve``, ``trace verify``).

Owns: every text line those commands print without ``--json``, including the
``--explain`` screen (which rule decided and why), and the verdict exit code
they end with (:func:`~gait_runtime.errors.verdict_exit_code`). The command
bodies in :mod:`gait_runtime.commands.gate` return outcome records; nothing
there prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..commands.gate import GateEvalOutcome, PolicyTestOutcome
from ..commands.policy_fmt import FormatOutcome
from ..errors import verdict_exit_code
from ..gate.evaluate import GateResult, step_lines
from ..gate.intent import NormalizedIntent
from ..gate.model import CompiledPolicy
from ._frame import Result

__all__ = [
    "approve_result",
    "explain_lines",
    "format_result",
    "gate_eval_result",
    "policy_test_result",
    "trace_verify_result",
]


def gate_eval_result(out: GateEvalOutcome, *, explain: bool) -> Result:
    """``gate eval``: verdict line and trace line (or the explain screen), then warnings."""
    decision = out.decision
    code = verdict_exit_code(decision.verdict)
    text = [
        f"gate eval: verdict={decision.verdict} reasons={','.join(decision.reason_codes) or 'none'}"
        f" violations={','.join(decision.violations) or 'none'}",
        f"trace: {out.trace_path} (trace_id {decision.trace['trace_id']})",
    ]
    if explain:
        screen = explain_lines(
            out.policy, out.intent, out.result, decision.verdict, decision.reason_codes, code
        )
        text = screen + text[1:]
        if not out.trace_path:
            text[len(screen)] = (
                "trace: not written (--explain previews the decision; rate limits not spent)"
            )
    text += [f"warning: {w}" for w in out.warnings]
    return Result(out.payload, text, code)


def policy_test_result(out: PolicyTestOutcome, *, explain: bool) -> Result:
    """``policy test``: the summary line (or the explain screen); exit code by verdict."""
    result = out.result
    code = verdict_exit_code(result.verdict)
    text = [str(out.payload["summary"])]
    if explain:
        text = explain_lines(
            out.policy, out.intent, result, result.verdict, result.reason_codes, code
        )
    return Result(out.payload, text, code)


def format_result(out: FormatOutcome, path: Path, *, write: bool, check: bool) -> Result:
    """``policy fmt``: rewritten/unchanged, is canonical, or the canonical text itself."""
    if write:
        return Result(
            out.payload, [f"policy fmt: {path} {'rewritten' if out.wrote else 'unchanged'}"]
        )
    if check:
        return Result(out.payload, [f"policy fmt: {path} is canonical"])
    return Result(out.payload, out.formatted.rstrip("\n").split("\n"))


def approve_result(payload: dict[str, Any]) -> Result:
    """``approve``: where the token went and when it expires, then warnings."""
    text = [
        f"approval token {payload['token_id']} written to {payload['token_path']} "
        f"(expires {payload['expires_at']})"
    ]
    return Result(payload, text + [f"warning: {w}" for w in payload.get("warnings", [])])


def trace_verify_result(payload: dict[str, Any]) -> Result:
    """``trace verify``: one line naming the key that verified the trace."""
    if "lines" in payload:
        return Result(
            payload,
            [
                f"trace verify: {payload['path']}: {payload['lines']} lines verified "
                f"(key_id {payload['key_id']})"
            ],
        )
    return Result(
        payload, [f"trace verify: {payload['path']} verified (key_id {payload['key_id']})"]
    )


def explain_lines(
    policy: CompiledPolicy,
    intent: NormalizedIntent,
    result: GateResult,
    final_verdict: str,
    final_reasons: Sequence[str],
    exit_code: int,
) -> list[str]:
    """One screen saying which rule decided and why."""
    lines = [
        f"decision: {final_verdict} (exit {exit_code})",
        f"intent: tool={intent.tool_name} risk={intent.risk_class} phase={intent.phase} "
        f"targets={len(intent.targets)} digest={intent.intent_digest[:12]}",
        f"policy: {policy.source} digest={policy.digest[:12]} rules={len(policy.rules)} "
        f"default={policy.default_verdict}",
    ]
    if result.path == "fail_closed":
        lines.append(
            f"path: fail-closed gate (risk class {intent.risk_class} is in "
            f"{','.join(policy.fail_closed.risk_classes)}): block before any rule"
        )
        lines.append(f"  missing: {', '.join(result.reason_codes)}")
    elif result.path == "default":
        lines.append(f"path: no rule matched; default_verdict {policy.default_verdict}")
    else:
        lines.append(
            f"path: first matching tier is priority {result.tier_priority}; "
            "most restrictive effect wins"
        )
        for o in result.outcomes:
            mark = "decides" if o.effect == result.verdict else "outvoted"
            lines.append(f"  rule {o.name}: effect {o.declared_effect} -> {o.effect} ({mark})")
            for step in step_lines(o):
                lines.append(f"    {step}")
            lines.append(f"    reasons: {', '.join(o.reason_codes) or 'none'}")
            if o.violations:
                lines.append(f"    violations: {', '.join(o.violations)}")
    lines.append(
        f"evaluated: {result.verdict}; reasons: {', '.join(result.reason_codes) or 'none'}"
    )
    if final_verdict != result.verdict or list(final_reasons) != list(result.reason_codes):
        added = sorted(set(final_reasons) - set(result.reason_codes))
        lines.append(
            f"after approvals/simulate: {final_verdict}; added: {', '.join(added) or 'none'}"
        )
    return lines
