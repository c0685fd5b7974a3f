"""Every quickstart in ``examples/`` runs offline and shows allow, block and approval."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
EXPECTED = {
    "sdk_local.py": [
        "allow: contents of",
        "block: not run: destructive_tool_blocked",
        "require_approval: not run",
        "approved then allow: deployed to prod",
        "runpack:",
    ],
    "sdk_server.py": [
        "allow: contents of",
        "block: not run: destructive_tool_blocked",
        "require_approval: not run",
        "approved then allow: deployed to prod",
    ],
    "claude_code_hook.py": [
        "allow: allow",
        "ask: ask",
        "deny (bad payload): deny",
        "supervisor down: deny",
    ],
    "sidecar.py": [
        "allow: exit_code 0",
        "block: exit_code 3",
        "error: invalid intent request",
        "require_approval: exit_code 4",
    ],
    "openai_agents_guardrail.py": [
        "allow: tool.read ran",
        "block: gait: tool.delete blocked",
        "require_approval: gait: tool.deploy requires approval",
        "approved then allow: tool.deploy ran on prod",
    ],
    "langchain_tool.py": [
        "allow: contents of",
        "block: not run: destructive_tool_blocked",
        "require_approval: not run",
        "approved then allow: deployed to prod",
    ],
}


def test_every_example_is_covered() -> None:
    """No quickstart is left out of the run below."""
    scripts = {p.name for p in EXAMPLES.glob("*.py") if p.name != "common.py"}
    assert scripts == set(EXPECTED)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_offline(name: str, tmp_path: Path) -> None:
    """The script exits 0 and prints each outcome, in order."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
        env={
            "PATH": str(Path(sys.executable).parent),
            "HOME": str(tmp_path),
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
            "TMPDIR": str(tmp_path),
        },
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at = 0
    for marker in EXPECTED[name]:
        found = [i for i, line in enumerate(lines) if marker in line and i >= at]
        assert found, f"{marker!r} missing after line {at}:\n{proc.stdout}"
        at = found[0] + 1
