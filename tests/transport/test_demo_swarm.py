"""``gait demo swarm``: a real server, three agents, every artifact verified (issue: make demo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gait_runtime.cli import main
from gait_runtime.runpack.manifest import footer_is_valid


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_swarm_runs_and_verifies_everything(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    """Issue: allowed calls, one block, one approval granted with a token; all verified."""
    assert main(["demo", "swarm", "--backend", backend, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    assert doc["verdicts"]["block"] == 1
    assert doc["verdicts"]["require_approval"] == 1
    assert doc["approved_with_token"] == 1
    assert doc["verdicts"]["allow"] >= 30
    assert doc["calls"] == doc["journal_events"] == doc["traces_verified"]
    assert doc["checkpoints_verified"] == doc["chains_verified"] == 3
    assert footer_is_valid(doc["ticket_footer"])
    assert Path(doc["ticket_runpack"]).is_file()
    assert main(["verify", doc["ticket_runpack"], "--json"]) == 0
    run_id = doc["ticket_footer"].split()[1].removeprefix("run_id=")
    assert main(["verify", run_id, "--json"]) == 0  # the footer's own command works


def test_demo_swarm_text_summary_ends_with_the_footer(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: a short summary, then the ticket footer; a second run starts afresh."""
    assert main(["demo", "swarm"]) == 0
    capsys.readouterr()
    assert main(["demo", "swarm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("demo swarm: 3 agents made ")
    assert lines[1].startswith("verdicts: allow=")
    assert footer_is_valid(lines[-2])
    assert lines[-1].startswith("verify it again: gait verify gait-out/runpack_run_swarm-")
