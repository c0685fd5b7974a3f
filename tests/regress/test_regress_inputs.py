"""Bad regress input: exit 6 (never 5), one line, nothing written or damaged; and plugins.

Every case starts from a good workspace made by ``regress init`` from Go's demo
runpack, with a sentinel ``regress_result.json`` that must survive the failure.
Third-party graders are registered the way an installed package registers them:
a ``*.dist-info`` with ``entry_points.txt`` on ``sys.path``.
"""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.cli import main
from gait_runtime.regress import graders as grader_module

from .test_regress_cli import REGRESS, run, run_json, snapshot

SENTINEL = b"previous result\n"


@pytest.fixture
def good(tmp_path: Path) -> Iterator[Path]:
    """A passing workspace (cwd) with a sentinel previous result file."""
    (tmp_path / "gait-out").mkdir()
    shutil.copy(REGRESS / "pass/gait-out/runpack_run_demo.zip", tmp_path / "gait-out")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert run_json("regress", "init", "--from", "run_demo", "--json")[0] == 0
        (tmp_path / "regress_result.json").write_bytes(SENTINEL)
        yield tmp_path
    finally:
        os.chdir(old)


def _tamper_runpack(root: Path) -> None:
    path = root / "fixtures/run_demo/runpack.zip"
    with zipfile.ZipFile(path) as src:
        entries = {i.filename: src.read(i) for i in src.infolist()}
    entries["run.json"] = entries["run.json"].replace(b"run_demo", b"run_evil")
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in entries.items():
            dst.writestr(name, data)


def _config(text: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / "gait.yaml").write_text(text)

    return apply


def _config_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        doc = json.loads((root / "gait.yaml").read_text())
        edit(doc)
        (root / "gait.yaml").write_text(json.dumps(doc))

    return apply


def _fixture_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / "fixtures/run_demo/fixture.json"
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))

    return apply


BAD_RUN_INPUTS: list[tuple[str, Callable[[Path], None], list[str], str]] = [
    ("tampered runpack", _tamper_runpack, [], "fixture run_demo: runpack hash mismatch"),
    (
        "unknown config key",
        _config_edit(lambda d: d.update(fixturez=[])),
        [],
        "unknown field `fixturez`",
    ),
    (
        "unknown fixture key",
        _fixture_edit(lambda d: d.update(expected_exit=1)),
        [],
        "unknown field `expected_exit`",
    ),
    (
        "yaml-only syntax",
        _config("schema_id: gait.regress.config\nfixtures:\n  - name: run_demo\n"),
        [],
        "not JSON",
    ),
    ("broken json", _config('{"fixtures": [}'), [], "parse config gait.yaml"),
    ("no fixtures", _config('{"fixtures": []}'), [], "no fixtures configured"),
    (
        "missing fixture directory",
        lambda root: shutil.rmtree(root / "fixtures/run_demo"),
        [],
        "fixture run_demo: runpack not found: fixtures/run_demo/runpack.zip",
    ),
    (
        "bad fixture name in config",
        _config_edit(lambda d: d["fixtures"][0].update(name="Run_Demo")),
        [],
        "invalid fixture name 'Run_Demo'",
    ),
    (
        "names disagree",
        _fixture_edit(lambda d: d.update(name="other")),
        [],
        "must equal the config name",
    ),
    (
        "invalid expected verdict",
        _fixture_edit(lambda d: d.update(expected_verdict_sequence=["maybe"])),
        [],
        "invalid verdict 'maybe'",
    ),
    ("unknown grader", lambda root: None, ["--grader", "nope"], "unknown grader 'nope'"),
    (
        "junit path under a file",
        lambda root: None,
        ["--junit", "gait.yaml/junit.xml"],
        "junit path gait.yaml/junit.xml: directory",
    ),
    (
        "output path is a directory",
        lambda root: (root / "out").mkdir(),
        ["--output", "out"],
        "output path out is a directory",
    ),
]


