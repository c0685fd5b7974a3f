"""The docs stand alone and their commands still work as shown.

* No doc refers outside the repository; every relative link resolves inside it.
* Every ``gait …`` line in a ```sh block of README.md, docs/ and the skills names a
  real command and parses with that command's own argument parser.
* Every ```sh block preceded by ``<!-- doc-test -->`` (optionally ``exit=N``) runs, in
  order, in one fresh directory per file, with the installed ``gait``; its stdout must
  match the ```text block after it (``…`` matches any text in a line; a line holding
  only ``…`` matches any number of lines).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from gait_runtime.cli import COMMANDS
from gait_runtime.cli._frame import Parser

from .runner import BIN, REPO

DOCS = sorted(
    [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "skills").rglob("*.md"),
    ]
)
_SH = re.compile(r"```sh\n(.*?)```", re.S)
_MARKED = re.compile(
    r"<!-- doc-test(?P<attrs>[^>]*)-->\n```sh\n(?P<script>.*?)```\n\n```text\n(?P<expected>.*?)```",
    re.S,
)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_no_doc_refers_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for needle in ("../shared", "shared/spec", "spec/"):
        hits = [ln for ln in text.splitlines() if needle in ln]
        assert hits == [], f"{needle!r} in {_rel(doc)}: {hits}"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{_rel(doc)} links outside: {target}"
        assert resolved.exists(), f"{_rel(doc)} links to a missing file: {target}"


def _gait_lines(text: str) -> list[str]:
    lines = []
    for block in _SH.findall(text):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split(" #", 1)[0].strip()
            line = re.split(r"\s(?:\||&&|;|>|2>)\s", line, maxsplit=1)[0]
            if re.match(r"(\.venv/bin/)?gait\s", line):
                lines.append(line.removeprefix(".venv/bin/"))
    return lines


def test_the_docs_show_gait_commands() -> None:
    shown = [ln for doc in DOCS for ln in _gait_lines(doc.read_text(encoding="utf-8"))]
    assert len(shown) >= 20


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_gait_line_in_the_docs_parses(doc: Path) -> None:
    import importlib

    for line in _gait_lines(doc.read_text(encoding="utf-8")):
        words = shlex.split(line)[1:]
        command = next(
            (k for n in (3, 2, 1) if (k := tuple(words[:n])) in COMMANDS and len(k) == n), None
        )
        assert command is not None, f"{_rel(doc)}: not a gait command: {line}"
        module, func = COMMANDS[command][0].split(":")
        parser = Parser(prog="gait " + " ".join(command))
        getattr(importlib.import_module(module), func)(parser)
        parser.parse_intermixed_args(words[len(command) :])  # raises UsageError on drift


def _pattern(expected: str) -> re.Pattern[str]:
    parts = []
    for line in expected.splitlines():
        if line == "…":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.split("…")) + r"\n")
    return re.compile("".join(parts))


MARKED = [doc for doc in DOCS if _MARKED.search(doc.read_text(encoding="utf-8"))]


def test_the_ladder_is_marked_for_running() -> None:
    assert REPO / "docs" / "README.md" in MARKED
    assert len(_MARKED.findall((REPO / "docs" / "README.md").read_text())) >= 6


@pytest.mark.parametrize("doc", MARKED, ids=_rel)
def test_marked_doc_commands_print_what_the_doc_shows(doc: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    env.pop("GAIT_DEBUG", None)
    for m in _MARKED.finditer(doc.read_text(encoding="utf-8")):
        attrs = dict(re.findall(r"(\w+)=(\S+)", m.group("attrs")))
        script = m.group("script").replace(".venv/bin/gait ", "gait ")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        shown = f"{_rel(doc)} block:\n{script}\nprinted:\n{proc.stdout}{proc.stderr}"
        assert proc.returncode == int(attrs.get("exit", "0")), shown
        assert _pattern(m.group("expected")).fullmatch(proc.stdout), shown
