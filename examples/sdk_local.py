"""Quickstart: the Python SDK with the policy in-process (no server, offline).

    .venv/bin/python examples/sdk_local.py

A read is allowed and runs; a delete is blocked and does not run; a deploy needs an
approver: the error carries the exact ``gait approve`` command, the approver runs it,
and the retried call with the token runs. The run is written as a run record and
turned into a signed-off runpack with ``gait run record``.
"""

from __future__ import annotations

import subprocess

from common import GAIT, POLICY, approve, approver_keys, scratch

from gait_runtime.sdk import ApprovalRequired, LocalGate, Recorder, ToolBlocked, gated

work = scratch()
private_key, public_key = approver_keys(work)
gate = LocalGate(POLICY, approval_public_key=str(public_key), trace_dir=work / "traces")
recorder = Recorder("quickstart_local")


@gated(gate, tool="tool.read", recorder=recorder)
def read(path: str) -> str:
    return f"contents of {path}"


@gated(gate, tool="tool.delete", recorder=recorder)
def delete(path: str) -> str:
    raise SystemExit("unreachable: a blocked tool never runs")


@gated(gate, tool="tool.deploy", recorder=recorder)
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
    print("  approver runs:", err.command)
    token = approve(err.command, private_key, work / "approval.json")
    print("approved then allow:", deploy("prod", gait_approval=token))

record = recorder.write(work / "run_record.json")
subprocess.run(
    [GAIT, "run", "record", "--input", str(record), "--out-dir", str(work)],
    check=True,
    capture_output=True,
)
print("runpack:", work / "runpack_run_quickstart_local.zip")
