"""Workload profiles for ``gait soak run``: locating, loading, validating, overriding.

Owns: resolving a profile argument (a NAME such as ``smoke`` looked up in the
packaged ``profiles/`` directory, else the checkout's, or a path to a YAML
file), schema validation against ``schemas/v1/soak/workload_profile``, the
frozen :class:`WorkloadProfile` the harness runs, command-line overrides
(``--duration``, ``--agents``, ``--sessions``, ``--budget name=value``), and the
embedded soak policy. Does not own: running anything (``runner.py``) or
runtime postures (``posture.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from ..artifacts.schemas import validate
from ..errors import EXIT_INVALID_INPUT, ArtifactInputError, UsageError
from ..profiles import profiles_root
from ..supervisor.service.config import parse_duration_flag
from ..supervisor.sessions.config import FsyncPolicy

__all__ = [
    "BUDGET_NAMES",
    "SOAK_POLICY",
    "Budgets",
    "Ramp",
    "Restarts",
    "ServerSettings",
    "Stage",
    "WorkloadProfile",
    "apply_overrides",
    "load_profile",
    "profile_names",
    "resolve_profile_path",
]

WORKLOAD_SCHEMA: Final = "soak/workload_profile"

BUDGET_NAMES: Final = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_error_rate",
    "max_contention_errors",
    "max_drift_ratio",
    "max_rss_growth_mb",
    "max_malformed_lines",
    "min_throughput_rps",
)
"""Every budget a profile (or ``--budget``) may set; unset budgets are not checked,
except ``max_malformed_lines`` which is always 0 unless a profile says otherwise."""

SOAK_POLICY: Final = """\
schema_id: gait.gate.policy
schema_version: 1.0.0
default_verdict: block
rules:
  - name: soak-allow-reads
    priority: 10
    effect: allow
    match:
      tool_names: [soak.read, soak.upload]
    reason_codes: [soak_allowed]
  - name: soak-block-deletes
    priority: 20
    effect: block
    match:
      tool_names: [soak.delete]
    reason_codes: [soak_blocked]
    violations: [soak_destructive]
  - name: soak-approve-writes
    priority: 30
    effect: require_approval
    match:
      tool_names: [soak.write]
    reason_codes: [soak_needs_approval]
"""
"""The policy the simulated agents are judged by when a profile names none: one
tool per call kind, so every response's verdict can be checked against the kind sent."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One phase of a run with a fixed population.

    Attributes:
        name: label used in progress lines and the report.
        agents: simulated agents running concurrently.
        sessions: sessions the agents share (``agents`` ≥ ``sessions`` is usual).
        duration_s: how long the stage runs.
        rate: total requests per second across the stage (0 = closed loop).
    """

    name: str
    agents: int
    sessions: int
    duration_s: float
    rate: float = 0.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the supervisor subprocess is started.

    Attributes:
        posture: runtime posture profile name or path (``posture.py``).
        fsync: journal fsync policy.
        checkpoint_every: checkpoint every N events per session (0 = only on drain).
        batch_limit: group-commit batch limit.
        mailbox_size: bounded mailbox per session.
        drain_timeout_s: graceful drain deadline on SIGTERM.
        start_timeout_s: bound on waiting for the start-up line.
        extra_args: further ``gait serve`` flags, appended verbatim.
    """

    posture: str = "dev"
    fsync: FsyncPolicy = "always"
    checkpoint_every: int = 0
    batch_limit: int = 256
    mailbox_size: int = 1024
    drain_timeout_s: float = 20.0
    start_timeout_s: float = 30.0
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Restarts:
    """Supervisor restarts injected during the run.

    Attributes:
        count: how many restarts, at seeded-random points of the run.
        signal: ``term`` (graceful drain) or ``kill`` (SIGKILL, a crash).
        min_gap_s: smallest distance between two restarts and from either end.
    """

    count: int = 0
    signal: Literal["term", "kill"] = "term"
    min_gap_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Ramp:
    """A capacity ramp: agents grow step by step until p99 crosses its budget.

    Attributes:
        start_agents: agents in the first step.
        factor: agents multiply by this each step.
        max_agents: last step's upper bound.
        step_duration_s: duration of each step.
        agents_per_session: agents sharing one session.
    """

    start_agents: int
    max_agents: int
    step_duration_s: float
    factor: float = 2.0
    agents_per_session: int = 4

    def steps(self) -> list[int]:
        """Agent counts of every step, strictly increasing, ending at ``max_agents``."""
        out: list[int] = []
        agents = self.start_agents
        while agents < self.max_agents:
            out.append(agents)
            agents = max(agents + 1, round(agents * self.factor))
        out.append(self.max_agents)
        return out


@dataclass(frozen=True, slots=True)
class Budgets:
    """Limits the run is judged against; ``None`` means "not checked".

    Attributes:
        values: budget name → limit (see :data:`BUDGET_NAMES`).
    """

    values: Mapping[str, float] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        """The limit named ``name``, or ``None`` when unset."""
        return self.values.get(name)


