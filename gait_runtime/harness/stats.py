"""Latency statistics of a soak run: percentiles, per-second series, drift over journal length.

Owns: the sample store the driver fills (:class:`Samples`, compact typed
arrays so hours of requests stay small), nearest-rank percentiles, the
per-second time series, the append-latency-vs-journal-length buckets and the
drift ratio (median latency of the last decile of journal length over the
first), and RSS growth. Pure computation, no I/O.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "OUTCOMES",
    "Samples",
    "drift",
    "length_buckets",
    "percentile",
    "rss_growth",
    "summary",
    "timeseries",
]

OUTCOMES: Final = ("ok", "contention", "http_error", "transport", "verdict_mismatch", "interrupted")
"""Outcome codes of a request, by index.

``ok``: a decision came back (acknowledged when it carried a journal sequence).
``contention``: 429/503 (mailbox full / busy). ``http_error``: any other non-decision
status. ``transport``: connection failure or timeout while the supervisor was up.
``verdict_mismatch``: a decision other than the one the call kind must produce.
``interrupted``: the supervisor was killed or restarted under the request (expected
in chaos runs; never acknowledged, not an error), including a 503 "server is
draining" answered during a restart the harness started."""

ERROR_OUTCOMES: Final = frozenset({1, 2, 3, 4})


@dataclass(slots=True)
class Samples:
    """Every request of a run, one index per request.

    Attributes:
        start: request start, seconds since the run began.
        latency: seconds from send to the complete response.
        outcome: index into :data:`OUTCOMES`.
        sequence: journal sequence acknowledged (-1 when none).
        stage: index of the stage the request belonged to.
        status: HTTP status (0 when there was none).
    """

    start: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    outcome: array[int] = field(default_factory=lambda: array("b"))
    sequence: array[int] = field(default_factory=lambda: array("q"))
    stage: array[int] = field(default_factory=lambda: array("h"))
    status: array[int] = field(default_factory=lambda: array("h"))

    def add(
        self, start: float, latency: float, outcome: int, sequence: int, stage: int, status: int
    ) -> None:
        """Record one request."""
        self.start.append(start)
        self.latency.append(latency)
        self.outcome.append(outcome)
        self.sequence.append(sequence)
        self.stage.append(stage)
        self.status.append(status)

    def __len__(self) -> int:
        return len(self.start)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def _ms(value: float) -> float:
    return round(value * 1000.0, 3)


def summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``mean_ms`` of latencies in seconds."""
    ordered = sorted(latencies_s)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return {
        "p50_ms": _ms(percentile(ordered, 0.50)),
        "p95_ms": _ms(percentile(ordered, 0.95)),
        "p99_ms": _ms(percentile(ordered, 0.99)),
        "max_ms": _ms(ordered[-1]) if ordered else 0.0,
        "mean_ms": _ms(mean),
    }


def timeseries(samples: Samples, rss: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
    """One entry per elapsed second: requests, errors and latency percentiles of decisions."""
    buckets: dict[int, list[float]] = {}
    errors: dict[int, int] = {}
    counts: dict[int, int] = {}
    for t, latency, out in zip(samples.start, samples.latency, samples.outcome, strict=True):
        sec = int(t)
        counts[sec] = counts.get(sec, 0) + 1
        if out == 0:
            buckets.setdefault(sec, []).append(latency)
        elif out in ERROR_OUTCOMES:
            errors[sec] = errors.get(sec, 0) + 1
    rss_by_sec: dict[int, float] = {}
    for t, mb in rss:
        rss_by_sec[int(t)] = mb
    out_rows: list[dict[str, Any]] = []
    last = max([*counts, *rss_by_sec], default=-1)
    rss_now = rss[0][1] if rss else 0.0
    for sec in range(last + 1):
        rss_now = rss_by_sec.get(sec, rss_now)
        lat = summary(buckets.get(sec, []))
        out_rows.append(
            {
                "t": sec,
                "requests": counts.get(sec, 0),
                "errors": errors.get(sec, 0),
                "p50_ms": lat["p50_ms"],
                "p95_ms": lat["p95_ms"],
                "p99_ms": lat["p99_ms"],
                "rss_mb": round(rss_now, 2),
            }
        )
    return out_rows


_MIN_PER_DECILE: Final = 10
"""A stage's drift is judged only when each of its deciles holds at least this many appends."""


def _acknowledged(samples: Samples, stage: int | None = None) -> list[tuple[int, float]]:
    return [
        (seq, lat)
        for seq, lat, out, st in zip(
            samples.sequence, samples.latency, samples.outcome, samples.stage, strict=True
        )
        if out == 0 and seq > 0 and (stage is None or st == stage)
    ]


