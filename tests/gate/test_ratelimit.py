"""Rate limits and destructive budgets (spec/gate.md §3.7): keys, state file, lock, CLI effect.

Time is injected everywhere: the decision time (``now_ns``), the lock's monotonic
clock and its sleep function, so the contention test finishes instantly.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gait_runtime.artifacts.timefmt import parse_rfc3339
from gait_runtime.cli import gate as cli_gate
from gait_runtime.cli import main
from gait_runtime.clock import FakeClock
from gait_runtime.commands.ratelimit import RateLimit, consume, counter_key, most_restrictive_limit
from gait_runtime.errors import ContentionError, InvalidInputError
from gait_runtime.gate import compile_policy, evaluate, normalize_intent

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
NOW = parse_rfc3339("2026-03-01T09:30:42.5Z").unix_ns


def test_counter_keys_truncate_to_the_window() -> None:
    """``window|scope|<bucket start>|<scope key>``; budgets prefix the tool component."""
    minute = RateLimit(3)
    hour = RateLimit(3, "hour", "tool")
    assert counter_key(minute, tool_name="t", identity="i", now_ns=NOW, budget=False) == (
        "minute|tool_identity|2026-03-01T09:30:00Z|t|i"
    )
    assert counter_key(hour, tool_name="t", identity="i", now_ns=NOW, budget=True) == (
        "hour|tool|2026-03-01T09:00:00Z|destructive_budget|t"
    )
    assert counter_key(
        RateLimit(1, "minute", "identity"), tool_name="t", identity="i", now_ns=NOW, budget=False
    ).endswith("|i")


def test_most_restrictive_limit_order() -> None:
    """Fewest requests, then minute before hour, then scope name."""
    limits = [
        RateLimit(5),
        RateLimit(2, "hour", "tool"),
        RateLimit(2, "minute", "tool_identity"),
        RateLimit(2, "minute", "identity"),
        None,
    ]
    assert most_restrictive_limit(limits) == RateLimit(2, "minute", "identity")
    assert most_restrictive_limit([None]) is None


def test_consume_counts_until_the_limit_then_refuses_without_counting(tmp_path: Path) -> None:
    """count >= requests => not allowed and not incremented; state sorted, 0600."""
    state = tmp_path / "s" / "limits.json"
    limit = RateLimit(2)
    key = counter_key(limit, tool_name="t", identity="i", now_ns=NOW, budget=False)
    uses = [consume(state, [(limit, key)], now_ns=NOW)[0] for _ in range(3)]
    assert [(u.allowed, u.used, u.remaining) for u in uses] == [
        (True, 1, 1),
        (True, 2, 0),
        (False, 2, 0),
    ]
    doc = json.loads(state.read_text())
    assert doc == {
        "schema_id": "gait.gate.rate_limit_state",
        "schema_version": "1.0.0",
        "counters": [{"key": key, "count": 2}],
    }
    assert state.stat().st_mode & 0o777 == 0o600
    assert not state.with_name("limits.json.lock").exists()


def test_state_file_bytes_are_go_marshal_indent(tmp_path: Path) -> None:
    """Counter keys keep UTF-8 as is and escape ``<``, ``>``, ``&`` (Go's MarshalIndent bytes)."""
    state = tmp_path / "limits.json"
    limit = RateLimit(5)
    key = counter_key(limit, tool_name="t<é>", identity="a&b", now_ns=NOW, budget=False)
    consume(state, [(limit, key)], now_ns=NOW)
    assert state.read_bytes() == (
        b'{\n  "schema_id": "gait.gate.rate_limit_state",\n  "schema_version": "1.0.0",\n'
        b'  "counters": [\n    {\n      "key": "minute|tool_identity|2026-03-01T09:30:00Z|'
        + "t\\u003cé\\u003e|a\\u0026b".encode()
        + b'",\n      "count": 1\n    }\n  ]\n}\n'
    )


def test_old_windows_are_pruned_and_a_new_window_starts_fresh(tmp_path: Path) -> None:
    """The next minute has its own bucket; the old one is removed on write."""
    state = tmp_path / "limits.json"
    limit = RateLimit(1)
    first = counter_key(limit, tool_name="t", identity="i", now_ns=NOW, budget=False)
    assert consume(state, [(limit, first)], now_ns=NOW)[0].allowed
    later = NOW + 60 * 10**9
    second = counter_key(limit, tool_name="t", identity="i", now_ns=later, budget=False)
    assert consume(state, [(limit, second)], now_ns=later)[0].allowed
    assert [c["key"] for c in json.loads(state.read_text())["counters"]] == [second]


def test_lock_contention_gives_up_after_three_seconds_without_sleeping(tmp_path: Path) -> None:
    """A held, fresh lock => ContentionError (exit 1) after 3 s of injected time."""
    state = tmp_path / "limits.json"
    lock = tmp_path / "limits.json.lock"
    lock.write_text("")
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    with pytest.raises(ContentionError) as info:
        consume(
            state,
            [(RateLimit(1), "k|s|b|x")],
            now_ns=NOW,
            monotonic=lambda: clock[0],
            sleep=sleep,
            wall_seconds=lambda: lock.stat().st_mtime,
        )
    assert info.value.category == "state_contention"
    assert set(sleeps) == {0.015} and 190 <= len(sleeps) <= 202
    assert lock.exists()


def test_a_stale_lock_is_removed(tmp_path: Path) -> None:
    """A lock older than 15 s is considered abandoned."""
    state = tmp_path / "limits.json"
    lock = tmp_path / "limits.json.lock"
    lock.write_text("")
    old = lock.stat().st_mtime
    use = consume(
        state,
        [(RateLimit(1), "minute|tool|2026-03-01T09:30:00Z|t")],
        now_ns=NOW,
        sleep=lambda s: None,
        wall_seconds=lambda: old + 16,
    )[0]
    assert use.allowed and not lock.exists()


def test_malformed_state_file_is_invalid_input(tmp_path: Path) -> None:
    """A state file that is not ours is exit 6, not silently reset."""
    state = tmp_path / "limits.json"
    state.write_text("[1, 2]")
    with pytest.raises(InvalidInputError):
        consume(state, [(RateLimit(1), "k")], now_ns=NOW)
    assert state.read_text() == "[1, 2]"


def test_tier_limits_and_digest_payload() -> None:
    """The tier's limits reach the GateResult; the budget only for destructive intents; both digested."""
    policy = compile_policy(
        "rules: [{name: r, effect: allow, rate_limit: {requests: 5, window: hour}, destructive_budget: {requests: 1, scope: tool}}]"
    )
    assert policy.payload["Rules"][0]["RateLimit"] == {
        "Requests": 5,
        "Window": "hour",
        "Scope": "tool_identity",
    }
    assert policy.payload["Rules"][0]["DestructiveBudget"] == {
        "Requests": 1,
        "Window": "minute",
        "Scope": "tool",
    }
    raw = json.loads((VECTORS / "gate" / "intent_read_config.json").read_text())
    result = evaluate(policy, normalize_intent(raw, strip_context_claims=True))
    assert result.rate_limit == RateLimit(5, "hour") and result.destructive_budget is None
    raw["targets"][0]["operation"] = "delete"
    result = evaluate(policy, normalize_intent(raw, strip_context_claims=True))
    assert result.destructive_budget == RateLimit(1, "minute", "tool")
    zero = compile_policy("rules: [{name: r, effect: allow, rate_limit: {requests: 0}}]")
    assert "RateLimit" not in zero.payload["Rules"][0]


@pytest.fixture
def gate_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shutil.copytree(VECTORS / "gate", tmp_path / "gate")
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(NOW, step_ns=1000))
    old = Path.cwd()
    os.chdir(tmp_path / "gate")
    try:
        yield tmp_path / "gate"
    finally:
        os.chdir(old)


