"""``gait soak run`` end to end: supervisor up, agents on, restarts, supervisor down, verify, report.

Owns: the order of a run. Prepare the output directory (policy, keys and
token for the posture), start the supervisor subprocess, run the stages (or the
capacity ramp) with simulated agents while a monitor samples the server's RSS
and prints one progress line per second, inject the profile's restarts at
seeded-random points (SIGTERM with a drain, or SIGKILL) with optional
compaction while the server is down, stop it with SIGTERM and check it exits
0, optionally compact, verify every journal and acknowledgement, and hand the
figures to ``report.py`` and ``plot.py``. Runs on real time: measuring it is
its purpose. Does not own: the statistics, the checks or the rendering.
"""

from __future__ import annotations

import base64
import os
import platform
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, Final

import anyio

from .. import __version__
from ..artifacts.fsutil import ensure_dir
from ..artifacts.signing import SigningKey
from ..artifacts.timefmt import format_ns
from ..errors import GaitError, UsageError
from ..supervisor.service.posture import Posture, load_posture
from . import capacity as cap
from .driver import Agent, Recorder, Target, run_agent, session_for
from .process import ServerDirs, ServerProcess, read_rss_mb, serve_command
from .profile import SOAK_POLICY, Stage, WorkloadProfile
from .report import build_report, text_summary, write_report
from .stats import Samples
from .verify import VerifyResult, verify_run

__all__ = ["RunOutcome", "plan_restarts", "run_soak"]

_STOP_GRACE_S: Final = 15.0
"""Added to the drain timeout when waiting for a SIGTERMed supervisor to exit."""


@dataclass(slots=True)
class RunOutcome:
    """What a finished run produced.

    Attributes:
        report: the report document (also written to ``report_path``).
        report_path: ``soak_report.json``.
        plot_path: ``soak_plot.png`` (``None`` when plotting was off).
        text: the one-screen summary.
        failed: broken budgets and failed checks, one line each (empty: passed).
    """

    report: dict[str, Any]
    report_path: Path
    plot_path: Path | None
    text: list[str]
    failed: list[str]


def plan_restarts(total_s: float, count: int, min_gap_s: float, seed: int) -> list[float]:
    """Seeded-random restart instants in ``(0, total_s)``, at least ``min_gap_s`` apart.

    The run is cut into ``count + 1`` equal parts; each boundary moves by up to a
    third of a part, then the instants are clamped to respect ``min_gap_s``.
    """
    if count <= 0 or total_s <= 0:
        return []
    rng = random.Random(seed * 31 + 17)
    part = total_s / (count + 1)
    out: list[float] = []
    low = min_gap_s
    for i in range(1, count + 1):
        t = i * part + rng.uniform(-part / 3, part / 3)
        t = max(t, low)
        if t > total_s - min_gap_s:
            break
        out.append(round(t, 3))
        low = t + min_gap_s
    return out


@dataclass(slots=True)
class _Run:
    profile: WorkloadProfile
    posture: Posture
    dirs: ServerDirs
    env: dict[str, str]
    target: Target
    recorder: Recorder
    progress: IO[str] | None
    server: ServerProcess | None = None
    starts: int = 0
    kills: int = 0
    graceful_restarts: int = 0
    exit_codes: list[int | None] = field(default_factory=list)
    rss: list[tuple[int, float, float]] = field(default_factory=list)
    harness_problems: list[tuple[str, str]] = field(default_factory=list)
    stage_label: str = ""
    stage_started: float = 0.0
    stage_duration: float = 0.0
    restarting: bool = False
    compactions: int = 0

    @property
    def max_connections(self) -> int:
        stages = self.profile.stages
        most = max(s.agents for s in stages)
        if self.profile.ramp is not None:
            most = max(most, self.profile.ramp.max_agents)
        return most + 8

    async def start_server(self) -> None:
        command = serve_command(self.profile, self.posture, self.dirs)
        server = ServerProcess(command, self.dirs.root, self.env, self.dirs.log)
        base_url = await server.start(self.profile.server.start_timeout_s)
        self.server = server
        self.starts += 1
        self.target.go_up(base_url, self.max_connections)

    async def stop_server(self, *, kill: bool) -> None:
        server = self.server
        assert server is not None
        self.target.go_down()
        if kill:
            code: int | None = await server.kill()
            self.kills += 1
        else:
            code = await server.stop(self.profile.server.drain_timeout_s + _STOP_GRACE_S)
            if code != 0:
                self.harness_problems.append(
                    (
                        "server_exit",
                        f"supervisor pid {server.pid} exited {code} after SIGTERM (want 0)"
                        if code is not None
                        else f"supervisor pid {server.pid} did not drain in time (killed)",
                    )
                )
        self.exit_codes.append(code)
        self.server = None

    async def compact_all(self) -> None:
        from ..supervisor.journal.oneshot import session_compact

        for journal in sorted(self.dirs.sessions.glob("*.journal.jsonl")):
            try:
                report = await session_compact(journal)
            except GaitError as exc:
                self.harness_problems.append(("compaction", f"{journal}: {exc.message}"))
                continue
            if report.compacted:
                self.compactions += 1


