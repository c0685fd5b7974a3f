"""The hook's hot path imports only what its answer needs (start-up is its budget).

Each test runs the real console script in a fresh interpreter under ``python -X
importtime`` with a payload on stdin and reads the list of modules it imported: a
heavy import added to the hook's path (the CLI frame, logging, the gate, YAML,
signing, ``http.client`` with ``email``, ``ssl`` for a plain ``http`` URL) fails here, whatever the
machine's speed. No timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .servers import GAIT, POLICY, GaitServe, closed_port, env_without_url

HOOK = GAIT.parent / "gait-hook"
READ = json.dumps(
    {
        "session_id": "s1",
        "hook_event_name": "PreToolUse",
        "tool_name": "Read",
        "tool_input": {"file_path": "/srv/notes.txt"},
    }
).encode()

# never on the --url path
URL_FORBIDDEN = {
    "rich",
    "structlog",
    "cryptography",
    "yaml",
    "jsonschema",
    "msgspec",
    "httpx",
    "http.client",
    "email",
    "ssl",
    "shutil",
    "dataclasses",
    "inspect",
    "importlib.metadata",
    "gait_runtime.errors",
    "gait_runtime.gate",
    "gait_runtime.plugin",
    "gait_runtime.cli._frame",
    "gait_runtime.cli.hook",
}
# never on the --policy path either: a decision without signing needs no logging,
# no terminal rendering and no HTTP (``email`` does come in here: the plugin lookup's
# ``importlib.metadata`` reads package metadata with it)
POLICY_FORBIDDEN = {"rich", "structlog", "httpx", "http.client", "gait_runtime.cli._frame"}


def imported(argv: list[str]) -> tuple[set[str], dict[str, object]]:
    """(every module the process imported, the hook answer) for one payload."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        input=READ,
        capture_output=True,
        timeout=60,
        env=env_without_url(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.decode().splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0][12:].strip().isdigit():
            modules.add(parts[2].strip())
    answer: dict[str, object] = json.loads(proc.stdout)["hookSpecificOutput"]
    return modules, answer


def _hits(modules: set[str], forbidden: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("script", ["gait", "gait-hook"])
def test_the_url_path_imports_no_heavy_module(gait_serve: GaitServe, script: str) -> None:
    """``--url`` to a running server (allow): the standard library's HTTP client only."""
    argv = [str(GAIT), "hook", "claude-code"] if script == "gait" else [str(HOOK)]
    modules, answer = imported([*argv, "--url", gait_serve.url])
    assert answer["permissionDecision"] == "allow"
    assert "httptools" in modules  # the measurement saw the reply being parsed
    assert _hits(modules, URL_FORBIDDEN) == []


def test_the_url_path_denies_without_heavy_imports_when_the_server_is_down() -> None:
    """The deny for a refused connection takes the same light path."""
    modules, answer = imported([str(HOOK), "--url", f"http://127.0.0.1:{closed_port()}"])
    assert answer["permissionDecision"] == "deny"
    assert _hits(modules, URL_FORBIDDEN) == []


def test_the_policy_path_imports_no_logging_rendering_or_http(tmp_path: Path) -> None:
    """``--policy``: the gate and the adapter lookup, but no logging, ``rich`` or HTTP."""
    modules, answer = imported([str(GAIT), "hook", "claude-code", "--policy", str(POLICY)])
    assert answer["permissionDecision"] == "allow"
    assert "gait_runtime.gate" in modules
    assert _hits(modules, POLICY_FORBIDDEN) == []
