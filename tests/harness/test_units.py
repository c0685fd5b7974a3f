"""The harness's pure parts: profiles, postures, overrides, restart plans, statistics, compare.

No server here: these pin the rules the end-to-end tests rely on (profile
validation, ``--duration`` scaling, seeded restart points, the drift ratio,
budget judging, the compare verdicts, and that each posture's flags are
``gait serve`` flags).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from gait_runtime.cli import main
from gait_runtime.cli._frame import Parser
from gait_runtime.cli.serve import build_serve
from gait_runtime.errors import UsageError
from gait_runtime.gate.policy import compile_policy
from gait_runtime.harness import apply_overrides, compare_reports, load_posture, load_profile
from gait_runtime.harness.capacity import StepResult, knee
from gait_runtime.harness.driver import EXPECTED_VERDICT, build_call, session_for
from gait_runtime.harness.profile import SOAK_POLICY, Budgets, Ramp, profile_names
from gait_runtime.harness.report import judge_budgets
from gait_runtime.harness.runner import plan_restarts
from gait_runtime.harness.stats import Samples, drift, percentile, rss_growth, summary
from gait_runtime.supervisor.service.posture import posture_names, posture_serve_args

WORKLOADS = ["capacity", "chaos", "smoke", "soak", "swarm"]


def test_every_shipped_workload_profile_loads() -> None:
    """Issue: smoke, swarm, soak, chaos (and capacity) ship in profiles/ and validate."""
    assert profile_names() == WORKLOADS
    for name in WORKLOADS:
        profile = load_profile(name)
        assert profile.name == name and profile.budgets.get("max_malformed_lines") == 0


def test_smoke_profile_fits_the_ci_minute() -> None:
    """Issue: the smoke profile runs in CI in at most 60 s (driving time well below)."""
    assert load_profile("smoke").total_duration_s <= 30


def test_swarm_profile_is_64_agents_on_one_session_then_256_on_64() -> None:
    """Issue: swarm = 64 agents on one session, then 256 agents on 64 sessions."""
    stages = load_profile("swarm").stages
    assert [(s.agents, s.sessions) for s in stages] == [(64, 1), (256, 64)]


def test_chaos_profile_kills_and_soak_profile_compacts() -> None:
    """Issue: chaos SIGKILLs repeatedly; soak checkpoints and compacts over hours."""
    chaos, soak = load_profile("chaos"), load_profile("soak")
    assert chaos.restarts.signal == "kill" and chaos.restarts.count >= 3
    assert soak.total_duration_s >= 3600 and soak.server.checkpoint_every > 0
    assert soak.compact_at_restart and soak.compact_at_end and soak.restarts.count > 0


def test_a_profile_with_an_unknown_key_is_refused_naming_the_path(tmp_path: Path) -> None:
    """Schema: unknown keys are errors (exit 6), and the message names the JSON path."""
    bad = tmp_path / "bad.yaml"
    text = (Path(load_profile("smoke").source).read_text()).replace("seed: 1", "seeds: 1")
    bad.write_text(text)
    with pytest.raises(UsageError, match=r"soak_profile|seeds|\$"):
        load_profile(str(bad))
    assert main(["soak", "run", "--profile", str(bad), "--quiet"]) == 6


def test_an_unknown_profile_name_lists_the_shipped_ones() -> None:
    """A mistyped name says which profiles exist."""
    with pytest.raises(UsageError, match="shipped: capacity, chaos, smoke, soak, swarm"):
        load_profile("smok")


def test_duration_override_keeps_stage_proportions() -> None:
    """--duration sets the total; stages keep their planned shares."""
    swarm = apply_overrides(load_profile("swarm"), duration_s=12.0, agents=4, sessions=8)
    assert [round(s.duration_s, 6) for s in swarm.stages] == [6.0, 6.0]
    assert [(s.agents, s.sessions) for s in swarm.stages] == [(4, 4), (4, 4)]


def test_unknown_budget_override_is_refused() -> None:
    """--budget accepts only the documented budget names."""
    with pytest.raises(UsageError, match="unknown budget: p42_ms"):
        apply_overrides(load_profile("smoke"), budgets={"p42_ms": 1.0})


def test_ramp_steps_grow_by_the_factor_and_end_at_the_maximum() -> None:
    """Capacity ramp: 4, 8, 16, ... then exactly max_agents."""
    assert Ramp(4, 100, 1.0).steps() == [4, 8, 16, 32, 64, 100]
    assert Ramp(4, 4, 1.0).steps() == [4]


def test_restart_points_are_seeded_spaced_and_inside_the_run() -> None:
    """Chaos: restart instants depend only on the seed, keep the minimum gap, stay inside."""
    a = plan_restarts(90.0, 6, 3.0, seed=4)
    assert a == plan_restarts(90.0, 6, 3.0, seed=4) != plan_restarts(90.0, 6, 3.0, seed=5)
    assert len(a) == 6 and all(3.0 <= t <= 87.0 for t in a)
    assert all(b - x >= 3.0 for x, b in itertools.pairwise(a))
    assert plan_restarts(10.0, 0, 1.0, seed=1) == []


def test_every_shipped_posture_becomes_gait_serve_flags() -> None:
    """Postures: dev and oss-prod load, and each key is a flag `gait serve` accepts."""
    assert posture_names() == ["dev", "oss-prod"]
    for name in posture_names():
        parser = Parser(prog="gait serve")
        build_serve(parser)
        ns = parser.parse_args(["--policy", "p.yaml", *posture_serve_args(load_posture(name))])
        assert ns.policy == "p.yaml"
    prod = load_posture("oss-prod")
    assert prod.key_mode == "prod" and prod.serve["http_verdict_status"] == "strict"


def test_embedded_policy_gives_each_call_kind_its_verdict() -> None:
    """The soak policy compiles and has one rule per call kind (verdicts are checkable)."""
    policy = compile_policy(SOAK_POLICY, source="soak")
    assert policy.digest
    assert set(EXPECTED_VERDICT.values()) == {"allow", "block", "require_approval"}
    call = build_call("large", 3, 7, "soak-s0001", 10)
    assert call["call"]["args"]["blob"] == "x" * 10
    assert call["session_id"] == call["call"]["context"]["session_id"] == "soak-s0001"


def test_agents_map_to_sessions_round_robin_or_in_blocks() -> None:
    """Mapping: round_robin is i mod n; block keeps neighbours together."""
    assert [session_for(i, 4, 2, "round_robin")[-1] for i in range(4)] == ["0", "1", "0", "1"]
    assert [session_for(i, 4, 2, "block")[-1] for i in range(4)] == ["0", "0", "1", "1"]


def test_percentiles_are_nearest_rank() -> None:
    """Statistics: nearest-rank percentiles, empty input is 0."""
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (
        50.0,
        99.0,
        0.0,
    )
    assert summary([0.001, 0.002, 0.003])["p50_ms"] == 2.0


def test_drift_ratio_compares_last_and_first_decile_of_journal_length() -> None:
    """Drift: median latency of the last decile of sequence numbers over the first."""
    samples = Samples()
    for seq in range(1, 101):
        samples.add(seq / 10, 0.010 if seq <= 90 else 0.030, 0, seq, 0, 200)
    samples.add(11.0, 5.0, 3, -1, 0, 0)  # a failed request never counts
    result = drift(samples)
    assert result["ratio"] == 3.0 and len(result["deciles"]) == 10
    assert (
        result["deciles"][0]["sequence_from"] == 1 and result["deciles"][-1]["sequence_to"] == 100
    )


def test_rss_growth_is_judged_per_incarnation() -> None:
    """RSS: a restart resets memory; growth is the worst incarnation's tail minus head."""
    series = [(1, float(t), 50.0 + t) for t in range(10)] + [(2, 10.0 + t, 40.0) for t in range(10)]
    assert rss_growth(series)["growth_mb"] == 9.0


