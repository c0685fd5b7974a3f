"""docs/regress.md: every ``console`` block of the walkthrough prints exactly what it shows.

The blocks are run in order in one fresh directory, in-process; between blocks the test
makes the file edits the prose describes. ``$ echo $?`` lines check the previous exit code.
"""

from __future__ import annotations

import io
import json
import shlex
import shutil
from pathlib import Path

from gait_runtime.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs/regress.md"
CANDIDATE_INPUT = ROOT / "tests/vectors/regress/fail_trajectory/candidate_input.json"


def _blocks() -> list[list[tuple[str, list[str]]]]:
    """Each ``console`` block as (command, expected output lines) pairs."""
    blocks: list[list[tuple[str, list[str]]]] = []
    inside = False
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            inside = line == "```console"
            if inside:
                blocks.append([])
            continue
        if not inside:
            continue
        if line.startswith("$ "):
            blocks[-1].append((line[2:], []))
        elif line:
            blocks[-1][-1][1].append(line)
    return blocks


def _play(block: list[tuple[str, list[str]]]) -> None:
    last = 0
    for command, expected in block:
        argv = shlex.split(command)
        if argv == ["echo", "$?"]:
            assert expected == [str(last)], command
            continue
        if argv[0] == "cp":
            shutil.copy(argv[1], argv[2])
            continue
        assert argv[0] == "gait", command
        out = io.StringIO()
        last = main(argv[1:], out=out)
        assert out.getvalue().splitlines() == expected, command


def _fixture(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc, indent=2))


def test_walkthrough_prints_what_the_doc_shows(in_tmp: Path) -> None:
    """From ``gait demo`` to a failing and then a passing check, as documented."""
    blocks = _blocks()
    assert len(blocks) == 6
    fixture = in_tmp / "fixtures/run_demo/fixture.json"
    _play(blocks[0])
    shutil.copy(CANDIDATE_INPUT, in_tmp / "candidate.json")
    _play(blocks[1])
    candidate = "../../candidates/runpack_run_demo.zip"
    _fixture(fixture, candidate_runpack=candidate, diff_allow_changed_files=["refs.json"])
    _play(blocks[2])
    _fixture(fixture, candidate_runpack=None, diff_allow_changed_files=None)
    _fixture(fixture, expected_replay_exit_code=2)
    _play(blocks[3])
    _fixture(fixture, expected_replay_exit_code=0, candidate_runpack=candidate)
    _fixture(fixture, diff_allow_changed_files=["refs.json"])
    _play(blocks[4])
    _play(blocks[5])
