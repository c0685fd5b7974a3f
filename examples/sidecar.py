"""Quickstart: ``gait sidecar`` for agents not written in Python (JSON lines in and out).

    .venv/bin/python examples/sidecar.py

Writes three IntentRequests (and one broken line) to the sidecar's stdin and reads one
result line per request: allow (exit_code 0), block (3), require_approval (4); the
broken line gets an error answer and the sidecar carries on.
"""

from __future__ import annotations

import json
import subprocess

from common import GAIT, POLICY, scratch


def intent(tool: str, **args: str) -> str:
    return json.dumps(
        {
            "schema_id": "gait.gate.intent_request",
            "schema_version": "1.0.0",
            "created_at": "2026-01-01T00:00:00Z",
            "producer_version": "quickstart",
            "tool_name": tool,
            "args": args,
            "targets": [],
            "context": {"identity": "agent", "workspace": "/srv", "risk_class": "low"},
        }
    )


work = scratch()
lines = [
    intent("tool.read", path="/srv/a"),
    intent("tool.delete", path="/srv/a"),
    "this is not json",
    intent("tool.deploy", env="prod"),
]
proc = subprocess.run(
    [GAIT, "sidecar", "--policy", str(POLICY), "--trace-dir", str(work / "traces")],
    input="\n".join(lines) + "\n",
    capture_output=True,
    text=True,
    check=True,
    cwd=work,
)
for line in proc.stdout.splitlines():
    reply = json.loads(line)
    if reply["ok"]:
        result = reply["gate_result"]
        print(f"{result['verdict']}: exit_code {reply['exit_code']}", result.get("reason_codes"))
    else:
        print("error:", reply["error"])
