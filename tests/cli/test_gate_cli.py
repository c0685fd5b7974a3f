"""The gate commands against the Go implementation's recorded outputs (spec/gate.md, exit-codes.md).

Each vector test copies ``tests/vectors/{gate,keys,errors}`` into a temp dir, runs
the exact argv of ``tests/vectors/gate/README.md`` from ``<tmp>/gate`` (so the
correlation ids and reported paths are Go's), and compares the whole ``--json``
output, the written trace, audit record and token with Go's files.

The wall clock is injected (``cli.gate.CLOCK``): each run is pinned to the
``observed_at`` of Go's trace (or the ``created_at`` of Go's token), so
``observed_at``, ``event_id``, token ids, expiry times and token signatures
reproduce byte for byte. Only two trace fields still differ, and the tests say
why where they skip them: ``latency_ms`` (measured time of our evaluation) and
hence the trace ``signature`` (which is checked by verifying it instead).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.artifacts.keys import KeySource, load_public
from gait_runtime.artifacts.timefmt import parse_rfc3339
from gait_runtime.cli import gate as cli_gate
from gait_runtime.cli import main
from gait_runtime.clock import FakeClock
from gait_runtime.gate import verify_trace

from .go_envelope import split_our_hint

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
GATE = VECTORS / "gate"
README_ROW = re.compile(r"^\| (\d+) \| `gait (.*?)` \| (\d) \| `(out/[^`]+)` \|$")
NOW_2026 = parse_rfc3339("2026-11-21T12:00:00Z").unix_ns


def readme_commands() -> list[tuple[str, list[str], int, str]]:
    """(id, argv, exit, out file) for every row of the gate README command table."""
    rows = []
    for line in (GATE / "README.md").read_text(encoding="utf-8").splitlines():
        m = README_ROW.match(line)
        if m:
            rows.append((m.group(1), shlex.split(m.group(2)), int(m.group(3)), m.group(4)))
    return rows


COMMANDS = readme_commands()


def _by_kind(kind: str) -> list[Any]:
    return [
        pytest.param(argv, code, out, id=f"{num}-{out[4:-5]}")
        for num, argv, code, out in COMMANDS
        if argv[0] == kind or " ".join(argv[:2]) == kind
    ]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the vector folders; the cwd is ``<tmp>/gate`` like the Go runs."""
    for name in ("gate", "keys", "errors"):
        shutil.copytree(VECTORS / name, tmp_path / name)
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(NOW_2026))
    old = Path.cwd()
    os.chdir(tmp_path / "gate")
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def run(*argv: str) -> tuple[int, str]:
    """Run ``gait argv...`` in-process; return the exit code and stdout."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    """Run with ``--json``; stdout must be exactly one line of JSON."""
    code, text = run(*argv)
    assert text.endswith("\n") and text.count("\n") == 1, text
    return code, json.loads(text)


def go_json(path: str | Path) -> Any:
    return json.loads((GATE / path).read_text(encoding="utf-8"))


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else ""


def test_readme_lists_all_forty_gate_commands() -> None:
    """The vector README table parses into 40 commands, so no vector is silently skipped."""
    assert [c[0] for c in COMMANDS] == [str(i) for i in range(1, 41)]


@pytest.mark.parametrize(("argv", "code", "out"), _by_kind("gate eval"))
def test_gate_eval_reproduces_go_output_trace_and_audit(
    tree: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int, out: str
) -> None:
    """Same verdict, reasons, violations, digests, exit code and files as the Go run."""
    trace_out = _flag(argv, "--trace-out")
    go_trace = go_json(trace_out) if trace_out else go_json("trace_6b7a2e83f32709c1431377e3.json")
    observed = parse_rfc3339(go_trace["observed_at"]).unix_ns
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(observed))
    got_code, got = run_json(*argv)
    expected = go_json(out)
    assert got_code == code
    if not trace_out:
        # Divergence (docs/policy.md): default names embed event_id, never overwrite.
        assert got.pop("trace_path") == f"trace_{got['trace_id']}_{go_trace['event_id']}.json"
        expected.pop("trace_path")
    assert got == expected
    ours = json.loads(
        Path(
            got.get("trace_path") or f"trace_{got['trace_id']}_{go_trace['event_id']}.json"
        ).read_text()
    )
    assert list(ours) == list(go_trace), "same fields in Go struct order"
    for key in ("latency_ms", "signature"):  # measured latency, and the signature over it
        ours.pop(key)
        go_trace.pop(key)
    assert ours == go_trace
    audit_out = _flag(argv, "--approval-audit-out")
    if "approval_audit_path" in expected:
        ours_audit = json.loads(Path(audit_out).read_text())
        go_audit = go_json(audit_out)
        assert ours_audit == go_audit and list(ours_audit) == list(go_audit)
    elif audit_out:
        assert not Path(audit_out).exists() or (GATE / audit_out).exists()


@pytest.mark.parametrize(("argv", "code", "out"), _by_kind("gate eval"))
def test_traces_we_write_verify_with_the_vector_public_key(
    tree: Path, argv: list[str], code: int, out: str
) -> None:
    """A prod-key trace of ours verifies with Go's public key file (signing.md §5)."""
    got_code, got = run_json(*argv)
    assert got_code == code
    trace = json.loads(Path(got["trace_path"]).read_text())
    if "--key-mode" in argv:
        key = load_public(KeySource(path="../keys/gait_public.key"))
        assert verify_trace(trace, key).ok
    else:
        assert got["warnings"] == [
            "dev mode: ephemeral keypair generated; signatures will not verify across machines"
        ]
        assert not verify_trace(trace, load_public(KeySource(path="../keys/gait_public.key"))).ok