def _eval(*extra: str) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    code = main(
        [
            "gate",
            "eval",
            "--policy",
            "limited.yaml",
            "--intent",
            "intent_read_config.json",
            "--json",
            *extra,
        ],
        out=out,
    )
    return code, json.loads(out.getvalue())


def test_gate_eval_blocks_once_the_limit_is_used(gate_dir: Path) -> None:
    """Two allowed calls, then block with rate_limit_exceeded (exit 3); fields reported."""
    Path("limited.yaml").write_text(
        "default_verdict: block\nrules: [{name: r, effect: allow, rate_limit: {requests: 2}}]\n"
    )
    results = [_eval() for _ in range(3)]
    assert [code for code, _ in results] == [0, 0, 3]
    first, last = results[0][1], results[2][1]
    assert first["rate_limit_used"] == 1 and first["rate_limit_remaining"] == 1
    assert (
        first["rate_limit_key"]
        == "minute|tool_identity|2026-03-01T09:30:00Z|fs.read_file|reader-bot"
    )
    assert last["verdict"] == "block" and last["rate_limit_used"] == 2
    assert last["reason_codes"] == ["matched_rule_r", "rate_limit_exceeded"]
    assert last["violations"] == ["rate_limit_exceeded"]
    assert Path(".gait-out/gate_rate_limits.json").exists()


def test_a_blocked_decision_does_not_consume_budget(gate_dir: Path) -> None:
    """Our choice (documented): a block never runs, so it is not counted."""
    Path("limited.yaml").write_text(
        "rules: [{name: r, effect: block, rate_limit: {requests: 1}}]\n"
    )
    code, got = _eval("--rate-limit-state", "state.json")
    assert code == 3 and "rate_limit_used" not in got
    assert not Path("state.json").exists()
