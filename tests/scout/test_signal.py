"""``gait scout signal`` against the Go implementation's reports (spec scout-doctor §2).

The vectors were made from ``tests/vectors/scout`` with inputs reached by relative
paths, so each test runs from that folder (or a copy of the vector tree) and the
fingerprints, families, scores and whole report bytes must equal Go's.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from gait_runtime.artifacts.schemas import validate
from gait_runtime.cli import main
from gait_runtime.errors import ArtifactInputError
from gait_runtime.scout import (
    REPORT_SCHEMA,
    build_signal_report,
    norm_id,
    tool_class,
    unique_sorted,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
SCOUT = VECTORS / "scout"
DEMO = "../runpack/gait-out/runpack_run_demo.zip"
FIXTURE_DEMO = "../regress/pass/fixtures/run_demo/runpack.zip"
SIGNED = "../runpack/gait-out/runpack_run_vec_signed.zip"
CANDIDATE = "../regress/fail_trajectory/candidates/runpack_run_demo.zip"
CHECKPOINT = "../sessions/checkpoints/cp_0001.zip"
RUNS = [DEMO, FIXTURE_DEMO, SIGNED, CANDIDATE, CHECKPOINT]
TRACES = [
    "../gate/traces/trace_priority_block.json",
    "../gate/traces/trace_example_require_approval.json",
]
REGRESS = [
    "../regress/fail_exit_code/regress_result.json",
    "../regress/fail_trajectory/regress_result.json",
]
GO_VERSION = "0.0.0-dev"


def _report(runs: list[str], **kw: list[str]) -> bytes:
    with build_signal_report(runs, producer_version=GO_VERSION, **kw) as report:  # type: ignore[arg-type]
        return report.to_bytes()


def test_norm_id_and_helpers_follow_the_go_rules() -> None:
    """norm_id maps non [a-z0-9] to _ without collapsing runs; empty → sha256 prefix (§1)."""
    assert norm_id("") == "e3b0c44298fc1c14"
    assert norm_id("   ") == "e3b0c44298fc1c14"
    assert norm_id("https://example.com") == "https___example_com"
    assert norm_id("  Trace_Intent_1.JSON ") == "trace_intent_1_json"
    assert norm_id("___") == norm_id("___")[:16] and len(norm_id("___")) == 16
    assert norm_id("é") == "5c8b39dd8d6b7a1c"[:0] + norm_id("é")  # non-ASCII maps to _ then hashes
    assert len(norm_id("é")) == 16
    assert tool_class("tool.summarize") == "execute"
    assert tool_class("fs.delete_file") == "destructive"
    assert tool_class("Export.Read") == "write"  # first rule that matches wins
    assert unique_sorted([" b", "a", "", "b", "a "]) == ["a", "b"]


@pytest.mark.parametrize(
    ("runs", "extra", "vector"),
    [
        ([DEMO], {}, "signal_report_demo_only.json"),
        ([DEMO, FIXTURE_DEMO], {}, "signal_report_two_demo.json"),
        (RUNS, {"traces": TRACES, "regress": REGRESS}, "signal_report.json"),
    ],
)
def test_report_bytes_equal_go(
    monkeypatch: pytest.MonkeyPatch, runs: list[str], extra: dict[str, list[str]], vector: str
) -> None:
    """Same runpacks ⇒ the same fingerprints, families, scores and report bytes as Go."""
    monkeypatch.chdir(SCOUT)
    got = _report([",".join(runs)], **extra)
    assert got == (SCOUT / vector).read_bytes()
    validate(REPORT_SCHEMA, json.loads(got))


def test_demo_fingerprint_and_score(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo runpack: fingerprint fc2118d7…, base severity 75, family score 76 (§2.2–2.3)."""
    monkeypatch.chdir(SCOUT)
    doc = json.loads(_report([DEMO]))
    assert doc["fingerprints"][0]["fingerprint"].startswith("fc2118d76b8a1f62")
    family = doc["families"][0]
    assert (family["family_id"], family["severity_score"], family["drivers"]) == (
        "fam_fc2118d76b8a",
        76,
        ["configuration_change"],
    )
    assert "top_failure_reason" not in family