@pytest.mark.parametrize(("argv", "code", "out"), _by_kind("policy"))
def test_policy_validate_and_test_match_go(
    tree: Path, argv: list[str], code: int, out: str
) -> None:
    """``policy validate`` / ``policy test`` outputs equal Go's whole JSON line."""
    got_code, got = run_json(*argv)
    assert (got_code, got) == (code, go_json(out))


@pytest.mark.parametrize(("argv", "code", "out"), _by_kind("approve"))
def test_approve_reproduces_go_token_byte_for_byte(
    tree: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int, out: str
) -> None:
    """With the clock at Go's mint time the token file and output are identical (ed25519 is deterministic)."""
    token_path = _flag(argv, "--out")
    go_token_text = (GATE / token_path).read_text()
    created = parse_rfc3339(json.loads(go_token_text)["created_at"]).unix_ns
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(created))
    got_code, got = run_json(*argv)
    assert (got_code, got) == (code, go_json(out))
    assert Path(token_path).read_text() == go_token_text


@pytest.mark.parametrize(("argv", "code", "out"), _by_kind("trace verify"))
def test_trace_verify_matches_go(tree: Path, argv: list[str], code: int, out: str) -> None:
    """Verified / wrong key / tampered / no key: same exit code and envelope as Go."""
    got_code, got = run_json(*argv)
    expected = go_json(out)
    assert got_code == code
    split_our_hint(got, expected)  # our specific code and its hint (issue 20)
    assert got == expected


