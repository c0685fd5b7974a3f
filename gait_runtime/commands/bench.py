"""In-process gate benchmark (``gait bench gate``).

Owns: a typical 10-rule policy and intent, and five timed cases:

- ``evaluate``: pure :func:`evaluate` of a normalised intent;
- ``bare``: normalise + digest + evaluate, from the decoded intent object
  (target <= 40 us);
- ``signed``: ``bare`` plus :func:`~gait_runtime.gate.pipeline.decide` — the
  trace built, canonicalised and signed (target <= 90 us);
- ``sign_only``: one Ed25519 signature of 32 bytes (the floor under ``signed``);
- ``full_call``: decode the intent JSON, then ``signed``.

The cases run interleaved in rounds, so drift in a shared machine's load spreads
over all of them alike. Reports wall-clock median/p90/p99 per call and the mean
CPU time per call (``time.process_time_ns`` over the timed loops), in
microseconds. The trace's ``observed_at`` comes from a fixed, injected value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from ..artifacts.signing import SigningKey
from ..gate.evaluate import evaluate
from ..gate.intent import normalize_intent, parse_intent_json
from ..gate.model import CompiledPolicy
from ..gate.pipeline import decide
from ..gate.policy import compile_policy

__all__ = [
    "BENCH_CASES",
    "BENCH_INTENT",
    "BENCH_POLICY",
    "bench_policy",
    "run_gate_bench",
    "summarize",
]

BENCH_CASES: Final = ("evaluate", "bare", "signed", "sign_only", "full_call")
"""The timed cases, in report order."""
_ROUNDS: Final = 10

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


def _timed_round(fn: Callable[[], object], n: int, samples: list[int]) -> int:
    """Run ``fn`` ``n`` times, appending wall ns per call; return the CPU ns spent."""
    clock = time.perf_counter_ns
    cpu = time.process_time_ns
    cpu_start = cpu()
    for _ in range(n):
        start = clock()
        fn()
        samples.append(clock() - start)
    return cpu() - cpu_start


def run_gate_bench(iterations: int = 2000) -> dict[str, Any]:
    """Run every case of :data:`BENCH_CASES`; one summary per case plus ``cpu_us``."""
    policy = bench_policy()
    key = SigningKey(_SEED)
    raw = parse_intent_json(BENCH_INTENT, source="<bench>")
    intent = normalize_intent(raw, strip_context_claims=True)
    digest_bytes = bytes(32)

    def sign(normalized: Any) -> object:
        return decide(
            policy,
            normalized,
            result=evaluate(policy, normalized),
            approval_flow=False,
            signing_key=key,
            now_ns=_FIXED_NOW_NS,
            producer_version="bench",
            latency_ms=0.01,
        )

    cases: dict[str, Callable[[], object]] = {
        "evaluate": lambda: evaluate(policy, intent),
        "bare": lambda: evaluate(policy, normalize_intent(raw, strip_context_claims=True)),
        "signed": lambda: sign(normalize_intent(raw, strip_context_claims=True)),
        "sign_only": lambda: key.sign_digest(digest_bytes),
        "full_call": lambda: sign(
            normalize_intent(
                parse_intent_json(BENCH_INTENT, source="<bench>"), strip_context_claims=True
            )
        ),
    }
    warmup = max(50, iterations // 10)
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[int]] = {name: [] for name in cases}
    cpu_ns = dict.fromkeys(cases, 0)
    per_round = [
        iterations // _ROUNDS + (1 if r < iterations % _ROUNDS else 0) for r in range(_ROUNDS)
    ]
    for n in per_round:
        for name, fn in cases.items():
            cpu_ns[name] += _timed_round(fn, n, samples[name])
    report: dict[str, Any] = {
        "iterations": iterations,
        "policy_rules": len(policy.rules),
        "verdict": evaluate(policy, intent).verdict,
    }
    for name in cases:
        stats = summarize(samples[name])
        stats["cpu_us"] = round(cpu_ns[name] / iterations / 1000.0, 3)
        report[name] = stats
    return report