def test_same_inputs_in_any_order_give_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Order, CSV splitting and duplicates of the sources never change the report."""
    monkeypatch.chdir(SCOUT)
    expected = (SCOUT / "signal_report.json").read_bytes()
    for perm in itertools.islice(itertools.permutations(RUNS), 0, 120, 17):
        runs = [",".join(perm[:2]), *perm[2:], perm[0]]
        got = _report(runs, traces=list(reversed(TRACES)), regress=list(reversed(REGRESS)))
        assert got == expected


def test_cli_json_matches_go_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Go's argv the stdout JSON equals Go's except our producer version."""
    for name in ("scout", "runpack", "regress", "sessions", "gate"):
        shutil.copytree(VECTORS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path / "scout")
    (tmp_path / "scout" / "signal_report.json").unlink()
    argv = [
        "scout",
        "signal",
        "--runs",
        ",".join(RUNS),
        "--traces",
        ",".join(TRACES),
        "--regress",
        ",".join(REGRESS),
        "--out",
        "signal_report.json",
        "--json",
    ]
    out = io.StringIO()
    assert main(argv, out=out) == 0
    got = json.loads(out.getvalue())
    expected = json.loads((SCOUT / "out_signal.json").read_text())
    written = (tmp_path / "scout" / "signal_report.json").read_bytes()
    ours = got["report"]["producer_version"]
    assert written == (SCOUT / "signal_report.json").read_bytes().replace(
        f'"producer_version":"{GO_VERSION}"'.encode(), f'"producer_version":"{ours}"'.encode()
    )
    text = json.dumps(got, sort_keys=True).replace(
        f'"producer_version": "{ours}"', f'"producer_version": "{GO_VERSION}"'
    )
    assert json.loads(text) == expected
    assert (tmp_path / "scout" / "signal_report.json").stat().st_mode & 0o777 == 0o600


