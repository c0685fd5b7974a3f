"""CLI conventions an operator relies on (issue 20): one exit rule, specific hints,
group listings, read-only status, side-effect-free explanations, honest help."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.cli import COMMANDS, main
from gait_runtime.cli._hints import HINTS

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
TAMPERED = "tampered/run_json_edited.zip"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, text = run(*argv, "--json")
    assert text.count("\n") == 1, text
    payload: dict[str, Any] = json.loads(text)
    return code, payload


@pytest.fixture
def runpacks(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(VECTORS / "runpack", tmp_path / "runpack")
    old = Path.cwd()
    os.chdir(tmp_path / "runpack")
    try:
        yield tmp_path / "runpack"
    finally:
        os.chdir(old)


TAMPERED_COMMANDS = [
    ["verify", TAMPERED],
    ["run", "receipt", "--from", TAMPERED],
    ["run", "inspect", "--from", TAMPERED],
    ["run", "replay", TAMPERED],
    ["run", "diff", TAMPERED, "gait-out/runpack_run_demo.zip"],
    ["run", "diff", "gait-out/runpack_run_demo.zip", TAMPERED],
]


@pytest.mark.parametrize("argv", TAMPERED_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_the_same_tampered_runpack_exits_2_in_every_command(
    runpacks: Path, argv: list[str]
) -> None:
    """One rule: a runpack that fails integrity checks is a verification failure (exit 2),
    whichever command reads it; JSON carries error_code and names the file; the file is
    left unchanged."""
    before = (runpacks / TAMPERED).read_bytes()
    code, text = run(*argv)
    assert code == 2, text
    assert "run.json" in text.splitlines()[0] or "hash mismatches: 1 (run.json)" in text
    assert any(line.startswith("hint: ") for line in text.splitlines())
    code, payload = run_json(*argv)
    assert code == 2
    assert payload["ok"] is False
    assert payload["error_code"] == "verification_failed"
    assert payload["error_category"] == "verification_failed"
    assert payload["error_detail"] in ("runpack_hash_mismatch", "verification_failed")
    assert TAMPERED in payload["error"]
    assert (runpacks / TAMPERED).read_bytes() == before


def test_failed_verify_json_has_envelope_and_specific_hint(runpacks: Path) -> None:
    """A failed verify (exit 2) has error, error_code and the hint of its specific cause."""
    code, payload = run_json("verify", TAMPERED)
    assert code == 2
    assert payload["error_code"] == "verification_failed"
    assert payload["error_detail"] == "runpack_hash_mismatch"
    assert payload["hint"] == HINTS["runpack_hash_mismatch"]
    assert "run.json" in payload["error"]
    assert payload["retryable"] is False


def test_verify_text_names_the_failing_entry_and_hint(runpacks: Path) -> None:
    code, text = run("verify", TAMPERED)
    assert code == 2
    assert "hash mismatches: 1 (run.json)" in text.splitlines()
    assert f"hint: {HINTS['runpack_hash_mismatch']}" in text.splitlines()


@pytest.mark.parametrize(
    ("argv", "code", "detail"),
    [
        (["verify", "nowhere.zip"], 6, "runpack_not_found"),
        (["run", "inspect", "--from", "run_nothing"], 6, "runpack_not_found"),
        (["keys", "verify"], 6, "key_invalid"),
    ],
)
def test_each_error_code_gets_its_own_hint_in_text_and_json(
    runpacks: Path, argv: list[str], code: int, detail: str
) -> None:
    """The hint is the one of the specific error code, not the generic one of the exit code."""
    got, payload = run_json(*argv)
    assert (got, payload["error_detail"]) == (code, detail)
    assert payload["hint"] == HINTS[detail] != "check command usage and input schema"
    got, text = run(*argv)
    assert got == code
    assert text.splitlines()[1] == f"hint: {HINTS[detail]}"


def test_soak_run_with_an_unknown_budget_exits_6(tmp_path: Path) -> None:
    """An unknown budget name is bad input (exit 6), even though the message lists
    ``max_contention_errors`` (the Go substring quirk must not turn it into exit 1)."""
    code, payload = run_json(
        "soak", "run", "--profile", "smoke", "--budget", "bogus=1", "--out", str(tmp_path / "o")
    )
    assert code == 6
    assert payload["error_detail"] == "soak_budget_unknown"
    assert payload["error_code"] == "invalid_input"
    assert not (tmp_path / "o").exists()


def test_a_command_group_alone_lists_its_subcommands() -> None:
    """``gait run session`` names its subcommands instead of "unknown command"."""
    code, text = run("run", "session")
    assert code == 6
    first = text.splitlines()[0]
    assert "unknown command" not in first
    assert first == (
        "error: missing subcommand for run session "
        "(one of: append, checkpoint, compact, export, start, status)"
    )
    code, text = run("run", "session", "--help")
    assert code == 0
    for word in ("append", "checkpoint", "compact", "export", "start", "status"):
        assert f"gait run session {word}" in text
    code, text = run("run", "sesion")
    assert code == 6 and "one of: diff, inspect, receipt, record, replay, session" in text


def test_session_status_changes_no_file(tmp_path: Path) -> None:
    """``run session status`` on a journal with a torn tail and a stale state file reads
    it, reports the tail, and leaves every file (names and bytes) as it was."""
    journal = tmp_path / "j.jsonl"
    assert run("run", "session", "start", "--journal", str(journal), "--session-id", "s",
               "--run-id", "r")[0] == 0  # fmt: skip
    for tool in ("a", "b"):
        assert run("run", "session", "append", "--journal", str(journal), "--tool", tool,
                   "--verdict", "allow")[0] == 0  # fmt: skip
    with journal.open("ab") as f:
        f.write(b'{"record_type":"event","ev')  # a torn tail
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, payload = run_json("run", "session", "status", "--journal", str(journal))
    assert code == 0
    assert payload["status"]["event_count"] == 2
    assert payload["status"]["torn_tail_bytes"] == len(b'{"record_type":"event","ev')
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_gate_eval_explain_writes_no_trace(tmp_path: Path) -> None:
    """``gate eval --explain`` previews: the explanation, the verdict's exit code, no file."""
    shutil.copytree(VECTORS / "gate", tmp_path / "gate")
    old = Path.cwd()
    os.chdir(tmp_path / "gate")
    try:
        before = sorted(p.name for p in Path(".").rglob("*"))
        argv = ["gate", "eval", "--policy", "policy_example.yaml", "--intent",
                "intent_example.json", "--no-config", "--explain"]  # fmt: skip
        code, text = run(*argv)
        assert code in (0, 3, 4)
        assert "trace: not written" in text
        code_json, payload = run_json(*argv)
        assert code_json == code
        assert payload["trace_written"] is False and "trace_path" not in payload
        assert payload["explanation"]
        assert sorted(p.name for p in Path(".").rglob("*")) == before
        code_real, payload = run_json(*argv[:-1])
        assert code_real == code and Path(payload["trace_path"]).exists()
    finally:
        os.chdir(old)


def _help(words: tuple[str, ...]) -> str:
    code, text = run(*words, "--help")
    assert code == 0
    return text


def test_help_shows_defaults_and_leaks_no_internal_notes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every command's --help: no "(not built)" / "(our addition)", and flags with a
    non-empty default show it."""
    for words in COMMANDS:
        main([*words, "--help"])
        text = capsys.readouterr().out
        assert "(not built)" not in text and "(our addition)" not in text, words
    main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "(default: 127.0.0.1:8787)" in text
    assert "{off,token}" in text and "{compat,strict}" in text


def test_completion_scripts_cover_the_command_tree(capsys: pytest.CaptureFixture[str]) -> None:
    """``gait completion bash|zsh`` prints a script naming nested commands and flags."""
    for shell in ("bash", "zsh"):
        assert main(["completion", shell]) == 0
        script = capsys.readouterr().out
        assert "session" in script and "checkpoint" in script and "--listen" in script
    code, text = run("completion", "fish")
    assert code == 6 and "fish" in text