ERROR_CASES = [
    ("out_gate_missing_intent.json", ["gate", "eval", "--policy", "../gate/policy_example.yaml", "--json"], 6),
    ("out_policy_legacy_fields.json", ["policy", "validate", "policy_legacy_fields.yaml", "--json"], 6),
    ("out_policy_bad_effect.json", ["policy", "validate", "policy_bad_effect.yaml", "--json"], 6),
    (
        "out_gate_raw_credential.json",
        ["gate", "eval", "--policy", "../gate/policy_example.yaml", "--intent", "intent_raw_credential.json", "--json"],
        6,
    ),
    (
        "out_approve_bad_ttl.json",
        [
            "approve", "--intent-digest", "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1",
            "--policy-digest", "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d",
            "--ttl", "0s", "--scope", "tool:x", "--approver", "a", "--reason-code", "r", "--json",
        ],
        6,
    ),
    (
        "out_gate_dev_with_key.json",
        [
            "gate", "eval", "--policy", "../gate/policy_example.yaml", "--intent", "../gate/intent_example.json",
            "--private-key", "../keys/gait_private.key", "--json",
        ],
        6,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("out", "argv", "code"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_envelopes_match_go(tree: Path, out: str, argv: list[str], code: int) -> None:
    """Bad input: same envelope (message, codes, hint, migration) and exit code as Go."""
    os.chdir(tree / "errors")
    got_code, got = run_json(*argv)
    assert got_code == code
    assert got.get("error_detail")  # our specific code, added by the frame
    expected = json.loads((tree / "errors" / out).read_text())
    split_our_hint(got, expected)
    for key in ("field", "line", "column"):  # our addition: where the bad key is
        got.pop(key, None)
    assert got == expected


def test_unknown_policy_field_names_key_path_and_position(tree: Path) -> None:
    """Go says ``[9:7] unknown field "tool_glob"``; we keep that prefix and add the path and file."""
    os.chdir(tree / "errors")
    code, got = run_json("policy", "validate", "policy_unknown_field.yaml", "--json")
    expected = json.loads((tree / "errors" / "out_policy_unknown_field.json").read_text())
    assert code == 6
    assert got["error"].startswith(expected["error"])
    assert (
        "rules[0].match.tool_glob" in got["error"] and "policy_unknown_field.yaml" in got["error"]
    )
    assert (got["field"], got["line"], got["column"]) == ("rules[0].match.tool_glob", 9, 7)
    for key in ("error_code", "error_category", "retryable", "ok", "correlation_id"):
        assert got[key] == expected[key]
    assert got["hint"] == "run gait policy validate on the file and fix the reported field"


def test_missing_intent_text_mode_matches_go(tree: Path) -> None:
    """Without --json: ``gate eval error: <message>`` as Go, then our ``hint:`` line, exit 6."""
    os.chdir(tree / "errors")
    code, text = run("gate", "eval", "--policy", "../gate/policy_example.yaml")
    first, hint = text.splitlines(keepends=True)
    assert (code, first) == (6, (tree / "errors" / "out_gate_missing_intent.txt").read_text())
    assert hint == "hint: check command usage and input schema\n"  # our second line


def test_default_trace_names_never_overwrite(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two identical dev-mode decisions in the same nanosecond still get two trace files."""
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(NOW_2026, step_ns=0))
    argv = [
        "gate",
        "eval",
        "--policy",
        "policy_priority.yaml",
        "--intent",
        "intent_read_config.json",
        "--json",
    ]
    _, first = run_json(*argv)
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(NOW_2026, step_ns=0))
    _, second = run_json(*argv)
    assert first["trace_id"] == second["trace_id"]
    assert first["trace_path"] != second["trace_path"]
    assert Path(first["trace_path"]).exists() and Path(second["trace_path"]).exists()


def test_go_tokens_expire_against_the_injected_clock(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After 2036-11-18 the Go token is rejected with approval_token_expired, exit 4."""
    monkeypatch.setattr(cli_gate, "CLOCK", FakeClock(parse_rfc3339("2036-11-19T00:00:00Z").unix_ns))
    code, got = run_json(
        "gate", "eval", "--policy", "policy_example.yaml", "--intent", "intent_example.json",
        "--key-mode", "prod", "--private-key", "../keys/gait_private.key",
        "--approval-token", "tokens/token_example.json", "--approval-public-key", "../keys/gait_public.key",
        "--trace-out", "t.json", "--approval-audit-out", "a.json", "--json",
    )  # fmt: skip
    assert code == 4
    assert got["verdict"] == "require_approval"
    assert "approval_token_expired" in got["reason_codes"]
    assert "approval_chain_insufficient" in got["reason_codes"]


@pytest.mark.parametrize(
    ("policy", "intent", "code", "needle"),
    [
        ("policy_example.yaml", "intent_example.json", 4, "rule writes-need-approval: effect require_approval -> require_approval (decides)"),
        ("policy_example.yaml", "intent_no_targets.json", 3, "path: fail-closed gate"),
        ("policy_priority.yaml", "intent_read_config.json", 0, "tier is priority 10"),
        ("policy_destructive.yaml", "intent_delete.json", 4, "destructive target in phase apply; effect allow -> require_approval"),
        ("policy_example.yaml", "intent_write_etc.json", 3, "endpoint: endpoint_path_denied; effect require_approval -> block"),
    ],
)  # fmt: skip
def test_explain_says_which_rule_decided_and_keeps_the_exit_code(
    tree: Path, policy: str, intent: str, code: int, needle: str
) -> None:
    """``--explain`` prints the tier, each rule's effect and escalations, in one screen."""
    for command in (
        ["gate", "eval", "--policy", policy, "--intent", intent],
        ["policy", "test", policy, intent],
    ):
        got_code, text = run(*command, "--explain")
        assert got_code == code
        assert needle in text
        assert len(text.splitlines()) <= 24
    got_code, got = run_json("policy", "test", policy, intent, "--explain", "--json")
    assert got_code == code and got["explanation"]["verdict"] == got["verdict"]


def test_explain_reports_the_default_path(tree: Path) -> None:
    """No rule matched: the screen names default_verdict."""
    Path("p.yaml").write_text(
        "default_verdict: dry_run\nrules:\n  - {name: x, effect: block, match: {tool_names: [nope]}}\n"
    )
    code, text = run("policy", "test", "p.yaml", "intent_example.json", "--explain")
    assert code == 0 and "no rule matched; default_verdict dry_run" in text


def test_policy_fmt_check_write_and_idempotence(tree: Path) -> None:
    """``--check`` fails (6) on a non-canonical file, ``--write`` fixes it, digest unchanged."""
    _, before = run_json("policy", "validate", "policy_priority.yaml", "--json")
    code, checked = run_json("policy", "fmt", "policy_priority.yaml", "--check", "--json")
    assert code == 6 and checked["error_detail"] == "policy_not_formatted"
    code, written = run_json("policy", "fmt", "policy_priority.yaml", "--write", "--json")
    assert code == 0 and written["changed"] is True
    code, again = run_json("policy", "fmt", "policy_priority.yaml", "--check", "--json")
    assert code == 0 and again["changed"] is False
    assert again["policy_digest"] == before["policy_digest"]
    code, text = run("policy", "fmt", "policy_priority.yaml")
    assert code == 0 and text == Path("policy_priority.yaml").read_text()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("rules:\n  - {name: a, effect: allow}\n  - {name: a, effect: block}\n", "duplicate rule name 'a'"),
        ("default_verdict: block\ndefault_verdict: allow\n", "duplicate key 'default_verdict'"),
        ("rules:\n  - {name: a, effect: allow, endpoint: {path_denylist: ['[a-']}}\n", "invalid endpoint pattern '[a-'"),
        ("rules: [{name: a, effect: allow, rate_limit: {requests: 1, window: week}}]\n", "expected minute or hour"),
        ("rules: [{name: a, effect: allow, freeze_window: {}}]\n", "out of scope"),
        ("schema_id: other\n", "unsupported policy schema_id"),
        ("rules: [{name: a, effect: allow, priority: '10'}]\n", "must be a integer"),
        ("rules: [\n", "parse policy yaml"),
    ],
)  # fmt: skip
def test_bad_policies_exit_6_with_a_located_one_line_error(
    tree: Path, content: str, needle: str
) -> None:
    """Each invalid policy is exit 6 with a one-line message naming the problem; never an allow."""
    Path("bad.yaml").write_text(content)
    code, got = run_json("policy", "validate", "bad.yaml", "--json")
    assert code == 6 and got["ok"] is False
    assert needle in got["error"] and "\n" not in got["error"]
    code, got = run_json(
        "gate", "eval", "--policy", "bad.yaml", "--intent", "intent_read_config.json", "--json"
    )
    assert code == 6 and "verdict" not in got


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(schema_id="gait.gate.other"), "schema_id must be"),
        (lambda d: d["context"].pop("risk_class"), "context.risk_class is required"),
        (lambda d: d["args"].update(n=1e400), "number out of range"),
        (lambda d: d.update(created_at="yesterday"), "created_at must be RFC 3339"),
        (lambda d: d["targets"][0].update(kind="disk"), "targets[0].kind 'disk' is not supported"),
    ],
)
def test_bad_intents_exit_6_and_leave_existing_artifacts(
    tree: Path, mutate: Any, needle: str
) -> None:
    """Invalid intents never produce a verdict; an existing trace file is left intact."""
    data = json.loads(Path("intent_read_config.json").read_text())
    mutate(data)
    text = json.dumps(data).replace("Infinity", "1e400")
    Path("bad.json").write_text(text)
    Path("keep.json").write_text("{}")
    code, got = run_json(
        "gate",
        "eval",
        "--policy",
        "policy_priority.yaml",
        "--intent",
        "bad.json",
        "--trace-out",
        "keep.json",
        "--json",
    )
    assert code == 6 and needle in got["error"] and "verdict" not in got
    assert Path("keep.json").read_text() == "{}"


