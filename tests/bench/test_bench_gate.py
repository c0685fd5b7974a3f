"""Benchmarks of the gate hot paths (run with ``make bench``; plain pytest runs each once).

Targets (docs/performance.md "Gate"): evaluate a typical 10-rule policy in
<= 15 us median; normalise + digest + evaluate <= 40 us, and with the trace signed
<= 90 us (``gait bench gate``: cases ``bare`` and ``signed``).
Each benchmark also asserts the result, so the timed code is the correct code.
"""

from __future__ import annotations

from pytest_benchmark.fixture import BenchmarkFixture

from gait_runtime.artifacts.signing import SigningKey, verify
from gait_runtime.commands.bench import BENCH_CASES, BENCH_INTENT, bench_policy, run_gate_bench
from gait_runtime.gate import build_trace, evaluate, normalize_intent, parse_intent_json

KEY = SigningKey(bytes(range(32)))


def test_bench_evaluate_ten_rule_policy(benchmark: BenchmarkFixture) -> None:
    """Pure evaluate on the typical 10-rule policy."""
    policy = bench_policy()
    intent = normalize_intent(
        parse_intent_json(BENCH_INTENT, source="b"), strip_context_claims=True
    )
    result = benchmark(evaluate, policy, intent)
    assert len(policy.rules) == 10
    assert (result.verdict, result.matched_rule) == ("require_approval", "writes-need-approval")


def test_bench_full_tool_call(benchmark: BenchmarkFixture) -> None:
    """Decode + normalise + digest + evaluate + build and sign the trace."""
    policy = bench_policy()

    def call() -> dict[str, object]:
        intent = normalize_intent(
            parse_intent_json(BENCH_INTENT, source="b"), strip_context_claims=True
        )
        result = evaluate(policy, intent)
        return build_trace(
            policy, intent, result, observed_at_ns=1, signing_key=KEY, latency_ms=0.01
        )

    trace = benchmark(call)
    body = {k: v for k, v in trace.items() if k != "signature"}
    assert trace["verdict"] == "require_approval" and verify(body, trace["signature"], KEY.public)


def test_bench_report_shape() -> None:
    """run_gate_bench reports ordered percentiles and CPU time for every case."""
    report = run_gate_bench(20)
    assert report["verdict"] == "require_approval"
    assert BENCH_CASES == ("evaluate", "bare", "signed", "sign_only", "full_call")
    for case in BENCH_CASES:
        stats = report[case]
        assert stats["samples"] == 20
        assert 0 < stats["median_us"] <= stats["p90_us"] <= stats["p99_us"]
        assert stats["cpu_us"] > 0
