"""Quickstart: the Python SDK against a running ``gait serve`` (loopback, offline).

    .venv/bin/python examples/sdk_server.py

Starts ``gait serve`` on 127.0.0.1 (any free port), then the same three calls as the
in-process quickstart through ``GaitClient``: allow runs, block does not, approval
then allow. In your own code, point ``GaitClient`` at your server (or set GAIT_URL).
"""

from __future__ import annotations

import json
import signal
import subprocess

from common import GAIT, POLICY, approve, approver_keys, scratch

from gait_runtime.sdk import ApprovalRequired, GaitClient, ToolBlocked, gated

work = scratch()
private_key, public_key = approver_keys(work)
server = subprocess.Popen(
    [
        GAIT,
        "serve",
        "--policy",
        str(POLICY),
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--approval-public-key",
        str(public_key),
        "--journal-io",
        "thread",
        "--trace-dir",
        str(work / "traces"),
        "--session-dir",
        str(work / "sessions"),
    ],
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
    cwd=work,
)
try:
    assert server.stdout is not None
    url = "http://" + json.loads(server.stdout.readline())["listen"]
    print("gait serve listening on", url)
    with GaitClient(url) as client:

        @gated(client, tool="tool.read")
        def read(path: str) -> str:
            return f"contents of {path}"

        @gated(client, tool="tool.delete")
        def delete(path: str) -> str:
            raise SystemExit("unreachable: a blocked tool never runs")

        @gated(client, tool="tool.deploy")
        def deploy(env: str) -> str:
            return f"deployed to {env}"

        print("allow:", read("/srv/notes.txt"))
        try:
            delete("/srv/notes.txt")
        except ToolBlocked as err:
            print("block: not run:", ",".join(err.decision.reason_codes))
        try:
            deploy("prod")
        except ApprovalRequired as err:
            print("require_approval: not run; intent", err.intent_digest[:12])
            token = approve(err.command, private_key, work / "approval.json")
            print("approved then allow:", deploy("prod", gait_approval=token))
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