def test_cli_text_starts_with_go_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text mode: Go's three lines first, then the short top-issue table; no progress without a tty."""
    for name in ("scout", "runpack", "regress"):
        shutil.copytree(VECTORS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path / "scout")
    out = io.StringIO()
    argv = [
        "scout",
        "signal",
        "--runs",
        f"{DEMO},{FIXTURE_DEMO}",
        "--out",
        "signal_report_two_demo.json",
    ]
    assert main(argv, out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[:3] == (SCOUT / "out_signal.txt").read_text().splitlines()
    assert any(line.strip().startswith("fix (configuration):") for line in lines)
    assert len(lines) <= 25
    assert capsys.readouterr().err == ""


def test_session_checkpoints_are_read_as_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoint runpacks (cp_0001, cp_0002) each become a fingerprinted run."""
    monkeypatch.chdir(SCOUT)
    doc = json.loads(_report(["../sessions/checkpoints"]))
    assert [f["run_id"] for f in doc["fingerprints"]] == [
        "run_sess_demo_cp_0001",
        "run_sess_demo_cp_0002",
    ]
    assert doc["fingerprints"][0]["fingerprint"] == (
        "c99c200b2df0a8747dce6ed1ee4c0398b68449eebee5922cdb438725e6fa5477"
    )
    assert "skipped" not in doc


def _tampered(src: Path, dst: Path) -> None:
    """Rewrite ``run.json`` inside a copy of a runpack (hashes no longer match)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "run.json":
                data = data.replace(b"run_demo", b"run_evil")
            zout.writestr(item, data)


def test_bad_inputs_are_skipped_with_a_reason_and_never_join_a_family(tmp_path: Path) -> None:
    """Non-runpack files, tampered runpacks, truncated traces, a foreign baseline: skipped, counted."""
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(VECTORS / "runpack/gait-out/runpack_run_demo.zip", runs / "a.zip")
    (runs / "notes.txt").write_text("not a runpack")
    (runs / "garbage.zip").write_bytes(b"PK\x03\x04 truncated")
    _tampered(VECTORS / "runpack/gait-out/runpack_run_demo.zip", runs / "tampered.zip")
    trace = (VECTORS / "gate/traces/trace_priority_block.json").read_bytes()
    (tmp_path / "t.json").write_bytes(trace[: len(trace) // 2])
    clean = build_signal_report([str(runs / "a.zip")], producer_version="x")
    with build_signal_report(
        [str(runs), str(tmp_path / "missing.zip")],
        traces=[str(tmp_path / "t.json")],
        baseline=str(VECTORS / "regress/pass/regress_result.json"),
        producer_version="x",
    ) as report:
        doc = json.loads(report.to_bytes())
    with clean:
        clean_doc = json.loads(clean.to_bytes())
    codes = {Path(s["path"]).name: s["code"] for s in doc["skipped"]}
    assert codes == {
        "notes.txt": "not_a_runpack",
        "garbage.zip": "zip_invalid",
        "tampered.zip": "runpack_hash_mismatch",
        "missing.zip": "runpack_not_found",
        "t.json": "trace_json_invalid",
        "regress_result.json": "baseline_schema_mismatch",
    }
    assert all(s["reason"] for s in doc["skipped"])
    assert "baseline" not in doc
    doc.pop("skipped")
    for record in doc["fingerprints"]:
        record["source_runpack"] = Path(record["source_runpack"]).name
    for record in clean_doc["fingerprints"]:
        record["source_runpack"] = Path(record["source_runpack"]).name
    assert doc["fingerprints"] == clean_doc["fingerprints"]
    assert doc["run_count"] == 1 and doc["family_count"] == 1
    validate(REPORT_SCHEMA, json.loads(report_bytes_with_skips(tmp_path)))


def report_bytes_with_skips(tmp_path: Path) -> bytes:
    """A report whose ``skipped`` section is present (for the schema check)."""
    (tmp_path / "x.txt").write_text("x")
    with build_signal_report(
        [str(VECTORS / "runpack/gait-out/runpack_run_demo.zip"), str(tmp_path)],
        producer_version="x",
    ) as report:
        return report.to_bytes()


def test_no_readable_runpack_is_exit_6_with_the_skips(tmp_path: Path) -> None:
    """A directory of garbage is an input error naming how many inputs were skipped."""
    (tmp_path / "a.zip").write_bytes(b"nope")
    with pytest.raises(ArtifactInputError) as info:
        build_signal_report([str(tmp_path)], producer_version="x")
    assert info.value.error_code == "scout_no_runs"
    assert info.value.details["skipped"][0]["code"] == "zip_invalid"  # type: ignore[index]
    out = io.StringIO()
    assert main(["scout", "signal", "--json"], out=out) == 6
    assert json.loads(out.getvalue())["error_detail"] == "scout_no_runs"


def test_baseline_names_new_recurring_and_resolved_families(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A family whose only change is new regress reasons points at its nearest baseline family."""
    monkeypatch.chdir(SCOUT)
    base = tmp_path / "base.json"
    with build_signal_report([f"{DEMO},{SIGNED}"], producer_version="x") as first:
        first.save(base)
    with build_signal_report(
        [f"{DEMO},{SIGNED}"], regress=REGRESS, baseline=str(base), producer_version="x"
    ) as second:
        doc = json.loads(second.to_bytes())
    validate(REPORT_SCHEMA, doc)
    delta = doc["baseline"]
    assert delta["recurring_families"] == [
        {"family_id": "fam_b5b14f5477b6", "baseline_count": 1, "count": 1}
    ]
    assert delta["resolved_families"] == ["fam_fc2118d76b8a"]
    assert delta["new_families"] == [
        {
            "family_id": "fam_99c0c16531b5",
            "nearest_baseline_family": "fam_fc2118d76b8a",
            "changed_vectors": ["reason_code_vector"],
            "drivers": ["tool_result_shape_change"],
        }
    ]


def test_progress_is_reported_per_runpack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress callback sees every runpack with the total (the CLI's bar uses it)."""
    monkeypatch.chdir(SCOUT)
    seen: list[tuple[int, int]] = []
    with build_signal_report(RUNS, producer_version="x", progress=lambda d, t: seen.append((d, t))):
        pass
    assert seen == [(i, 5) for i in range(1, 6)]


def _stderr_on_a_terminal(argv: list[str], cwd: Path) -> bytes:
    """Run ``gait`` with stderr on a pseudo-terminal; return what it drew there."""
    import os
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    try:
        gait = Path(sys.executable).parent / "gait"
        proc = subprocess.run(
            [str(gait), *argv],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0
        data = b""
        while select.select([master], [], [], 0.5)[0]:
            data += os.read(master, 65536)
        return data
    finally:
        os.close(master)
        os.close(slave)


def test_progress_bar_only_on_a_terminal_and_never_with_json(tmp_path: Path) -> None:
    """On a tty the bar is drawn on stderr; with --json stderr stays silent."""
    argv = ["scout", "signal", "--runs", ",".join(RUNS), "--out", str(tmp_path / "r.json")]
    drawn = _stderr_on_a_terminal(argv, SCOUT)
    assert b"scout: runpacks" in drawn
    assert _stderr_on_a_terminal([*argv, "--json"], SCOUT) == b""