def _prepare(
    profile: WorkloadProfile, out_dir: Path
) -> tuple[ServerDirs, Posture, dict[str, str], dict[str, str]]:
    dirs = ServerDirs(out_dir.resolve())
    if dirs.sessions.exists() and any(dirs.sessions.iterdir()):
        raise UsageError(
            f"soak output directory already holds a run: {out_dir} (choose another --out)",
            code="soak_out_not_empty",
        )
    for directory in (dirs.root, dirs.sessions, dirs.traces, dirs.runpacks):
        ensure_dir(directory)
    if profile.policy_path is not None:
        try:
            policy = profile.policy_path.read_bytes()
        except OSError as exc:
            raise UsageError(f"read soak policy {profile.policy_path}: {exc}") from exc
    else:
        policy = SOAK_POLICY.encode()
    dirs.policy.write_bytes(policy)
    posture = load_posture(profile.server.posture)
    env = dict(os.environ)
    env.pop("GAIT_DEBUG", None)
    headers: dict[str, str] = {}
    serve = posture.serve
    if serve.get("auth_mode") == "token":
        token = secrets.token_hex(16)
        env[str(serve.get("auth_token_env") or "GAIT_SERVE_TOKEN")] = token
        headers["authorization"] = f"Bearer {token}"
    if posture.key_mode == "prod":
        key = SigningKey.generate()
        env[str(serve.get("private_key_env") or "GAIT_PRIVATE_KEY")] = base64.b64encode(
            key.go_private_bytes()
        ).decode()
    return dirs, posture, env, headers


def _print(run: _Run, text: str) -> None:
    if run.progress is not None:
        run.progress.write(text + "\n")
        run.progress.flush()


