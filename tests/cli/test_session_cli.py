"""``gait run session ...`` and ``gait verify session-chain`` against the Go vectors.

The Go run of ``tests/vectors/sessions/README.md`` is replayed command by
command (same argv, so the same correlation ids) and every JSON output is
compared field by field with Go's, except wall-clock values and the digests
that depend on them (checkpoint times feed the manifest digests).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.cli import main

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_HEX = re.compile(r"\b[0-9a-f]{64}\b")
# Digests that are inputs of the scenario, not derived from wall-clock time.
_INPUT_DIGESTS = {
    "a020142131140191acf15a5e940cf9c4dac82dbbb290f46fb4658d436cfb812d",
    "8b0e81167844ad3261fc448ec015409c72ec457495bd34a05104654172ba9fc9",
}


def _a(text: str) -> list[str]:
    return shlex.split(text)


STEPS: list[tuple[str, list[str]]] = [
    (
        "01_start",
        _a(
            "run session start --journal journal/demo.journal.jsonl --session-id sess_demo "
            "--run-id run_sess_demo --json"
        ),
    ),
    (
        "02_append_1",
        _a(
            "run session append --journal journal/demo.journal.jsonl --tool tool.write "
            "--verdict allow --json"
        ),
    ),
    (
        "03_append_2",
        _a(
            "run session append --journal journal/demo.journal.jsonl --tool fs.delete_file "
            "--verdict block --intent-id intent_del --trace-id a96abf0ef8fdcdff06fbb061 "
            "--trace-path traces/trace_destructive_apply.json --intent-digest "
            "A020142131140191ACF15A5E940CF9C4DAC82DBBB290F46FB4658D436CFB812D --policy-digest "
            "8b0e81167844ad3261fc448ec015409c72ec457495bd34a05104654172ba9fc9 --reason-codes "
            "'destructive_apply_requires_approval, matched_rule_allow_fs_ops,"
            "destructive_apply_requires_approval' --violations approval_not_granted --json"
        ),
    ),
    (
        "04_checkpoint_1",
        _a(
            "run session checkpoint --journal journal/demo.journal.jsonl "
            "--out checkpoints/cp_0001.zip --json"
        ),
    ),
    (
        "05_append_3",
        _a(
            "run session append --journal journal/demo.journal.jsonl --tool web.search "
            "--verdict dry_run --reason-codes search_observed --json"
        ),
    ),
    (
        "06_append_4",
        _a(
            "run session append --journal journal/demo.journal.jsonl --tool fs.write_file "
            "--verdict require_approval --intent-id intent_w --reason-codes write_requires_review "
            "--violations approval_not_granted --json"
        ),
    ),
    (
        "07_checkpoint_2",
        _a(
            "run session checkpoint --journal journal/demo.journal.jsonl "
            "--out checkpoints/cp_0002.zip --chain-out chain/demo_chain_copy.json --json"
        ),
    ),
    (
        "08_append_5",
        _a(
            "run session append --journal journal/demo.journal.jsonl --tool fs.read_file "
            "--verdict allow --trace-id 6b7a2e83f32709c1431377e3 --json"
        ),
    ),
    ("09_status", _a("run session status --journal journal/demo.journal.jsonl --json")),
    (
        "10_verify_chain_before_compact",
        _a("verify session-chain --chain journal/demo.journal_chain.json --json"),
    ),
    (
        "11_compact_dry_run",
        _a("run session compact --journal journal/demo.journal.jsonl --dry-run --json"),
    ),
    ("12_compact", _a("run session compact --journal journal/demo.journal.jsonl --json")),
    (
        "13_status_after_compact",
        _a("run session status --journal journal/demo.journal.jsonl --json"),
    ),
    (
        "14_verify_chain_after_compact",
        _a("verify session-chain --chain journal/demo.journal_chain.json --json"),
    ),
]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, text = run(*argv)
    return code, json.loads(text)


def _stable(value: Any) -> Any:
    """Replace wall-clock times and the digests derived from them by placeholders."""
    text = json.dumps(value, sort_keys=True)
    text = _TIME.sub("<time>", text)
    text = _HEX.sub(lambda m: m.group(0) if m.group(0) in _INPUT_DIGESTS else "<digest>", text)
    # our producer_version is our own version (runpack.md §1.2)
    text = re.sub(r'"producer_version": "[^"]*"', '"producer_version": "<version>"', text)
    # byte counts follow from the lengths of times and versions
    text = re.sub(r'"(bytes_before|bytes_after)": \d+', r'"\1": 0', text)
    return json.loads(text)


def test_session_commands_reproduce_go_outputs_field_by_field(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §3/§8: each command's JSON equals Go's except wall-clock-derived values."""
    (in_tmp / "chain").mkdir()
    produced_digests: dict[int, str] = {}
    for name, argv in STEPS:
        code, payload = run_json(*argv)
        golden = json.loads((vectors / "sessions/out" / f"{name}.json").read_text())
        assert code == 0, (name, payload)
        assert _stable(payload) == _stable(golden), name
        if "checkpoint" in payload:
            cp = payload["checkpoint"]
            produced_digests[cp["checkpoint_index"]] = cp["checkpoint_digest"]
    # the compacted journal has Go's shape: header (events null), 2 checkpoints, event 5
    ours = Path("journal/demo.journal.jsonl").read_text().splitlines()
    gos = (vectors / "sessions/journal/demo.journal.jsonl").read_text().splitlines()
    assert [_stable(json.loads(x)) for x in ours] == [_stable(json.loads(x)) for x in gos]
    assert json.loads(ours[0])["header"]["events"] is None
    chain = json.loads(Path("journal/demo.journal_chain.json").read_text())
    assert [c["checkpoint_digest"] for c in chain["checkpoints"]] == [
        produced_digests[1],
        produced_digests[2],
    ]
    assert (
        Path("chain/demo_chain_copy.json").read_bytes()
        == Path("journal/demo.journal_chain.json").read_bytes()
    )


