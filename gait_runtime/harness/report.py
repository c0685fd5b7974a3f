"""The soak report: ``soak_report.json`` (schema ``soak/soak_report``) and its one-screen summary.

Owns: assembling the report document from a finished run (totals, stages,
latency, drift, RSS, errors, verification, capacity, the per-second series),
judging every set budget (:func:`judge_budgets`), the ``failed`` list (each
line names the broken budget or failed check), schema validation before
writing, reading a report back (for ``compare``), and the text summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..artifacts.fsutil import write_atomic
from ..artifacts.schemas import validate
from ..errors import ArtifactInputError, UsageError
from .profile import BUDGET_NAMES, Budgets, Stage, WorkloadProfile
from .stats import ERROR_OUTCOMES, OUTCOMES, Samples, drift, length_buckets, rss_growth, summary
from .stats import timeseries as per_second
from .verify import VerifyResult

__all__ = [
    "REPORT_SCHEMA",
    "build_report",
    "judge_budgets",
    "load_report",
    "text_summary",
    "write_report",
]

REPORT_SCHEMA: Final = "soak/soak_report"
_MINIMUM_BUDGETS: Final = frozenset({"min_throughput_rps"})


def _stage_row(samples: Samples, index: int, stage: Stage, elapsed_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    requests = errors = 0
    for st, out, lat in zip(samples.stage, samples.outcome, samples.latency, strict=True):
        if st != index:
            continue
        requests += 1
        if out == 0:
            latencies.append(lat)
        elif out in ERROR_OUTCOMES:
            errors += 1
    return {
        "name": stage.name,
        "agents": stage.agents,
        "sessions": stage.sessions,
        "rate": stage.rate,
        "duration_s": round(elapsed_s, 3),
        "requests": requests,
        "decisions": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "latency_ms": summary(latencies),
    }


def judge_budgets(budgets: Budgets, actual: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per set budget: ``name``, ``limit``, ``actual``, ``ok``."""
    rows = []
    for name in BUDGET_NAMES:
        limit = budgets.get(name)
        if limit is None:
            continue
        value = float(actual.get(name, 0.0))
        ok = value >= limit if name in _MINIMUM_BUDGETS else value <= limit
        rows.append({"name": name, "limit": limit, "actual": float(f"{value:.6g}"), "ok": ok})
    return rows


def _failed(budget_rows: Sequence[Mapping[str, Any]], verification: VerifyResult) -> list[str]:
    out = []
    for row in budget_rows:
        if not row["ok"]:
            relation = "<" if row["name"] in _MINIMUM_BUDGETS else ">"
            out.append(
                f"budget {row['name']} broken: actual {row['actual']:g} {relation} "
                f"limit {row['limit']:g}"
            )
    for check, count in sorted(verification.failures.items()):
        first = next((p.detail for p in verification.problems if p.check == check), "")
        out.append(f"check {check} failed {count} time(s): {first}")
    return out


