"""The agent skills: thin (only gait commands with --json), real commands, idempotent install."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gait_runtime.adopt.skills import skill_names, skills_root
from gait_runtime.cli import COMMANDS

from .runner import gait, json_line

NAMES = ["gait-capture-runpack", "gait-incident-to-regression", "gait-policy-test-rollout"]


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_three_skills_each_with_frontmatter_naming_it() -> None:
    assert skill_names() == NAMES
    for name in NAMES:
        text = (skills_root() / name / "SKILL.md").read_text(encoding="utf-8")
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["name"] == name
        assert len(front["description"]) > 40


def test_skills_only_run_existing_gait_commands_with_json() -> None:
    for name in NAMES:
        text = (skills_root() / name / "SKILL.md").read_text(encoding="utf-8")
        lines = [ln.strip() for block in _blocks(text) for ln in block.splitlines() if ln.strip()]
        assert lines, name
        for line in lines:
            words = line.split()
            assert words[0] == "gait", line
            assert "--json" in words, line
            command = next(
                (k for n in (3, 2, 1) if (k := tuple(words[1 : 1 + n])) in COMMANDS), None
            )
            assert command is not None, f"{name}: not a gait command: {line}"
        # and it names the fields it reads
        assert re.search(r"Read `\w+`", text), name


def test_install_is_idempotent_and_check_detects_drift(tmp_path: Path) -> None:
    dest = "skills-dir"
    first = json_line(gait("skills", "install", "--dest", dest, "--json", cwd=tmp_path))
    assert [s["status"] for s in first["skills"]] == ["installed"] * 3
    assert first["changed"] == 3
    for name in NAMES:
        installed = tmp_path / dest / name / "SKILL.md"
        assert installed.read_bytes() == (skills_root() / name / "SKILL.md").read_bytes()
    again = json_line(gait("skills", "install", "--dest", dest, "--json", cwd=tmp_path))
    assert [s["status"] for s in again["skills"]] == ["unchanged"] * 3 and again["changed"] == 0
    assert json_line(gait("skills", "install", "--dest", dest, "--check", "--json", cwd=tmp_path))[
        "ok"
    ]

    stale = tmp_path / dest / NAMES[0] / "SKILL.md"
    stale.write_text("edited\n")
    mine = tmp_path / dest / NAMES[0] / "notes.md"
    mine.write_text("not ours\n")
    check = gait(
        "skills", "install", "--dest", dest, "--check", "--json", cwd=tmp_path, check=False
    )
    assert check.returncode == 2
    assert [s["status"] for s in json_line(check)["skills"]] == ["stale", "unchanged", "unchanged"]
    assert stale.read_text() == "edited\n"  # --check writes nothing
    fixed = json_line(gait("skills", "install", "--dest", dest, "--json", cwd=tmp_path))
    assert [s["status"] for s in fixed["skills"]] == ["updated", "unchanged", "unchanged"]
    assert mine.read_text() == "not ours\n"


def test_install_refuses_a_file_as_destination(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    proc = gait("skills", "install", "--dest", "f", "--json", cwd=tmp_path, check=False)
    assert proc.returncode == 6
    assert json_line(proc)["error_detail"] == "usage_error"