@pytest.mark.parametrize(
    ("case", "damage", "flags", "message"), BAD_RUN_INPUTS, ids=[c[0] for c in BAD_RUN_INPUTS]
)
def test_bad_run_input_exits_6_and_writes_nothing(
    good: Path, case: str, damage: Callable[[Path], None], flags: list[str], message: str
) -> None:
    """Each load error: exit 6, one-line error naming the problem, no result or JUnit written."""
    damage(good)
    before = snapshot(good)
    code, payload = run_json("regress", "run", "--junit", "junit.xml", *flags, "--json")
    assert code == 6, payload
    assert message in payload["error"]
    assert payload["error_code"] == "invalid_input" and payload["ok"] is False
    assert snapshot(good) == before
    code, text = run("regress", "run", *flags)
    assert code == 6
    # one line of error, then the error code's one-line hint
    lines = text.splitlines()
    assert len(lines) == 2 and lines[0].startswith("regress run error: ")
    assert lines[1].startswith("hint: ")


def test_lock_word_in_a_fixture_name_stays_exit_6(good: Path) -> None:
    """Our decision: a fixture called lock-check is still input error 6, not the quirk's 1."""
    assert (
        run_json("regress", "init", "--from", "run_demo", "--name", "lock-check", "--json")[0] == 0
    )
    shutil.rmtree(good / "fixtures/lock-check")
    code, payload = run_json("regress", "run", "--json")
    assert code == 6 and "lock-check" in payload["error"]


def test_init_from_tampered_runpack_exits_6_and_writes_nothing(good: Path) -> None:
    """regress.md §2 step 2: a source failing integrity is refused; existing fixtures kept."""
    shutil.copy(good / "fixtures/run_demo/runpack.zip", good / "bad.zip")
    _tamper_runpack(good)
    shutil.copy(good / "fixtures/run_demo/runpack.zip", good / "tampered.zip")
    shutil.copy(good / "bad.zip", good / "fixtures/run_demo/runpack.zip")
    before = snapshot(good)
    code, payload = run_json("regress", "init", "--from", "tampered.zip", "--name", "x", "--json")
    assert code == 6
    assert payload["error"].startswith("source runpack failed integrity checks")
    assert snapshot(good) == before


def test_init_refuses_orphan_runpack_directory(good: Path) -> None:
    """regress.md §1.1: a fixture dir with runpack.zip but no fixture.json aborts the scan."""
    (good / "fixtures/orphan").mkdir()
    shutil.copy(good / "gait-out/runpack_run_demo.zip", good / "fixtures/orphan/runpack.zip")
    before = snapshot(good)
    code, payload = run_json("regress", "init", "--from", "run_demo", "--name", "new", "--json")
    assert code == 6 and "fixtures/orphan has runpack.zip but no fixture.json" in payload["error"]
    assert snapshot(good) == before


# --- graders from other packages -------------------------------------------------------

PLUGIN = """
from gait_runtime.regress import GraderResult


class AlwaysFail:
    name = "always_fail"
    deterministic = True

    def grade(self, context):
        return GraderResult(self.name, "fail", ["policy_drift"], {"summary": "saw " + context.fixture.name})


class Coin:
    name = "coin"
    deterministic = False

    def grade(self, context):
        return GraderResult(self.name, "pass")


class Broken:
    name = "broken"
    deterministic = True

    def grade(self, context):
        raise RuntimeError("bug in grader")
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed third-party grader package (module + dist-info with entry points)."""
    site = tmp_path / "site"
    info = site / "acme_graders-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "acme_graders.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-graders\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[gait_runtime.graders]\nalways_fail = acme_graders:AlwaysFail\n"
        "coin = acme_graders:Coin\nbroken = acme_graders:Broken\n"
    )
    monkeypatch.syspath_prepend(str(site))
    grader_module._registry.cache_clear()
    yield
    grader_module._registry.cache_clear()
    sys.modules.pop("acme_graders", None)