def build_report(
    *,
    profile: WorkloadProfile,
    samples: Samples,
    stage_rows: Sequence[Mapping[str, Any]],
    capacity: Mapping[str, Any] | None,
    verification: VerifyResult,
    rss: Sequence[tuple[int, float, float]],
    driving_s: float,
    started_at: str,
    server: Mapping[str, Any],
    host: Mapping[str, Any],
    verdicts: Mapping[str, int],
    error_examples: Mapping[str, str],
) -> dict[str, Any]:
    """Assemble the report document of one run (not yet validated or written)."""
    decisions = [lat for lat, out in zip(samples.latency, samples.outcome, strict=True) if out == 0]
    counts = dict.fromkeys(OUTCOMES, 0)
    for out in samples.outcome:
        counts[OUTCOMES[out]] += 1
    errors = sum(counts[OUTCOMES[i]] for i in ERROR_OUTCOMES)
    judged = len(samples) - counts["interrupted"]
    error_rate = errors / judged if judged else 0.0
    latency = summary(decisions)
    throughput = len(decisions) / driving_s if driving_s > 0 else 0.0
    drift_doc = drift(samples, end_deciles=profile.drift_deciles)
    rss_doc = rss_growth(rss)
    stages = [
        _stage_row(samples, i, row["stage"], row["elapsed_s"]) for i, row in enumerate(stage_rows)
    ]
    judged_latency = latency
    judged_throughput = throughput
    if capacity is not None and stages:
        knee_agents = capacity["knee_agents"]
        pick = next((s for s in stages if s["agents"] == knee_agents), stages[0])
        judged_latency = pick["latency_ms"]
        judged_throughput = pick["throughput_rps"]
    actual = {
        "p50_ms": judged_latency["p50_ms"],
        "p95_ms": judged_latency["p95_ms"],
        "p99_ms": judged_latency["p99_ms"],
        "max_error_rate": error_rate,
        "max_contention_errors": counts["contention"],
        "max_drift_ratio": drift_doc["ratio"],
        "max_rss_growth_mb": rss_doc["growth_mb"],
        "max_malformed_lines": verification.malformed_lines,
        "min_throughput_rps": judged_throughput,
    }
    budget_rows = judge_budgets(profile.budgets, actual)
    failed = _failed(budget_rows, verification)
    return {
        "schema_id": "gait.soak.report",
        "schema_version": "1.0.0",
        "ok": not failed,
        "failed": failed,
        "profile": {
            "name": profile.name,
            "source": profile.source,
            "digest": profile.digest,
            "seed": profile.seed,
            "backend": profile.backend,
            "fsync": profile.server.fsync,
            "checkpoint_every": profile.server.checkpoint_every,
            "mix": dict(profile.mix),
            "restarts": {
                "count": profile.restarts.count,
                "signal": profile.restarts.signal,
            },
        },
        "host": dict(host),
        "started_at": started_at,
        "duration_s": round(driving_s, 3),
        "totals": {
            "requests": len(samples),
            "decisions": len(decisions),
            "acknowledged": verification.acknowledged,
            "throughput_rps": round(throughput, 1),
            "error_rate": round(error_rate, 6),
            "outcomes": counts,
            "verdicts": dict(sorted(verdicts.items())),
            "error_examples": dict(sorted(error_examples.items())),
        },
        "latency_ms": latency,
        "stages": stages,
        "drift": drift_doc,
        "journal_length": length_buckets(samples, 20),
        "rss": rss_doc,
        "server": dict(server),
        "verification": verification.to_json(),
        "budgets": budget_rows,
        "capacity": dict(capacity) if capacity is not None else None,
        "timeseries": per_second(samples, [(t, mb) for _, t, mb in rss]),
    }


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """Validate ``report`` against the schema and write it atomically (sorted keys, indented).

    Raises:
        ArtifactInputError: the document does not match the schema (a harness bug).
    """
    validate(REPORT_SCHEMA, report)
    write_atomic(path, (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())


def load_report(path: Path) -> dict[str, Any]:
    """Read and validate a ``soak_report.json``.

    Raises:
        UsageError: unreadable, not JSON, or not a soak report.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"read soak report {path}: {exc}", code="soak_report_invalid") from exc
    try:
        validate(REPORT_SCHEMA, doc)
    except ArtifactInputError as exc:
        raise UsageError(
            f"not a soak report: {path}: {exc.message}", code="soak_report_invalid"
        ) from exc
    assert isinstance(doc, dict)
    return doc


def text_summary(
    report: Mapping[str, Any], *, report_path: Path | None = None, plot_path: Path | None = None
) -> list[str]:
    """The one-screen summary printed at the end of ``gait soak run``."""
    prof, tot, lat = report["profile"], report["totals"], report["latency_ms"]
    ver, rss, drift_doc = report["verification"], report["rss"], report["drift"]
    out = tot["outcomes"]
    lines = [
        f"soak {prof['name']} on {prof['backend']} ({report['host']['cpus']} cpus): "
        f"{'PASS' if report['ok'] else 'FAIL'}",
        f"  duration {report['duration_s']:.1f}s  requests {tot['requests']}  "
        f"decisions {tot['decisions']}  throughput {tot['throughput_rps']:g}/s",
        f"  latency ms  p50 {lat['p50_ms']:g}  p95 {lat['p95_ms']:g}  p99 {lat['p99_ms']:g}  "
        f"max {lat['max_ms']:g}",
        f"  errors {tot['error_rate'] * 100:.3f}%  contention {out['contention']}  "
        f"http {out['http_error']}  transport {out['transport']}  "
        f"verdict {out['verdict_mismatch']}  interrupted {out['interrupted']} (not errors)",
        f"  drift (last/first decile of journal length) p50 x{drift_doc['ratio']:g}  "
        f"mean x{drift_doc['mean_ratio']:g}",
        f"  rss start {rss['start_mb']:g}MB  max {rss['max_mb']:g}MB  growth {rss['growth_mb']:g}MB",
        f"  server starts {report['server']['starts']}  kills {report['server']['kills']}  "
        f"compactions {report['server']['compactions']}",
        f"  verified {ver['journals']} journals, {ver['events']} events, "
        f"{ver['checkpoints']} checkpoints, {ver['chains_verified']} chains; "
        f"acknowledged {ver['acknowledged']} (in journal {ver['acknowledged_in_journal']}, "
        f"compacted into checkpoints {ver['acknowledged_in_checkpoints']}, "
        f"missing {ver['acknowledged_missing']}); malformed lines {ver['malformed_lines']}",
    ]
    for stage in report["stages"]:
        sl = stage["latency_ms"]
        lines.append(
            f"  stage {stage['name']}: {stage['agents']} agents / {stage['sessions']} sessions  "
            f"{stage['throughput_rps']:g}/s  p50 {sl['p50_ms']:g}  p99 {sl['p99_ms']:g} ms  "
            f"errors {stage['errors']}"
        )
    if report.get("capacity"):
        lines.append(f"  capacity: {report['capacity']['statement']}")
    for row in report["budgets"]:
        mark = "ok  " if row["ok"] else "FAIL"
        lines.append(
            f"  [{mark}] {row['name']:<22} actual {row['actual']:g}  limit {row['limit']:g}"
        )
    for name, message in tot.get("error_examples", {}).items():
        lines.append(f"  first {name}: {message}")
    for line in report["failed"]:
        lines.append(f"  FAILED: {line}")
    if report_path is not None:
        lines.append(f"  report: {report_path}")
    if plot_path is not None:
        lines.append(f"  plot:   {plot_path}")
    return lines
