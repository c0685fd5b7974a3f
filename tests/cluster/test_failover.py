"""A supervisor SIGKILLed under load: its sessions continue on another, nothing acked is lost."""

from __future__ import annotations

from pathlib import Path

from gait_runtime.cluster.demo import run_failover


def test_sigkilled_supervisor_sessions_continue_elsewhere_gap_free(tmp_path: Path) -> None:
    """Two `gait serve` processes; A is SIGKILLed mid-run; B takes over after the lease.

    Checked from the stream: every sequence an agent saw acknowledged is stored,
    sequences are 1..N without gap or duplicate, every exported chain verifies,
    and every session was answered by B after A died.
    """
    report = run_failover(tmp_path, nodes=1, sessions=2, rounds=1, lease=1.0, kill_fraction=0.5)
    assert report.failures == []
    assert report.killed_after > 0 and report.calls > report.killed_after
    assert sorted(report.takeover_s) == sorted(report.stored)
    for sid, stored in report.stored.items():
        assert stored == list(range(1, len(stored) + 1))
        assert set(report.acked[sid]) <= set(stored)
        assert len(report.acked[sid]) == len(set(report.acked[sid]))
    assert report.chains_verified == len(report.stored) == 2