def test_budgets_are_maximums_except_minimum_throughput() -> None:
    """Budgets: actual above a max_ limit fails; below min_throughput_rps fails."""
    rows = judge_budgets(
        Budgets({"p99_ms": 10.0, "min_throughput_rps": 100.0}),
        {"p99_ms": 12.0, "min_throughput_rps": 150.0},
    )
    assert [(r["name"], r["ok"]) for r in rows] == [("p99_ms", False), ("min_throughput_rps", True)]


def test_knee_is_the_last_step_within_budget() -> None:
    """Capacity: the knee is the largest agent count before the first step over budget."""
    steps = [
        StepResult(4, 1, 100, 0, 50.0, 5.0, 9.0, True),
        StepResult(8, 2, 200, 0, 90.0, 7.0, 14.0, True),
        StepResult(16, 4, 300, 0, 95.0, 30.0, 80.0, False),
    ]
    doc = knee(steps, 20.0)
    assert (doc["knee_agents"], doc["knee_p99_ms"], doc["crossed"]) == (8, 14.0, True)
    assert doc["statement"].startswith("this machine holds 8 agents at p99 <= 20 ms")


def test_compare_marks_direction_aware_verdicts() -> None:
    """Compare: lower latency is better, higher throughput is better, <5 % is the same."""
    a = {"totals": {"throughput_rps": 100.0}, "latency_ms": {"p99_ms": 10.0, "p50_ms": 5.0}}
    b = {"totals": {"throughput_rps": 150.0}, "latency_ms": {"p99_ms": 20.0, "p50_ms": 5.1}}
    rows = {r["figure"]: r for r in compare_reports(a, b)}
    assert rows["throughput_rps"]["verdict"] == "better"
    assert rows["p99_ms"]["verdict"] == "worse" and rows["p99_ms"]["change_pct"] == 100.0
    assert rows["p50_ms"]["verdict"] == "same"
    assert "capacity_knee_agents" not in rows


