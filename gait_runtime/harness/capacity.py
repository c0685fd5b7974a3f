"""The capacity figure: how many agents this machine holds within a p99 budget.

Owns: turning a profile's :class:`~.profile.Ramp` into ramp stages, judging
each finished step (p99 of its decisions and its error rate against the
budgets), deciding when the ramp stops (the first step over budget), and the
knee: the largest agent count whose step stayed within budget ("this machine
holds N agents at p99 ≤ X ms"). Pure computation over the run's samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .profile import Ramp, Stage
from .stats import ERROR_OUTCOMES, Samples, summary

__all__ = ["StepResult", "knee", "ramp_stage", "step_result"]


def ramp_stage(ramp: Ramp, index: int, agents: int) -> Stage:
    """Stage of ramp step ``index`` with ``agents`` agents."""
    sessions = max(1, agents // ramp.agents_per_session)
    return Stage(
        name=f"ramp{index + 1}-{agents}a",
        agents=agents,
        sessions=sessions,
        duration_s=ramp.step_duration_s,
    )


@dataclass(frozen=True, slots=True)
class StepResult:
    """Figures of one finished ramp step.

    Attributes:
        agents: agents in the step.
        sessions: sessions in the step.
        decisions: decisions answered.
        errors: requests that failed.
        throughput_rps: decisions per second.
        p50_ms: median latency.
        p99_ms: 99th percentile latency.
        within_budget: p99 and error rate within budget.
    """

    agents: int
    sessions: int
    decisions: int
    errors: int
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    within_budget: bool

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON object."""
        return {
            "agents": self.agents,
            "sessions": self.sessions,
            "decisions": self.decisions,
            "errors": self.errors,
            "throughput_rps": self.throughput_rps,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "within_budget": self.within_budget,
        }


def step_result(
    samples: Samples,
    stage_index: int,
    stage: Stage,
    elapsed_s: float,
    *,
    p99_budget_ms: float,
    max_error_rate: float,
) -> StepResult:
    """Judge ramp step ``stage_index`` from the samples it recorded."""
    latencies = []
    errors = requests = 0
    for st, out, latency in zip(samples.stage, samples.outcome, samples.latency, strict=True):
        if st != stage_index:
            continue
        requests += 1
        if out == 0:
            latencies.append(latency)
        elif out in ERROR_OUTCOMES:
            errors += 1
    lat = summary(latencies)
    rate = errors / requests if requests else 1.0
    within = bool(latencies) and lat["p99_ms"] <= p99_budget_ms and rate <= max_error_rate
    return StepResult(
        agents=stage.agents,
        sessions=stage.sessions,
        decisions=len(latencies),
        errors=errors,
        throughput_rps=round(len(latencies) / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        p50_ms=lat["p50_ms"],
        p99_ms=lat["p99_ms"],
        within_budget=within,
    )


def knee(steps: list[StepResult], p99_budget_ms: float) -> dict[str, Any]:
    """The capacity object of the report: the last step within budget, and every step."""
    best: StepResult | None = None
    for step in steps:
        if not step.within_budget:
            break
        best = step
    sentence = (
        f"this machine holds {best.agents} agents at p99 <= {p99_budget_ms:g} ms "
        f"({best.throughput_rps:g} decisions/s, p99 {best.p99_ms:g} ms)"
        if best is not None
        else f"no step met p99 <= {p99_budget_ms:g} ms"
    )
    return {
        "p99_budget_ms": p99_budget_ms,
        "knee_agents": best.agents if best else 0,
        "knee_p99_ms": best.p99_ms if best else 0.0,
        "knee_throughput_rps": best.throughput_rps if best else 0.0,
        "crossed": any(not s.within_budget for s in steps),
        "statement": sentence,
        "steps": [s.to_json() for s in steps],
    }