async def _monitor(run: _Run, total_s: float) -> None:
    recorder = run.recorder
    while True:
        await anyio.sleep(1.0)
        now = time.perf_counter() - recorder.t0
        server = run.server
        if server is not None:
            mb = read_rss_mb(server.pid)
            if mb is not None:
                run.rss.append((run.starts, now, mb))
        window = sorted(recorder.window)
        p99 = window[max(0, -(-len(window) * 99 // 100) - 1)] * 1000 if window else 0.0
        errors = sum(recorder.errors.values())
        rss = f"{run.rss[-1][2]:.0f}MB" if run.rss else "-"
        state = " RESTARTING" if run.restarting else ""
        _print(
            run,
            f"soak {run.profile.name} [{run.stage_label}] {now:6.0f}s/{total_s:.0f}s "
            f"rate {recorder.window_requests:5d}/s p99 {p99:7.1f}ms errors {errors} "
            f"acked {recorder.acknowledged} rss {rss} restarts {run.starts - 1}{state}",
        )
        recorder.window = []
        recorder.window_requests = 0
        recorder.window_errors = 0


async def _restarts(run: _Run, instants: list[float], done: anyio.Event) -> None:
    profile = run.profile
    for instant in instants:
        delay = run.recorder.t0 + instant - time.perf_counter()
        with anyio.move_on_after(max(delay, 0.0)):
            await done.wait()
        if done.is_set():
            return
        with anyio.CancelScope(shield=True):
            run.restarting = True
            kill = profile.restarts.signal == "kill"
            _print(run, f"soak {profile.name}: {'SIGKILL' if kill else 'SIGTERM'} supervisor")
            await run.stop_server(kill=kill)
            if not kill:
                run.graceful_restarts += 1
            if profile.compact_at_restart:
                await run.compact_all()
            await run.start_server()
            run.restarting = False


async def _drive_stage(run: _Run, index: int, stage: Stage) -> float:
    profile = run.profile
    run.stage_label = f"{stage.name} {stage.agents}a/{stage.sessions}s"
    started = time.perf_counter()
    run.stage_started, run.stage_duration = started, stage.duration_s
    deadline = started + stage.duration_s
    interval = stage.agents / stage.rate if stage.rate > 0 else 0.0
    async with anyio.create_task_group() as tg:
        for i in range(stage.agents):
            agent = Agent(
                index=i,
                session_id=session_for(i, stage.agents, stage.sessions, profile.mapping),
                stage=index,
                interval_s=interval,
                think_time_s=profile.think_time_s,
            )
            tg.start_soon(
                partial(
                    run_agent,
                    agent,
                    run.target,
                    run.recorder,
                    deadline=deadline,
                    mix=profile.mix,
                    large_bytes=profile.large_payload_bytes,
                    seed=profile.seed,
                )
            )
    return time.perf_counter() - started


async def _drive(run: _Run) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    profile = run.profile
    stage_rows: list[dict[str, Any]] = []
    if profile.ramp is None:
        for index, stage in enumerate(profile.stages):
            elapsed = await _drive_stage(run, index, stage)
            stage_rows.append({"stage": stage, "elapsed_s": elapsed})
        return stage_rows, None
    budget = profile.budgets.get("p99_ms")
    assert budget is not None
    max_rate = profile.budgets.get("max_error_rate") or 0.0
    steps: list[cap.StepResult] = []
    for index, agents in enumerate(profile.ramp.steps()):
        stage = cap.ramp_stage(profile.ramp, index, agents)
        elapsed = await _drive_stage(run, index, stage)
        stage_rows.append({"stage": stage, "elapsed_s": elapsed})
        step = cap.step_result(
            run.recorder.samples,
            index,
            stage,
            elapsed,
            p99_budget_ms=budget,
            max_error_rate=max_rate,
        )
        steps.append(step)
        _print(
            run,
            f"soak {profile.name}: step {agents} agents p99 {step.p99_ms:g}ms "
            f"{step.throughput_rps:g}/s {'within' if step.within_budget else 'OVER'} budget",
        )
        if not step.within_budget:
            break
    return stage_rows, cap.knee(steps, budget)


async def _run(
    profile: WorkloadProfile, out_dir: Path, progress: IO[str] | None
) -> tuple[_Run, list[dict[str, Any]], dict[str, Any] | None, VerifyResult, float, int]:
    dirs, posture, env, headers = _prepare(profile, out_dir)
    started_ns = time.time_ns()
    acks = open(dirs.root / "acks.jsonl", "wb")  # noqa: SIM115, ASYNC230  # buffered; closed below
    recorder = Recorder(t0=time.perf_counter(), samples=Samples(), acks=acks)
    run = _Run(profile, posture, dirs, env, Target(headers=headers), recorder, progress)
    total = profile.total_duration_s
    instants = (
        plan_restarts(total, profile.restarts.count, profile.restarts.min_gap_s, profile.seed)
        if profile.ramp is None
        else []
    )
    try:
        await run.start_server()
        recorder.t0 = time.perf_counter()
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_monitor, run, total)
            async with anyio.create_task_group() as restarts:
                restarts.start_soon(_restarts, run, instants, done)
                stage_rows, capacity = await _drive(run)
                done.set()
            driving_s = time.perf_counter() - recorder.t0
            tg.cancel_scope.cancel()
        await run.stop_server(kill=False)
        if profile.compact_at_end:
            await run.compact_all()
    finally:
        if run.server is not None:
            with anyio.CancelScope(shield=True):
                await run.server.kill()
        await run.target.aclose()
        acks.close()
    retention = any(a.startswith("--trace-max") for a in profile.server.extra_args) or any(
        k.startswith("trace_max") for k in posture.serve
    )
    result = await anyio.to_thread.run_sync(
        lambda: verify_run(dirs.sessions, dirs.root / "acks.jsonl", check_trace_files=not retention)
    )
    for check, detail in run.harness_problems:
        result.fail(check, "", detail)
    return run, stage_rows, capacity, result, driving_s, started_ns


def run_soak(
    profile: WorkloadProfile,
    out_dir: Path,
    *,
    progress: IO[str] | None = sys.stderr,
    plot: bool = True,
) -> RunOutcome:
    """Run ``profile`` against a real supervisor and write the report (and plot) to ``out_dir``.

    Args:
        profile: the workload.
        out_dir: where everything goes (must not already hold a run).
        progress: where the live progress lines go (``None``: silent).
        plot: also write ``soak_plot.png``.

    Raises:
        UsageError: bad profile/out dir, or a ramp without a p99 budget.
        IOFailure: the supervisor could not be started.
    """
    if profile.ramp is not None and profile.budgets.get("p99_ms") is None:
        raise UsageError("a capacity ramp needs budgets.p99_ms", code="soak_profile_invalid")
    run, stage_rows, capacity, result, driving_s, started_ns = anyio.run(
        _run, profile, out_dir, progress, backend=profile.backend
    )
    report = build_report(
        profile=profile,
        samples=run.recorder.samples,
        stage_rows=stage_rows,
        capacity=capacity,
        verification=result,
        rss=run.rss,
        driving_s=driving_s,
        started_at=format_ns(started_ns),
        server={
            "command": serve_command(profile, run.posture, run.dirs)[3:],
            "posture": run.posture.name,
            "starts": run.starts,
            "graceful_restarts": run.graceful_restarts,
            "kills": run.kills,
            "exit_codes": run.exit_codes,
            "compactions": run.compactions,
        },
        host={
            "cpus": os.cpu_count() or 0,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "producer_version": __version__,
        },
        verdicts=dict(run.recorder.verdicts),
        error_examples=dict(run.recorder.examples),
    )
    report_path = run.dirs.root / "soak_report.json"
    write_report(report_path, report)
    plot_path: Path | None = None
    if plot:
        from .plot import write_plot

        plot_path = write_plot(report, run.dirs.root / "soak_plot.png")
    text = text_summary(report, report_path=report_path, plot_path=plot_path)
    return RunOutcome(report, report_path, plot_path, text, list(report["failed"]))
