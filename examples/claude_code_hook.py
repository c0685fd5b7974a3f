"""Quickstart: the coding-agent PreToolUse hook, fed the payloads the agent would send.

    .venv/bin/python examples/claude_code_hook.py

``gait hook claude-code`` reads the payload on stdin and answers allow, deny or ask.
In-process (``--policy``) here; with a server use ``--url`` or GAIT_URL. "ask" hands
the call to the person at the agent: their confirmation is the approval, after which
the agent runs the tool. When no decision can be had, the answer is deny.
"""

from __future__ import annotations

import json
import subprocess

from common import GAIT, POLICY

PAYLOADS = {
    "allow": {"tool_name": "Read", "tool_input": {"file_path": "/srv/notes.txt"}},
    "ask": {"tool_name": "Bash", "tool_input": {"command": "kubectl rollout restart"}},
    "deny (bad payload)": {"tool_input": {"command": "no tool name"}},
}


def hook(payload: dict[str, object], *flags: str) -> dict[str, str]:
    event = {"session_id": "quickstart", "hook_event_name": "PreToolUse", **payload}
    proc = subprocess.run(
        [GAIT, "hook", "claude-code", *flags],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, str] = json.loads(proc.stdout)["hookSpecificOutput"]
    return answer


for label, payload in PAYLOADS.items():
    answer = hook(payload, "--policy", str(POLICY))
    print(f"{label}: {answer['permissionDecision']} ({answer['permissionDecisionReason']})")
down = hook(PAYLOADS["allow"], "--url", "http://127.0.0.1:9")
print(f"supervisor down: {down['permissionDecision']} ({down['permissionDecisionReason']})")
