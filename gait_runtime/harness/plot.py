"""``soak_plot.png``: latency percentiles over time, and append latency against journal length.

Owns: drawing the two panels from a report document (never from raw samples,
so any saved ``soak_report.json`` can be re-plotted). The plotting library is
imported here only, lazily, with its non-interactive ``Agg`` backend; nothing
else in gait-runtime pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DependencyMissingError

__all__ = ["write_plot"]


def write_plot(report: Mapping[str, Any], path: Path) -> Path:
    """Draw the report's series into a PNG at ``path`` and return ``path``.

    Raises:
        DependencyMissingError: the plotting library is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise DependencyMissingError(
            "plotting needs the plot extra (pip install 'gait-runtime[plot]'), or pass --no-plot",
            code="plot_dependency_missing",
        ) from exc
    series = report["timeseries"]
    buckets = report["journal_length"]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 10), constrained_layout=True)
    try:
        t = [row["t"] for row in series]
        busy = [row for row in series if row["requests"]]
        for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
            top.plot([r["t"] for r in busy], [r[key] for r in busy], label=label, linewidth=1)
        highest = max((r["p99_ms"] for r in busy), default=0.0)
        p99_budget = next((b["limit"] for b in report["budgets"] if b["name"] == "p99_ms"), None)
        if p99_budget is not None and p99_budget <= highest * 1.5:
            top.axhline(p99_budget, color="red", linestyle="--", linewidth=1, label="p99 budget")
        elif p99_budget is not None:
            top.text(
                0.99,
                0.95,
                f"p99 budget {p99_budget:g} ms (off scale)",
                transform=top.transAxes,
                ha="right",
                va="top",
            )
        top.set_title(
            f"soak {report['profile']['name']} ({report['profile']['backend']}): "
            "decision latency per second"
        )
        top.set_xlabel("elapsed s")
        top.set_ylabel("ms")
        top.legend(loc="upper left")
        middle.plot(t, [row["requests"] for row in series], label="requests/s", linewidth=1)
        middle.plot(t, [row["errors"] for row in series], label="errors/s", linewidth=1)
        rss_axis = middle.twinx()
        rss_axis.plot(t, [row["rss_mb"] for row in series], color="gray", linewidth=1)
        rss_axis.set_ylabel("supervisor RSS MB (gray)")
        middle.set_xlabel("elapsed s")
        middle.legend(loc="upper left")
        mids = [(b["sequence_from"] + b["sequence_to"]) / 2 for b in buckets]
        bottom.plot(mids, [b["p50_ms"] for b in buckets], marker="o", label="p50")
        bottom.plot(mids, [b["p99_ms"] for b in buckets], marker="o", label="p99")
        bottom.set_title(
            f"append latency vs journal length (drift p50 x{report['drift']['ratio']:g})"
        )
        bottom.set_xlabel("journal sequence at the time of the request")
        bottom.set_ylabel("ms")
        bottom.legend(loc="upper left")
        fig.savefig(path, dpi=90)
    finally:
        plt.close(fig)
    return path
