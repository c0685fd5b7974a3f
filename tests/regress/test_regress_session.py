"""A fixture made from the checkpoint chain of a real ``gait serve`` session.

The decision server runs in-process on 127.0.0.1:0 (both anyio backends); four
calls with ``checkpoint_interval=2`` give a chain of two signed checkpoints.
``regress init --from <chain>`` pins the chosen checkpoint; a chain or
checkpoint that fails verification is refused with exit 6 and nothing written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ..transport.harness import running
from .test_regress_cli import run_json, snapshot

pytestmark = pytest.mark.anyio


def _call(session: str) -> dict[str, Any]:
    context = {
        "identity": "agent-1",
        "workspace": "/srv",
        "risk_class": "low",
        "session_id": session,
    }
    return {
        "run_id": "r1",
        "call": {"name": "tool.read", "args": {"path": "/srv/a"}, "context": context},
        "checkpoint_interval": 2,
    }


async def _served_chain(tmp_path: Path) -> Path:
    """Serve four calls of one session; return its chain file (two checkpoints)."""
    # journal_io="thread": the io_uring binding is not what this test is about
    async with running(tmp_path, runpack_dir=tmp_path / "runpacks", journal_io="thread") as run:
        for _ in range(4):
            response = await run.client.post("/v1/evaluate", json=_call("incident"))
            assert response.status_code == 200, response.text
    return tmp_path / "sessions" / "incident.journal_chain.json"


@contextmanager
def _cwd(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


async def test_fixture_from_served_session_chain_runs(tmp_path: Path) -> None:
    """Default checkpoint is the latest; ``--checkpoint 1`` pins the first; both pass."""
    _fixtures_from_chain(tmp_path, await _served_chain(tmp_path))


async def test_chain_failing_verification_is_refused(tmp_path: Path) -> None:
    """A chain whose checkpoint digest or checkpoint runpack was altered: exit 6, nothing written."""
    _forged_chains_refused(tmp_path, await _served_chain(tmp_path))


def _fixtures_from_chain(tmp_path: Path, chain: Path) -> None:
    checkpoints = json.loads(chain.read_text())["checkpoints"]
    assert len(checkpoints) == 2
    with _cwd(tmp_path / "ws") as ws:
        code, payload = run_json("regress", "init", "--from", str(chain), "--json")
        assert code == 0, payload
        name = payload["fixture_name"]
        fixture = json.loads((ws / "fixtures" / name / "fixture.json").read_text())
        assert (fixture["session_chain"], fixture["checkpoint_index"]) == (str(chain), 2)
        assert fixture["run_id"].endswith("_cp_0002")
        assert (ws / "fixtures" / name / "runpack.zip").read_bytes() == Path(
            checkpoints[1]["runpack_path"]
        ).read_bytes()
        code, payload = run_json(
            "regress",
            "init",
            "--from",
            str(chain),
            "--checkpoint",
            "1",
            "--name",
            "first",
            "--json",
        )
        assert code == 0, payload
        first = json.loads((ws / "fixtures/first/fixture.json").read_text())
        assert first["checkpoint_index"] == 1 and first["expected_tool_sequence"]
        code, payload = run_json("regress", "run", "--json")
        assert (code, payload["status"], payload["graders"]) == (0, "pass", 8)


def _forged_chains_refused(tmp_path: Path, chain: Path) -> None:
    doc = json.loads(chain.read_text())
    doc["checkpoints"][0]["checkpoint_digest"] = "0" * 64
    forged = tmp_path / "forged_chain.json"
    forged.write_text(json.dumps(doc))
    with _cwd(tmp_path / "ws") as ws:
        code, payload = run_json("regress", "init", "--from", str(forged), "--json")
        assert code == 6
        assert "failed verification: checkpoint_digest mismatch at checkpoint 1" in payload["error"]
        assert snapshot(ws) == {}
        runpack = Path(doc["checkpoints"][1]["runpack_path"])
        runpack.write_bytes(runpack.read_bytes()[:-10])
        code, payload = run_json("regress", "init", "--from", str(chain), "--json")
        assert code == 6 and "failed verification: checkpoint 2" in payload["error"]
        assert snapshot(ws) == {}
        code, payload = run_json(
            "regress", "init", "--from", str(chain), "--checkpoint", "9", "--json"
        )
        assert code == 6 and "has no checkpoint 9" in payload["error"]