@dataclass(frozen=True, slots=True)
class WorkloadProfile:
    """A validated workload profile, ready to run.

    Attributes:
        name: profile name.
        description: what the profile exercises.
        source: where it was loaded from (path text).
        digest: sha256 of the profile file bytes (identifies the exact profile in reports).
        seed: seed of every random choice (call mix, restart points).
        backend: event loop of both the supervisor and the harness.
        stages: the phases, run in order on one journal set.
        mapping: ``round_robin`` (agent i → session i mod n) or ``block``.
        think_time_s: pause between an agent's calls in closed-loop mode.
        mix: call kind → weight (``allow``, ``block``, ``approval``, ``large``).
        large_payload_bytes: argument size of a ``large`` call.
        drift_deciles: deciles of journal length pooled at each end of a stage
            when judging drift (1: the last decile against the first).
        policy_path: the policy file, or ``None`` for :data:`SOAK_POLICY`.
        server: supervisor settings.
        compact_at_restart: compact every journal while the supervisor is down.
        compact_at_end: compact every journal after the final stop, before verifying.
        restarts: injected restarts.
        ramp: capacity ramp (replaces ``stages`` when set).
        budgets: the limits.
    """

    name: str
    description: str
    source: str
    digest: str
    seed: int
    backend: Literal["asyncio", "trio"]
    stages: tuple[Stage, ...]
    mapping: Literal["round_robin", "block"]
    think_time_s: float
    mix: Mapping[str, float]
    large_payload_bytes: int
    policy_path: Path | None
    server: ServerSettings
    compact_at_restart: bool
    compact_at_end: bool
    restarts: Restarts
    ramp: Ramp | None
    budgets: Budgets
    drift_deciles: int = 1

    @property
    def total_duration_s(self) -> float:
        """Planned wall time of the driving phase (ramps: the longest possible)."""
        if self.ramp is not None:
            return self.ramp.step_duration_s * len(self.ramp.steps())
        return sum(s.duration_s for s in self.stages)


def profile_names() -> list[str]:
    """Names of the shipped workload profiles (posture files excluded)."""
    names = []
    for path in sorted(profiles_root().glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict) and doc.get("schema_id") == "gait.soak.workload_profile":
            names.append(path.stem)
    return names


def resolve_profile_path(arg: str) -> Path:
    """Turn ``--profile NAME|path`` into a file path.

    A value containing a path separator or ending in ``.yaml``/``.yml`` is a path;
    anything else is a shipped profile name.

    Raises:
        UsageError: no such file or profile name.
    """
    text = arg.strip()
    if not text:
        raise UsageError("expected --profile <name|path>")
    if "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"soak profile not found: {text}")
        return path
    path = profiles_root() / f"{text}.yaml"
    if not path.is_file():
        known = ", ".join(profile_names()) or "none"
        raise UsageError(f"unknown soak profile: {text} (shipped: {known})")
    return path