def length_buckets(
    samples: Samples, count: int = 10, *, stage: int | None = None
) -> list[dict[str, Any]]:
    """Latency of acknowledged appends grouped into ``count`` equal ranges of journal length.

    Journal length at the time of a request is the sequence number it was given;
    the ranges split the lowest to the highest sequence seen. ``stage``
    restricts the samples to one stage.
    """
    pairs = _acknowledged(samples, stage)
    if not pairs:
        return []
    low = min(seq for seq, _ in pairs)
    span = max(seq for seq, _ in pairs) - low + 1
    groups: list[list[float]] = [[] for _ in range(count)]
    for seq, latency in pairs:
        groups[min(count - 1, (seq - low) * count // span)].append(latency)
    rows = []
    for i, group in enumerate(groups):
        lat = summary(group)
        rows.append(
            {
                "bucket": i,
                "sequence_from": low + i * span // count,
                "sequence_to": low + (i + 1) * span // count - 1,
                "count": len(group),
                "p50_ms": lat["p50_ms"],
                "p99_ms": lat["p99_ms"],
                "mean_ms": lat["mean_ms"],
            }
        )
    return rows


def _ratios(
    deciles: list[dict[str, Any]], minimum: int, pooled: tuple[list[float], list[float]]
) -> tuple[float, float] | None:
    if not deciles:
        return None
    first, last = deciles[0], deciles[-1]
    if first["count"] < minimum or last["count"] < minimum:
        return None
    head, tail = summary(pooled[0])["p50_ms"], summary(pooled[1])["p50_ms"]
    if head <= 0:
        return None
    mean = round(last["mean_ms"] / first["mean_ms"], 3) if first["mean_ms"] else 0.0
    return round(tail / head, 3), mean


def _end_latencies(samples: Samples, stage: int, deciles: int) -> tuple[list[float], list[float]]:
    """Latencies of the first and last ``deciles`` tenths of a stage's sequence range."""
    pairs = _acknowledged(samples, stage)
    if not pairs:
        return [], []
    low = min(seq for seq, _ in pairs)
    span = max(seq for seq, _ in pairs) - low + 1
    head = [lat for seq, lat in pairs if (seq - low) * 10 // span < deciles]
    tail = [lat for seq, lat in pairs if (seq - low) * 10 // span >= 10 - deciles]
    return head, tail


def drift(samples: Samples, *, end_deciles: int = 1) -> dict[str, Any]:
    """Append-latency drift: the end of each stage's journal length against its start.

    Judged per stage (a stage change also changes the load, which would
    otherwise pass for drift); the run's ``ratio`` is the worst stage's.
    ``ratio`` compares the median latency of the last ``end_deciles`` tenths of
    journal length with the first ``end_deciles`` tenths (1: last decile against
    the first; more pools more samples, so one busy stretch of a shared machine
    moves it less, while latency that grows with length still shows).
    ``mean_ratio`` compares the means of the last and first decile, the Go
    test's statistic. A stage whose first or last decile holds fewer than 10
    appends is not judged; with no judged stage both ratios are 0.0.
    ``deciles`` covers the whole run.
    """
    per_stage: list[dict[str, Any]] = []
    for stage in sorted(set(samples.stage)):
        judged = _ratios(
            length_buckets(samples, 10, stage=stage),
            _MIN_PER_DECILE,
            _end_latencies(samples, stage, end_deciles),
        )
        if judged is not None:
            per_stage.append({"stage": stage, "ratio": judged[0], "mean_ratio": judged[1]})
    ratio = max((s["ratio"] for s in per_stage), default=0.0)
    mean_ratio = max((s["mean_ratio"] for s in per_stage), default=0.0)
    return {
        "ratio": ratio,
        "mean_ratio": mean_ratio,
        "end_deciles": end_deciles,
        "per_stage": per_stage,
        "deciles": length_buckets(samples, 10),
    }


def rss_growth(series: Sequence[tuple[int, float, float]]) -> dict[str, Any]:
    """RSS growth per supervisor incarnation from ``(incarnation, t, rss_mb)`` samples.

    Growth of one incarnation is the mean of its last tenth of samples minus the
    mean of its first tenth; the run's growth is the largest of them.
    """
    by_inc: dict[int, list[float]] = {}
    for inc, _, mb in series:
        by_inc.setdefault(inc, []).append(mb)
    growth = 0.0
    for values in by_inc.values():
        tenth = max(1, len(values) // 10)
        head = sum(values[:tenth]) / tenth
        tail = sum(values[-tenth:]) / tenth
        growth = max(growth, tail - head)
    all_mb = [mb for _, _, mb in series]
    return {
        "samples": len(all_mb),
        "start_mb": round(all_mb[0], 2) if all_mb else 0.0,
        "end_mb": round(all_mb[-1], 2) if all_mb else 0.0,
        "max_mb": round(max(all_mb), 2) if all_mb else 0.0,
        "growth_mb": round(growth, 2),
    }