def test_token_from_another_key_and_unreadable_token(tree: Path) -> None:
    """Signed by another key: approval_token_signature_invalid (exit 4); unreadable token file: exit 6."""
    base = [
        "gate", "eval", "--policy", "policy_example.yaml", "--intent", "intent_example.json",
        "--key-mode", "prod", "--private-key", "../keys/gait_private.key", "--trace-out", "t.json",
        "--approval-audit-out", "a.json", "--approval-public-key", "../keys/gait_public.key", "--json",
    ]  # fmt: skip
    code, got = run_json(*base, "--approval-token", "tokens/token_example_other_key.json")
    assert code == 4 and "approval_token_signature_invalid" in got["reason_codes"]
    Path("broken.json").write_text("{not json")
    code, got = run_json(*base, "--approval-token", "broken.json")
    assert code == 6 and "broken.json" in got["error"]


def test_oss_prod_profile_rules(tree: Path) -> None:
    """oss-prod: prod keys required, no --simulate, no default allow (gate.md §9)."""
    base = ["gate", "eval", "--profile", "oss-prod", "--intent", "intent_search.json", "--json"]
    code, got = run_json(*base, "--policy", "policy_priority.yaml")
    assert code == 6 and "requires --key-mode prod" in got["error"]
    prod = [
        "--key-mode",
        "prod",
        "--private-key",
        "../keys/gait_private.key",
        "--trace-out",
        "t.json",
    ]
    code, got = run_json(*base, *prod, "--policy", "policy_priority.yaml", "--simulate")
    assert code == 6 and "--simulate" in got["error"]
    code, got = run_json(*base, *prod, "--policy", "policy_dry_run.yaml")
    assert code == 6 and "default_verdict is allow" in got["error"]
    code, got = run_json(*base, *prod, "--policy", "policy_priority.yaml")
    assert code == 3 and got["profile"] == "oss-prod"


