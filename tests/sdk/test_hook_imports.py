"""The hook's hot path imports only what its answer needs (start-up is its budget).

Each test runs the real console script in a fresh interpreter under ``python -X
importtime`` with a payload on stdin and reads the list of modules it imported: a
heavy import added to the hook's path (the CLI frame, logging, the gate, YAML,
signing, ``http.client`` with ``email``, ``ssl`` for a plain ``http`` URL) fails here, whatever the
machine's speed. The ``--policy`` path is pinned as a hook runs it from the second call
on (its start-up caches warm): no YAML parser, no ``importlib.metadata`` scan, no
signing, no msgspec, and of the plugins only the one adapter it needs. No timing is asserted.
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
# never on the --policy path, first call included: a decision without signing needs no
# logging, no terminal rendering and no HTTP
POLICY_COLD_FORBIDDEN = {"rich", "structlog", "httpx", "http.client", "gait_runtime.cli._frame"}
# never on the --policy path once its caches are warm (every call after the first)
POLICY_FORBIDDEN = POLICY_COLD_FORBIDDEN | {
    "pathlib",
    "urllib.parse",
    "ipaddress",
    "cryptography",
    "yaml",
    "jsonschema",
    "msgspec",
    "importlib.metadata",
    "email",
    "zipfile",
    "ssl",
    "socket",
    "httptools",
    "gait_runtime.cli.hook",
    "gait_runtime.gate.approval",
    "gait_runtime.gate.pipeline",
    "gait_runtime.gate.trace",
    "gait_runtime.gate._yaml",
    "gait_runtime.gate._canon",
    "gait_runtime.artifacts.signing",
    "gait_runtime.artifacts.keys",
    "gait_runtime.artifacts.schemas",
    "gait_runtime.artifacts.fsutil",
    "gait_adapters.mcp",
    "gait_adapters.openai",
    "gait_adapters.anthropic",
    "gait_adapters.langchain",
    "gait_langchain",
    "gait_openai_agents",
}


# Runs a console script as its own ``__main__`` and, at exit, lists ``sys.modules``:
# ``-X importtime`` does not see modules loaded through ``importlib.import_module``
# (entry points, the packages' lazy names), the list does. The hook ends with
# ``os._exit`` (no atexit), so the list is printed from a wrapper of it too.
_RUN_SCRIPT = """
import atexit, os, sys
listed = []
def modules():
    if not listed:
        listed.append(1)
        print("MODULES", *sorted(sys.modules), file=sys.stderr, flush=True)
atexit.register(modules)
real_exit = os._exit
def exit_listing(code):
    modules()
    real_exit(code)
os._exit = exit_listing
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(script)
with open(script) as f:
    code = compile(f.read(), script, "exec")
exec(code, {"__name__": "__main__"})
"""


def imported(
    argv: list[str], env: dict[str, str] | None = None
) -> tuple[set[str], dict[str, object]]:
    """(every module the process imported, the hook answer) for one payload."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _RUN_SCRIPT, *argv],
        input=READ,
        capture_output=True,
        timeout=60,
        env=env if env is not None else env_without_url(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    listed = False
    for line in proc.stderr.decode().splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0][12:].strip().isdigit():
            modules.add(parts[2].strip())
        elif line.startswith("MODULES "):
            modules.update(line.split()[1:])
            listed = True
    assert listed, proc.stderr[-2000:]
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


@pytest.mark.parametrize("script", ["gait", "gait-hook"])
def test_the_policy_path_imports_only_the_decision(tmp_path: Path, script: str) -> None:
    """``--policy``: the first call parses the YAML and scans the plugins (no logging,
    ``rich`` or HTTP even then); every later call imports the evaluator, the intent
    normaliser and the one adapter, and nothing of YAML, plugin discovery, signing or msgspec."""
    argv = [str(GAIT), "hook", "claude-code"] if script == "gait" else [str(HOOK)]
    env = {**env_without_url(), "GAIT_CACHE_DIR": str(tmp_path / "cache")}
    cold, first = imported([*argv, "--policy", str(POLICY)], env)
    assert first["permissionDecision"] == "allow"
    assert {"yaml", "importlib.metadata"} <= cold  # the full work, once
    assert _hits(cold, POLICY_COLD_FORBIDDEN) == []
    warm, answer = imported([*argv, "--policy", str(POLICY)], env)
    assert answer == first
    assert {
        "gait_runtime.gate.evaluate",
        "gait_runtime.hookcache",
        "gait_adapters.claude_code",
    } <= warm
    assert _hits(warm, POLICY_FORBIDDEN) == []


def test_the_policy_path_without_caches_still_avoids_logging_and_http() -> None:
    """``GAIT_CACHE_DIR=off``: the full work on every call, the same light-weight bounds."""
    env = {**env_without_url(), "GAIT_CACHE_DIR": "off"}
    modules, answer = imported([str(HOOK), "--policy", str(POLICY)], env)
    assert answer["permissionDecision"] == "allow"
    assert "yaml" in modules
    assert _hits(modules, POLICY_COLD_FORBIDDEN) == []
