"""``gait sidecar`` round-trips the gate vectors; ``gait plugins list`` shows the adapters."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .servers import GAIT, PRIVATE_KEY, VECTORS

GATE = VECTORS / "gate"
# (policy, intent, Go ``gate eval --json`` output) of the gate vector README, without
# the --simulate and approval-token runs, and without ``intent_example_equivalent.json``
# (it has no ``schema_id``, which the sidecar requires; see the bad-lines test).
CASES = [
    ("policy_example.yaml", "intent_example.json", "eval_example_require_approval.json"),
    ("policy_example.yaml", "intent_write_etc.json", "eval_example_endpoint_denied.json"),
    ("policy_example.yaml", "intent_no_targets.json", "eval_example_fail_closed.json"),
    ("policy_priority.yaml", "intent_read_config.json", "eval_priority_allow.json"),
    ("policy_priority.yaml", "intent_read_env.json", "eval_priority_block.json"),
    ("policy_dry_run.yaml", "intent_search.json", "eval_dry_run.json"),
    ("policy_destructive.yaml", "intent_delete.json", "eval_destructive_apply.json"),
    ("policy_destructive.yaml", "intent_delete_plan.json", "eval_destructive_plan.json"),
]
_EXIT = {"allow": 0, "dry_run": 0, "block": 3, "require_approval": 4}
_RUN_SPECIFIC = ("correlation_id", "trace_path", "approval_audit_path", "warnings")


def sidecar(lines: list[bytes], policy: Path, tmp: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [
            str(GAIT),
            "sidecar",
            "--policy",
            str(policy),
            "--key-mode",
            "prod",
            "--private-key",
            str(PRIVATE_KEY),
            "--trace-dir",
            str(tmp / "traces"),
        ],
        input=b"".join(line + b"\n" for line in lines),
        capture_output=True,
        timeout=120,
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


@pytest.mark.parametrize("policy", sorted({c[0] for c in CASES}))
def test_sidecar_round_trips_the_gate_vectors(policy: str, tmp_path: Path) -> None:
    """Each vector intent, one line each: the Go gate eval result, exit code and a trace."""
    cases = [c for c in CASES if c[0] == policy]
    lines = [json.dumps(json.loads((GATE / c[1]).read_text())).encode() for c in cases]
    replies = sidecar(lines, GATE / policy, tmp_path)
    assert len(replies) == len(cases)
    for (_, _, out), reply in zip(cases, replies, strict=True):
        expected = json.loads((GATE / "out" / out).read_text())
        got = reply["gate_result"]
        for key in _RUN_SPECIFIC:
            expected.pop(key, None)
            got.pop(key, None)
        assert got == expected, out
        assert reply["exit_code"] == _EXIT[expected["verdict"]] and reply["ok"] is True
        assert Path(reply["trace_path"]).is_file()


def test_sidecar_survives_bad_lines(tmp_path: Path) -> None:
    """Garbage, a non-object, wrong or missing schema, blank lines: answers, then the next."""
    good = json.dumps(json.loads((GATE / "intent_read_config.json").read_text())).encode()
    wrong_schema = json.dumps({"schema_id": "gait.gate.trace", "schema_version": "1.0.0"})
    no_schema = json.dumps(json.loads((GATE / "intent_example_equivalent.json").read_text()))
    replies = sidecar(
        [b"{not json", b"", b"[1, 2]", wrong_schema.encode(), no_schema.encode(), good],
        GATE / "policy_priority.yaml",
        tmp_path,
    )
    assert [r["ok"] for r in replies] == [False, False, False, False, True]
    assert all(r["error"].startswith("invalid intent request: ") for r in replies[:4])
    assert [r["exit_code"] for r in replies] == [2, 2, 2, 2, 0]
    assert replies[4]["gate_result"]["verdict"] == "allow"


def test_sidecar_reports_an_evaluation_error_and_goes_on(tmp_path: Path) -> None:
    """A policy that does not load: each request answers ok=false with its code, exit 0."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("default_verdict: maybe\n")
    line = json.dumps(json.loads((GATE / "intent_read_config.json").read_text())).encode()
    replies = sidecar([line, line], bad, tmp_path)
    assert [(r["ok"], r["exit_code"]) for r in replies] == [(False, 6), (False, 6)]
    assert replies[0]["error_code"]


def test_plugins_list_shows_the_five_adapters_and_where_they_come_from() -> None:
    """``gait plugins list --json``: openai, anthropic, langchain, mcp, claude_code."""
    proc = subprocess.run([str(GAIT), "plugins", "list", "--json"], capture_output=True, timeout=60)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0 and doc["group"] == "gait_runtime.plugins"
    adapters = {p["name"]: p for p in doc["plugins"] if p["kind"] == "adapter"}
    assert set(adapters) >= {"openai", "anthropic", "langchain", "mcp", "claude_code"}
    for info in adapters.values():
        assert info["ok"] is True and info["distribution"] == "gait-adapters"
        assert Path(info["location"]).is_file()
    text = subprocess.run(
        [str(GAIT), "plugins", "list"], capture_output=True, timeout=60, text=True
    ).stdout
    assert "claude_code" in text and "gait-adapters" in text