def test_approve_then_eval_round_trip_with_our_keys(tree: Path) -> None:
    """A token we mint with the vector key is accepted by our gate eval (exit 0, approval_granted)."""
    code, minted = run_json(
        "approve", "--intent-digest", "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1",
        "--policy-digest", "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d",
        "--ttl", "1h30m", "--scope", "tool:fs.write_file", "--approver", "carol", "--reason-code", "chg-1",
        "--key-mode", "prod", "--private-key", "../keys/gait_private.key", "--json",
    )  # fmt: skip
    assert code == 0 and Path(minted["token_path"]).name == f"approval_{minted['token_id']}.json"
    code, got = run_json(
        "gate", "eval", "--policy", "policy_example.yaml", "--intent", "intent_example.json",
        "--key-mode", "prod", "--private-key", "../keys/gait_private.key",
        "--approval-token", minted["token_path"], "--json",
    )  # fmt: skip
    assert code == 0 and got["verdict"] == "allow" and got["approval_ref"] == minted["token_id"]
    assert Path(got["approval_audit_path"]).name == f"approval_audit_{got['trace_id']}.json"


def test_gate_eval_as_a_real_subprocess(tree: Path) -> None:
    """The installed ``gait`` entry point: JSON on stdout, exit 3 for a block."""
    gait = Path(sys.executable).parent / "gait"
    proc = subprocess.run(
        [str(gait), "gate", "eval", "--policy", "policy_priority.yaml", "--intent", "intent_read_env.json", "--json"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["verdict"] == "block" and payload["reason_codes"] == [
        "matched_rule_block_secrets"
    ]


def test_bench_gate_command_reports_percentiles(tree: Path) -> None:
    """``gait bench gate --json`` reports median/p90/p99 for both cases."""
    code, got = run_json("bench", "gate", "--iterations", "20", "--json")
    assert code == 0 and got["policy_rules"] == 10
    for case in ("evaluate", "full_call"):
        stats = got[case]
        assert 0 < stats["median_us"] <= stats["p90_us"] <= stats["p99_us"]
    code, got = run_json("bench", "gate", "--iterations", "2", "--json")
    assert code == 6


def test_project_config_fills_flags_left_empty(tree: Path) -> None:
    """``.gait/config.yaml`` gate: policy/key mode/key/trace path fill empty flags; flags win."""
    Path(".gait").mkdir()
    Path(".gait/config.yaml").write_text(
        "gate:\n  policy: policy_priority.yaml\n  key_mode: prod\n"
        "  private_key: ../keys/gait_private.key\n  trace_path: cfg_trace.json\nother: {x: 1}\n"
    )
    code, got = run_json("gate", "eval", "--intent", "intent_read_env.json", "--json")
    assert code == 3 and got["trace_path"] == "cfg_trace.json" and "warnings" not in got
    key = load_public(KeySource(path="../keys/gait_public.key"))
    assert verify_trace(json.loads(Path("cfg_trace.json").read_text()), key).ok
    code, got = run_json(
        "gate",
        "eval",
        "--intent",
        "intent_read_env.json",
        "--policy",
        "policy_dry_run.yaml",
        "--json",
    )
    assert code == 0 and got["verdict"] == "allow"
    code, got = run_json(
        "gate", "eval", "--intent", "intent_read_env.json", "--no-config", "--json"
    )
    assert code == 6 and got["error"] == "both --policy and --intent are required"


def test_missing_explicit_config_is_invalid_input(tree: Path) -> None:
    """A missing default config is fine; a missing ``--config`` file is exit 6."""
    code, got = run_json(
        "gate", "eval", "--policy", "policy_priority.yaml", "--intent", "intent_read_env.json",
        "--config", "nope.yaml", "--json",
    )  # fmt: skip
    assert code == 6 and "config file not found: nope.yaml" in got["error"]
    Path("bad.yaml").write_text("gate: [1]\n")
    code, got = run_json(
        "gate", "eval", "--policy", "policy_priority.yaml", "--intent", "intent_read_env.json",
        "--config", "bad.yaml", "--json",
    )  # fmt: skip
    assert code == 6 and "gate must be a mapping" in got["error"]


def test_trace_out_with_parent_traversal_is_refused(tree: Path) -> None:
    """A relative --trace-out with a ``..`` segment is invalid input (exit 6)."""
    code, got = run_json(
        "gate", "eval", "--policy", "policy_priority.yaml", "--intent", "intent_read_env.json",
        "--trace-out", "../escape.json", "--json",
    )  # fmt: skip
    assert code == 6 and "must not traverse parent directories" in got["error"]
    assert not (tree / "escape.json").exists()


def test_token_chain_duplicates_count_once(tree: Path) -> None:
    """The same token twice in --approval-token-chain is one token (de-duplicated)."""
    code, got = run_json(
        "gate", "eval", "--policy", "policy_two_approvers.yaml", "--intent", "intent_read_config.json",
        "--key-mode", "prod", "--private-key", "../keys/gait_private.key", "--trace-out", "t.json",
        "--approval-token-chain", "tokens/token_two_bob_r1.json,tokens/token_two_bob_r1.json",
        "--approval-token", "tokens/token_two_bob_r1.json", "--json",
    )  # fmt: skip
    assert code == 4 and got["valid_approvals"] == 1
    assert "approval_chain_insufficient" in got["reason_codes"]


def test_gate_eval_text_output(tree: Path) -> None:
    """Without --json: a verdict line, the trace line and the dev-key warning."""
    code, text = run(
        "gate", "eval", "--policy", "policy_priority.yaml", "--intent", "intent_read_env.json"
    )
    lines = text.splitlines()
    assert code == 3
    assert (
        lines[0]
        == "gate eval: verdict=block reasons=matched_rule_block_secrets violations=secret_file_access"
    )
    assert lines[1].startswith("trace: trace_e9d16ce81933d51d2e1bc318_")
    assert lines[2].startswith("warning: dev mode")


def test_a_key_flag_keeps_the_configured_key_pair_out(tree: Path) -> None:
    """``--private-key`` on the command line is not mixed with ``private_key_env`` from the config."""
    Path(".gait").mkdir()
    Path(".gait/config.yaml").write_text(
        "gate:\n  key_mode: prod\n  private_key_env: SOME_UNSET_VAR\n"
    )
    code, got = run_json(
        "gate", "eval", "--policy", "policy_priority.yaml", "--intent", "intent_read_env.json",
        "--private-key", "../keys/gait_private.key", "--trace-out", "t.json", "--json",
    )  # fmt: skip
    assert code == 3 and "warnings" not in got


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["policy", "validate"], "a policy path is required"),
        (["policy", "fmt"], "a policy path is required"),
        (
            ["trace", "verify", "--public-key", "../keys/gait_public.key"],
            "a trace path is required",
        ),
        (
            ["trace", "verify", "nope.json", "--public-key", "../keys/gait_public.key"],
            "read trace nope.json",
        ),
    ],
)
def test_missing_or_unreadable_paths_exit_6(tree: Path, argv: list[str], needle: str) -> None:
    """Usage errors and unreadable files are exit 6 with a one-line message."""
    code, got = run_json(*argv, "--json")
    assert code == 6 and needle in got["error"]


def test_frame_explain_still_describes_path_commands(tree: Path) -> None:
    """``--explain`` on validate/fmt/trace verify prints the command description without a path."""
    for argv in (["policy", "validate"], ["policy", "fmt"], ["trace", "verify"], ["approve"]):
        code, text = run(*argv, "--explain")
        assert code == 0 and text.strip() and text[-1] == "\n"
