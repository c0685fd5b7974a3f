"""In-process gate benchmark (``gait bench gate``).

Owns: a typical 10-rule policy and intent, and two timed loops: (a) pure
:func:`evaluate`; (b) the whole tool-call path: decode intent JSON, normalise,
digest, evaluate, build and sign the trace. Reports median/p90/p99 in
microseconds. Uses ``time.perf_counter_ns`` only to measure; the trace's
``observed_at`` comes from a fixed, injected value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from ..artifacts.signing import SigningKey
from ..gate.evaluate import evaluate
from ..gate.intent import normalize_intent, parse_intent_json
from ..gate.model import CompiledPolicy
from ..gate.policy import compile_policy
from ..gate.trace import build_trace

__all__ = ["BENCH_INTENT", "BENCH_POLICY", "bench_policy", "run_gate_bench", "summarize"]

BENCH_POLICY: Final = """\
schema_id: gait.gate.policy
schema_version: 1.0.0
default_verdict: block
fail_closed:
  enabled: true
  required_fields: [targets]
rules:
  - name: block-secrets
    priority: 5
    effect: block
    match: {target_values: [/srv/app/.env, /srv/app/id_rsa]}
    violations: [secret_file_access]
  - name: block-shell
    priority: 8
    effect: block
    match: {tool_names: [proc.exec, shell.run]}
  - name: allow-reads
    priority: 10
    effect: allow
    match: {tool_names: [fs.read_file, fs.list_dir], risk_classes: [low, medium]}
  - name: read-audit
    priority: 10
    effect: allow
    match: {tool_names: [fs.read_file]}
    reason_codes: [read_audited]
  - name: search-dry-run
    priority: 15
    effect: dry_run
    match: {tool_names: [web.search]}
  - name: writes-need-approval
    priority: 20
    effect: require_approval
    match: {tool_names: [fs.write_file], workspace_prefixes: [/work/]}
    endpoint: {path_denylist: ["/etc/**", "*.pem"]}
    reason_codes: [write_requires_review]
  - name: tainted-egress
    priority: 30
    effect: allow
    match: {target_kinds: [url, host]}
    dataflow: {enabled: true}
  - name: deletes
    priority: 40
    effect: require_approval
    match: {endpoint_classes: [fs.delete]}
  - name: ops-identities
    priority: 50
    effect: allow
    match: {identities: [ops-agent], risk_classes: [low]}
  - name: catch-all
    priority: 90
    effect: block
    match: {}
    reason_codes: [catch_all]
"""

BENCH_INTENT: Final = (
    b'{"schema_id":"gait.gate.intent_request","schema_version":"1.0.0",'
    b'"created_at":"2026-03-01T09:30:00Z","producer_version":"bench/1",'
    b'"tool_name":"fs.write_file",'
    b'"args":{"path":"/srv/app/config.yaml","mode":"overwrite","retries":3},'
    b'"targets":[{"kind":"path","value":"/srv/app/config.yaml","operation":"write"}],'
    b'"arg_provenance":[{"arg_path":"$.path","source":"user"}],'
    b'"context":{"identity":"deploy-bot","workspace":"/work/app","risk_class":"high",'
    b'"session_id":"sess-42"}}'
)

_FIXED_NOW_NS: Final = 1_772_357_400_000_000_000
_SEED: Final = bytes(range(32))


def bench_policy() -> CompiledPolicy:
    """The typical 10-rule policy used by the benchmark."""
    return compile_policy(BENCH_POLICY, source="<bench>")


def summarize(samples_ns: list[int]) -> dict[str, float]:
    """Median, p90 and p99 of nanosecond samples, in microseconds."""
    ordered = sorted(samples_ns)
    n = len(ordered)

    def pick(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1000.0

    return {
        "median_us": round(pick(0.5), 3),
        "p90_us": round(pick(0.9), 3),
        "p99_us": round(pick(0.99), 3),
        "samples": float(n),
    }


def _time(fn: Callable[[], object], iterations: int, warmup: int) -> list[int]:
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(iterations):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


def run_gate_bench(iterations: int = 2000) -> dict[str, Any]:
    """Run both benchmarks; return ``{"evaluate": {...}, "full_call": {...}}``."""
    policy = bench_policy()
    key = SigningKey(_SEED)
    raw = parse_intent_json(BENCH_INTENT, source="<bench>")
    intent = normalize_intent(raw, strip_context_claims=True)

    def eval_only() -> object:
        return evaluate(policy, intent)

    def full_call() -> object:
        decoded = parse_intent_json(BENCH_INTENT, source="<bench>")
        normalized = normalize_intent(decoded, strip_context_claims=True)
        result = evaluate(policy, normalized)
        return build_trace(
            policy,
            normalized,
            result,
            observed_at_ns=_FIXED_NOW_NS,
            signing_key=key,
            producer_version="bench",
            latency_ms=0.01,
        )

    warmup = max(50, iterations // 10)
    return {
        "iterations": iterations,
        "policy_rules": len(policy.rules),
        "verdict": evaluate(policy, intent).verdict,
        "evaluate": summarize(_time(eval_only, iterations, warmup)),
        "full_call": summarize(_time(full_call, iterations, warmup)),
    }