def test_status_text_matches_go(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §3: the text form of status is Go's two lines."""
    shutil.copytree(vectors / "sessions/journal", in_tmp / "journal")
    code, text = run("run", "session", "status", "--journal", "journal/demo.journal.jsonl")
    assert code == 0
    assert text == (vectors / "sessions/out/19_status.txt").read_text()


def test_compact_of_go_precompact_journal_is_byte_identical(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §5: compacting Go's pre-compaction journal gives Go's bytes and output."""
    shutil.copytree(vectors / "sessions/checkpoints", in_tmp / "checkpoints")
    (in_tmp / "journal").mkdir()
    src = vectors / "sessions/journal"
    shutil.copy(src / "precompact.journal.jsonl.txt", "journal/demo.journal.jsonl")
    shutil.copy(src / "precompact.state.json.txt", "journal/demo.journal.jsonl.state.json")
    code, payload = run_json(*STEPS[11][1])
    assert code == 0
    assert payload == json.loads((vectors / "sessions/out/12_compact.json").read_text())
    assert (
        Path("journal/demo.journal.jsonl").read_bytes() == (src / "demo.journal.jsonl").read_bytes()
    )


def test_verify_go_chain_standard_and_strict(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §8: Go's chain verifies; strict fails per checkpoint (unsigned), exit 2."""
    for sub in ("journal", "checkpoints", "chain"):
        shutil.copytree(vectors / "sessions" / sub, in_tmp / sub)
    code, payload = run_json(*STEPS[9][1])
    assert code == 0
    assert payload == json.loads(
        (vectors / "sessions/out/10_verify_chain_before_compact.json").read_text()
    )
    shutil.copytree(vectors / "keys", in_tmp.parent / "keys", dirs_exist_ok=True)
    code, payload = run_json(
        "verify",
        "session-chain",
        "--chain",
        "journal/demo.journal_chain.json",
        "--profile",
        "strict",
        "--public-key",
        "../keys/gait_public.key",
        "--json",
    )
    golden = json.loads((vectors / "sessions/out/15_verify_chain_strict.json").read_text())
    assert code == 2
    assert payload == golden


def test_verify_chain_text_and_tamper_detection(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §8: a tampered chain reports linkage errors in Go's words, exit 2."""
    for sub in ("journal", "checkpoints"):
        shutil.copytree(vectors / "sessions" / sub, in_tmp / sub)
    code, text = run("verify", "session-chain", "journal/demo.journal_chain.json")
    assert code == 0
    assert text.splitlines() == [
        "verify session-chain: ok (journal/demo.journal_chain.json)",
        "session=sess_demo run=run_sess_demo checkpoints=2",
    ]
    doc = json.loads(Path("journal/demo.journal_chain.json").read_text())
    doc["checkpoints"][1]["prev_checkpoint_digest"] = "0" * 64
    doc["checkpoints"][0]["runpack_path"] = "checkpoints/missing.zip"
    Path("bad_chain.json").write_text(json.dumps(doc))
    code, text = run("verify", "session-chain", "--chain", "bad_chain.json")
    assert code == 2
    lines = text.splitlines()
    assert lines[0] == "verify session-chain failed: bad_chain.json"
    assert lines[1] == (
        "linkage errors: prev_checkpoint_digest mismatch at checkpoint 2; "
        "checkpoint_digest mismatch at checkpoint 2"
    )
    assert lines[2].startswith("checkpoint errors: checkpoint 1 verify error: ")


def test_defect_scenario_keeps_working_after_full_compaction(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §5: Go's defect/ run bricks the journal; ours continues at sequence 3."""
    j = "defect.journal.jsonl"
    assert run("run", "session", "start", "--journal", j, "--session-id", "sess_defect",
               "--run-id", "run_defect")[0] == 0  # fmt: skip
    for tool in ("tool.a", "tool.b"):
        assert run("run", "session", "append", "--journal", j, "--tool", tool, "--verdict",
                   "allow")[0] == 0  # fmt: skip
    assert run("run", "session", "checkpoint", "--journal", j, "--out", "cp_0001.zip")[0] == 0
    code, compact = run_json("run", "session", "compact", "--journal", j, "--json")
    golden = json.loads((vectors / "sessions/defect/out_05_compact.json").read_text())
    assert code == 0
    assert {k: v for k, v in compact["compaction"].items() if not k.startswith("bytes")} == {
        k: v for k, v in golden["compaction"].items() if not k.startswith("bytes")
    }
    state = json.loads(Path(j + ".state.json").read_text())
    assert state["last_sequence"] == 2  # Go wrote 0 here (state_after_compact.json.txt)
    code, appended = run_json("run", "session", "append", "--journal", j, "--tool", "tool.c",
                              "--verdict", "allow", "--json")  # fmt: skip
    assert code == 0
    assert appended["event"]["sequence"] == 3  # Go wrote 1
    code, cp = run_json("run", "session", "checkpoint", "--journal", j, "--out", "cp_0002.zip",
                        "--json")  # fmt: skip
    assert code == 0  # Go: exit 6, "session event sequence mismatch line 3: got 1 want 3"
    assert (cp["checkpoint"]["sequence_start"], cp["checkpoint"]["sequence_end"]) == (3, 3)


def test_go_defect_journal_is_reported_with_go_message(in_tmp: Path, vectors: Path) -> None:
    """sessions.md §2.4: the journal Go bricked fails our reader with Go's exact text, exit 6."""
    shutil.copytree(vectors / "sessions/defect", in_tmp / "d")
    code, payload = run_json(
        "run", "session", "checkpoint", "--journal", "d/defect.journal.jsonl", "--out",
        "d/cp_0002.zip", "--json",
    )  # fmt: skip
    assert code == 6
    assert payload["error"] == "session event sequence mismatch line 3: got 1 want 3"
    assert payload["error_code"] == "invalid_input"
    assert payload["journal"] == "d/defect.journal.jsonl"
    assert payload["operation"] == "checkpoint"
    assert not Path("d/cp_0002.zip").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tool", "t", "--verdict", "maybe"], "verdict: unsupported verdict 'maybe'"),
        (["--verdict", "allow"], "missing required --tool and --verdict"),
    ],
)
def test_append_bad_input_exits_6_and_leaves_journal_intact(
    in_tmp: Path, argv: list[str], message: str
) -> None:
    """sessions.md §3: bad flags exit 6 with a one-line message; nothing is appended."""
    run("run", "session", "start", "--journal", "j.jsonl", "--session-id", "s", "--run-id", "r")
    before = Path("j.jsonl").read_bytes()
    code, payload = run_json("run", "session", "append", "--journal", "j.jsonl", *argv, "--json")
    assert code == 6
    assert payload["ok"] is False
    assert payload["error"].startswith(message)
    assert Path("j.jsonl").read_bytes() == before


def test_start_with_other_ids_is_refused(in_tmp: Path) -> None:
    """sessions.md §3: an existing journal with different ids is an error (exit 6)."""
    run("run", "session", "start", "--journal", "j.jsonl", "--session-id", "s", "--run-id", "r")
    code, payload = run_json("run", "session", "start", "--journal", "j.jsonl", "--session-id",
                             "s", "--run-id", "other", "--json")  # fmt: skip
    assert code == 6
    assert payload["error"] == "session journal already initialized with different session/run"
    code, again = run_json("run", "session", "start", "--journal", "j.jsonl", "--session-id",
                           "s", "--run-id", "r", "--json")  # fmt: skip
    assert code == 0 and again["status"]["event_count"] == 0


def test_checkpoint_without_new_events_exits_6(in_tmp: Path) -> None:
    """sessions.md §4.1 step 2: no new events is an error (exit 6), nothing written."""
    run("run", "session", "start", "--journal", "j.jsonl", "--session-id", "s", "--run-id", "r")
    code, payload = run_json("run", "session", "checkpoint", "--journal", "j.jsonl", "--out",
                             "cp.zip", "--json")  # fmt: skip
    assert code == 6
    assert payload["error"] == "no new session events available for checkpoint"
    assert not Path("cp.zip").exists()


def test_checkpoint_creates_missing_chain_out_directory(in_tmp: Path) -> None:
    """sessions.md §4.1 step 6: unlike Go, a missing --chain-out directory is created."""
    run("run", "session", "start", "--journal", "j.jsonl", "--session-id", "s", "--run-id", "r")
    run("run", "session", "append", "--journal", "j.jsonl", "--tool", "t", "--verdict", "allow")
    code, text = run("run", "session", "checkpoint", "--journal", "j.jsonl", "--out", "cp.zip",
                     "--chain-out", "new/dir/chain.json")  # fmt: skip
    assert code == 0
    assert text.splitlines() == [
        "session checkpoint: index=1 runpack=redacted range=1..1",
        "session chain: new/dir/chain.json",
    ]
    assert json.loads(Path("new/dir/chain.json").read_text())["checkpoints"][0]["runpack_path"] == (
        "cp.zip"
    )
    with zipfile.ZipFile("cp.zip") as z:
        assert sorted(z.namelist()) == [
            "intents.jsonl",
            "manifest.json",
            "refs.json",
            "results.jsonl",
            "run.json",
        ]


def test_lock_timeout_exits_1_with_go_diagnostics(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sessions.md §7.3: a fresh foreign lock gives Go's timeout message and exit 1."""
    import os

    run("run", "session", "start", "--journal", "j.jsonl", "--session-id", "s", "--run-id", "r")
    body = {
        "created_at": "2099-01-01T00:00:00Z",
        "pid": os.getppid(),
        "schema_id": "gait.runpack.session_lock",
        "schema_version": "1.0.0",
    }
    Path("j.jsonl.lock").write_text(json.dumps(body) + "\n")
    monkeypatch.setenv("GAIT_SESSION_LOCK_TIMEOUT", "200ms")
    code, payload = run_json("run", "session", "status", "--journal", "j.jsonl", "--json")
    assert code == 1
    assert re.fullmatch(
        r"session state contention: lock timeout \(path=j\.jsonl\.lock waited=[0-9.]+m?s "
        r"attempts=\d+ timeout=200ms retry=50ms profile=standard\)",
        payload["error"],
    )
    assert payload["error_category"] == "internal_failure"
    assert payload["retryable"] is False
    assert Path("j.jsonl.lock").exists()