def test_compare_refuses_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    """Compare validates both files against the report schema (exit 6)."""
    bogus = tmp_path / "x.json"
    bogus.write_text(json.dumps({"schema_id": "something.else"}))
    assert main(["soak", "compare", str(bogus), str(bogus)]) == 6


def test_drift_is_judged_per_stage_so_a_load_change_is_not_drift() -> None:
    """Drift: a slower second stage (more agents) does not count as growth with journal length."""
    samples = Samples()
    for seq in range(1, 201):
        samples.add(seq / 10, 0.010, 0, seq, 0, 200)
    for seq in range(201, 401):
        samples.add(seq / 10, 0.050, 0, seq, 1, 200)
    result = drift(samples)
    assert result["ratio"] == 1.0
    assert [s["stage"] for s in result["per_stage"]] == [0, 1]
    assert result["deciles"][-1]["p50_ms"] == 50.0


@pytest.mark.parametrize("name", ["dev", "oss-prod"])
def test_driver_drops_idle_connections_before_the_server_does(name: str) -> None:
    """Keep-alive race: the soak client's pool expiry stays below the server's idle close.

    The server closes a keep-alive connection after ``--header-timeout`` idle; a
    client reusing it at that instant gets no answer (seen once per 30-minute soak
    before the client expiry was lowered).
    """
    from gait_runtime.artifacts.timefmt import parse_go_duration
    from gait_runtime.harness.driver import CLIENT_KEEPALIVE_S
    from gait_runtime.supervisor.service.config import ServiceConfig
    from gait_runtime.supervisor.service.posture import load_posture

    posture = load_posture(name)
    server_idle = parse_go_duration(str(posture.serve["header_timeout"])) / 1e9
    assert server_idle / 2 >= CLIENT_KEEPALIVE_S
    default_idle = ServiceConfig.__dataclass_fields__["header_timeout_s"].default
    assert isinstance(default_idle, float) and default_idle / 2 >= CLIENT_KEEPALIVE_S


def _noisy_stage(growth: float, burst: tuple[int, int] | None) -> Samples:
    """400 appends of one stage: latency grows linearly by ``growth``x over the journal,
    plus an optional burst (a busy machine: 4x latency) over a range of sequences."""
    samples = Samples()
    for seq in range(1, 401):
        latency = 0.010 * (1 + (growth - 1) * (seq - 1) / 399)
        if burst is not None and burst[0] <= seq <= burst[1]:
            latency *= 4
        samples.add(seq / 10, latency, 0, seq, 0, 200)
    return samples


def test_pooled_drift_shrugs_off_a_burst_but_still_catches_growth() -> None:
    """``drift_deciles: 3`` (the smoke profile, budget 2.5): a load burst covering the last
    decile moves the one-decile ratio to 4 but leaves the pooled one at 1; latency growing
    5x over the journal fails the smoke budget either way."""
    smoke = load_profile("smoke")
    budget = smoke.budgets.values["max_drift_ratio"]
    assert (smoke.drift_deciles, budget) == (3, 2.5)
    burst = _noisy_stage(1.0, (361, 400))
    assert drift(burst)["ratio"] == 4.0
    assert drift(burst, end_deciles=3)["ratio"] <= 1.1 < budget
    growth = _noisy_stage(5.0, None)
    assert drift(growth)["ratio"] > budget
    assert drift(growth, end_deciles=3)["ratio"] > budget