def test_first_party_graders_come_from_the_entry_point_group() -> None:
    """The built-ins are found through ``gait_runtime.graders``, like any plugin."""
    grader_module._registry.cache_clear()
    names = grader_module.installed_graders()
    assert {"schema_validation", "expected_exit_code", "trajectory", "diff"} <= set(names)
    assert grader_module._registry()["diff"].value == "gait_runtime.regress.graders:DiffGrader"


def test_third_party_grader_runs_and_fails_the_run(good: Path, plugin: None) -> None:
    """An installed grader runs after the built-ins; its failure exits 5 and is summarised."""
    code, payload = run_json(
        "regress", "run", "--grader", "always_fail", "--junit", "j.xml", "--json"
    )
    assert code == 5
    assert (payload["graders"], payload["failed"], payload["top_failure_reason"]) == (
        5,
        1,
        "policy_drift",
    )
    result = json.loads((good / "regress_result.json").read_text())
    assert result["graders"][0]["name"] == "run_demo/always_fail"
    code, text = run("regress", "run", "--grader", "always_fail")
    assert "FAIL run_demo/always_fail: policy_drift: saw run_demo" in text


def test_nondeterministic_grader_needs_the_flag(good: Path, plugin: None) -> None:
    """regress.md §3.1: a non-deterministic grader is refused (exit 6) unless allowed."""
    code, payload = run_json("regress", "run", "--grader", "coin", "--json")
    assert code == 6 and "not deterministic" in payload["error"]
    code, payload = run_json(
        "regress", "run", "--grader", "coin", "--allow-nondeterministic", "--json"
    )
    assert (code, payload["graders"]) == (0, 5)


def test_grader_exception_is_that_graders_failure(good: Path, plugin: None) -> None:
    """regress.md §3.2: a grader that raises fails with grader_error and details.error."""
    code, payload = run_json("regress", "run", "--grader", "broken", "--json")
    assert (code, payload["top_failure_reason"]) == (5, "grader_error")
    result = json.loads((good / "regress_result.json").read_text())
    broken = next(g for g in result["graders"] if g["name"] == "run_demo/broken")
    assert broken["details"]["error"] == "RuntimeError: bug in grader"


def test_unknown_grader_lists_the_installed_ones(good: Path, plugin: None) -> None:
    """A grader name that is not installed: exit 6 naming every installed grader."""
    code, payload = run_json("regress", "run", "--grader", "always_pass", "--json")
    assert code == 6
    assert payload["error"] == (
        "unknown grader 'always_pass' (installed: always_fail, broken, coin, "
        "context_conformance, diff, expected_exit_code, schema_validation, trajectory)"
    )


# --- progress ---------------------------------------------------------------------------


def _many(root: Path, count: int) -> None:
    for i in range(count):
        assert (
            run_json("regress", "init", "--from", "run_demo", "--name", f"f{i:02d}", "--json")[0]
            == 0
        )


def test_progress_is_silent_without_a_terminal(
    good: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Many fixtures, stderr not a tty (or --json): nothing on stderr."""
    _many(good, 7)
    capfd.readouterr()
    assert run("regress", "run")[0] == 0
    assert run("regress", "run", "--json")[0] == 0
    assert capfd.readouterr().err == ""


def test_progress_bar_on_a_terminal(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many fixtures and stderr a real pty: a rich bar counts fixtures on stderr only."""
    _many(good, 7)
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    drawn = b""
    with os.fdopen(slave, "w", closefd=True) as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        monkeypatch.setenv("TERM", "xterm")
        monkeypatch.delenv("NO_COLOR", raising=False)
        out = io.StringIO()
        assert main(["regress", "run"], out=out) == 0
        terminal.flush()
        for _ in range(100):  # bounded drain of what the bar wrote (a few hundred bytes)
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                break
            drawn += chunk
    os.close(master)
    assert b"8/8" in drawn and b"regress" in drawn
    assert out.getvalue().startswith("regress run ok: fixture_set=default graders=32")
    assert b"8/8" not in out.getvalue().encode()
