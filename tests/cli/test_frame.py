"""The CLI frame: correlation ids, the JSON error envelope, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gait_runtime.cli import main
from gait_runtime.errors import InvalidInputError, exit_code_for


def run_json(*argv: str) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, json.loads(out.getvalue())


def test_version_json_matches_go_correlation_id(vectors: Path) -> None:
    """exit-codes.md §2: correlation_id = sha256 of argv (as `gait ...`) joined by U+001F."""
    code, payload = run_json("version", "--json")
    golden = json.loads((vectors / "errors/out_version.json").read_text())
    assert code == 0
    assert payload["correlation_id"] == golden["correlation_id"]
    assert payload["ok"] is True


def test_unknown_command_envelope_matches_go(vectors: Path) -> None:
    """An unknown command exits 6 with the same envelope fields as Go."""
    code, payload = run_json("frobnicate", "--json")
    golden = json.loads((vectors / "errors/out_unknown_command.json").read_text())
    assert code == 6
    for key in (
        "correlation_id",
        "error",
        "error_category",
        "error_code",
        "hint",
        "ok",
        "retryable",
    ):
        assert payload[key] == golden[key], key


def test_timeout_substring_quirk_exits_1() -> None:
    """exit-codes.md §1.1: an invalid-input error mentioning 'timeout' exits 1 like Go."""
    assert exit_code_for(InvalidInputError("runpack not found: timeout/runpack.zip")) == 1
    assert exit_code_for(InvalidInputError("runpack not found: x.zip")) == 6


def test_text_mode_error_line() -> None:
    """Without --json an error prints `<command> error: <message>`, then its specific hint."""
    out = io.StringIO()
    assert main(["keys", "verify"], out=out) == 6
    assert out.getvalue() == (
        "keys verify error: prod mode requires a private key source\n"
        "hint: check the key file (base64 ed25519) or the --key-mode you chose\n"
    )


@pytest.mark.parametrize("argv", [["--help"], ["keys", "init", "--help"], []])
def test_help_and_bare_invocation_exit_0(argv: list[str]) -> None:
    """`gait`, `gait --help` and `--help` on a command exit 0."""
    assert main(argv, out=io.StringIO()) == 0


def test_installed_console_script_exit_codes() -> None:
    """The installed `gait` and `python -m gait_runtime` give the same exit codes."""
    bindir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bindir / "gait"), "frobnicate", "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 6
    assert json.loads(proc.stdout)["error"] == "unknown command: frobnicate"
    proc = subprocess.run(
        [sys.executable, "-m", "gait_runtime", "version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("gait ")