def _duration(value: object, what: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    return parse_duration_flag(str(value), flag=what)


def _invalid(message: str) -> UsageError:
    return UsageError(message, code="soak_profile_invalid")


def load_profile(arg: str) -> WorkloadProfile:
    """Load and validate a workload profile by name or path.

    Raises:
        UsageError: unknown profile, unreadable or invalid YAML, or a document that
            does not match the schema (the message names the JSON path).
    """
    path = resolve_profile_path(arg)
    try:
        data = path.read_bytes()
        doc = yaml.safe_load(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _invalid(f"read soak profile {path}: {exc}") from exc
    try:
        validate(WORKLOAD_SCHEMA, doc)
    except ArtifactInputError as exc:
        raise _invalid(f"soak profile {path}: {exc.message}") from exc
    return _build(doc, path, hashlib.sha256(data).hexdigest())


def _build(doc: dict[str, Any], path: Path, digest: str) -> WorkloadProfile:
    stages = tuple(
        Stage(
            name=str(s.get("name") or f"stage{i + 1}"),
            agents=int(s["agents"]),
            sessions=int(s["sessions"]),
            duration_s=_duration(s["duration"], f"stages[{i}].duration"),
            rate=float(s.get("rate", 0)),
        )
        for i, s in enumerate(doc["stages"])
    )
    srv = doc.get("server", {})
    server = ServerSettings(
        posture=str(srv.get("posture", "dev")),
        fsync=srv.get("fsync", "always"),
        checkpoint_every=int(srv.get("checkpoint_every", 0)),
        batch_limit=int(srv.get("batch_limit", 256)),
        mailbox_size=int(srv.get("mailbox_size", 1024)),
        drain_timeout_s=_duration(srv.get("drain_timeout", "20s"), "server.drain_timeout"),
        start_timeout_s=_duration(srv.get("start_timeout", "30s"), "server.start_timeout"),
        extra_args=tuple(str(a) for a in srv.get("extra_args", ())),
    )
    rs = doc.get("restarts", {})
    restarts = Restarts(
        count=int(rs.get("count", 0)),
        signal=rs.get("signal", "term"),
        min_gap_s=_duration(rs.get("min_gap", "1s"), "restarts.min_gap"),
    )
    ramp: Ramp | None = None
    if "ramp" in doc:
        r = doc["ramp"]
        ramp = Ramp(
            start_agents=int(r["start_agents"]),
            max_agents=int(r["max_agents"]),
            step_duration_s=_duration(r["step_duration"], "ramp.step_duration"),
            factor=float(r.get("factor", 2.0)),
            agents_per_session=int(r.get("agents_per_session", 4)),
        )
        if ramp.start_agents > ramp.max_agents:
            raise _invalid(f"soak profile {path}: ramp.start_agents exceeds ramp.max_agents")
    mix = {k: float(v) for k, v in doc.get("mix", {"allow": 1}).items() if float(v) > 0}
    if not mix:
        raise _invalid(f"soak profile {path}: mix has no positive weight")
    budgets = {k: float(v) for k, v in doc["budgets"].items()}
    budgets.setdefault("max_malformed_lines", 0.0)
    comp = doc.get("compaction", {})
    policy = doc.get("policy")
    return WorkloadProfile(
        name=str(doc["name"]),
        description=str(doc.get("description", "")).strip(),
        source=str(path),
        digest=digest,
        seed=int(doc.get("seed", 1)),
        backend=doc.get("backend", "asyncio"),
        stages=stages,
        mapping=doc.get("mapping", "round_robin"),
        think_time_s=_duration(doc.get("think_time", 0), "think_time"),
        mix=mix,
        large_payload_bytes=int(doc.get("large_payload_bytes", 65536)),
        policy_path=(path.parent / policy) if policy else None,
        server=server,
        compact_at_restart=bool(comp.get("at_restart", False)),
        compact_at_end=bool(comp.get("at_end", False)),
        restarts=restarts,
        ramp=ramp,
        budgets=Budgets(budgets),
        drift_deciles=int(doc.get("drift_deciles", 1)),
    )


def _scaled_stages(stages: Sequence[Stage], total_s: float) -> tuple[Stage, ...]:
    planned = sum(s.duration_s for s in stages) or 1.0
    return tuple(replace(s, duration_s=total_s * s.duration_s / planned) for s in stages)


def apply_overrides(
    profile: WorkloadProfile,
    *,
    duration_s: float | None = None,
    agents: int | None = None,
    sessions: int | None = None,
    backend: str | None = None,
    seed: int | None = None,
    restarts: int | None = None,
    budgets: Mapping[str, float] | None = None,
    max_agents: int | None = None,
) -> WorkloadProfile:
    """Return ``profile`` with command-line overrides applied.

    ``duration_s`` sets the total driving time, shared by the stages in their
    planned proportions (for a ramp it sets each step's duration divided by the
    number of steps); a shorter run also shrinks the restarts' minimum gap in
    proportion (never below 0.5 s, never above the profile's). ``agents``/``sessions`` replace every stage's values
    (sessions never exceed agents).

    Raises:
        UsageError: an unknown budget name or a non-positive value.
    """
    out = profile
    if backend is not None:
        if backend not in ("asyncio", "trio"):
            raise UsageError(f"unsupported --backend value: {backend}")
        out = replace(out, backend=backend)  # type: ignore[arg-type]  # checked just above
    if seed is not None:
        out = replace(out, seed=seed)
    if max_agents is not None and out.ramp is not None:
        if max_agents < 1:
            raise UsageError("--max-agents must be >= 1")
        ramp = replace(
            out.ramp, max_agents=max_agents, start_agents=min(out.ramp.start_agents, max_agents)
        )
        out = replace(out, ramp=ramp)
    if duration_s is not None:
        if duration_s <= 0:
            raise UsageError("--duration must be > 0")
        if out.ramp is not None:
            step = duration_s / len(out.ramp.steps())
            out = replace(out, ramp=replace(out.ramp, step_duration_s=step))
        scale = duration_s / (sum(s.duration_s for s in out.stages) or duration_s)
        gap = max(0.5, min(out.restarts.min_gap_s, out.restarts.min_gap_s * scale))
        out = replace(
            out,
            stages=_scaled_stages(out.stages, duration_s),
            restarts=replace(out.restarts, min_gap_s=gap),
        )
    if agents is not None or sessions is not None:
        if (agents is not None and agents < 1) or (sessions is not None and sessions < 1):
            raise UsageError("--agents and --sessions must be >= 1")
        stages = []
        for s in out.stages:
            a = agents if agents is not None else s.agents
            n = sessions if sessions is not None else s.sessions
            stages.append(replace(s, agents=a, sessions=min(n, a)))
        out = replace(out, stages=tuple(stages))
    if restarts is not None:
        if restarts < 0:
            raise UsageError("--restarts must be >= 0")
        out = replace(out, restarts=replace(out.restarts, count=restarts))
    if budgets:
        merged = dict(out.budgets.values)
        for name, value in budgets.items():
            if name not in BUDGET_NAMES:
                raise UsageError(
                    f"unknown budget: {name} (one of: {', '.join(BUDGET_NAMES)})",
                    code="soak_budget_unknown",
                    exit_code=EXIT_INVALID_INPUT,  # the names list "contention": no quirk
                )
            merged[name] = float(value)
        out = replace(out, budgets=Budgets(merged))
    return out
