"""The pure rules of regress: names, verdicts, mismatch index, Go JSON, JUnit, context digest."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gait_runtime.regress.graders import ContextConformanceGrader, GraderContext, GraderResult
from gait_runtime.regress.junit import junit_document
from gait_runtime.regress.sequences import (
    MISSING,
    first_mismatch,
    normalize_verdict,
    verdict_from_status,
)
from gait_runtime.regress.workspace import Fixture, go_indent, sanitize_name
from gait_runtime.runpack import build_runpack, read_runpack, write_runpack
from gait_runtime.runpack.demo import demo_inputs


@pytest.mark.parametrize(
    ("run_id", "name"),
    [
        ("run_demo", "run_demo"),
        ("Run Demo!!2", "run-demo-2"),
        ("__x__", "x"),
        ("..--..", "fixture"),
        ("a/b\\c", "a-b-c"),
        ("ÜBER.run", "ber.run"),
    ],
)
def test_sanitize_name(run_id: str, name: str) -> None:
    """regress.md §2 step 3: lower-case, junk runs → one '-', trim '-._', empty → fixture."""
    assert sanitize_name(run_id) == name


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        ("Allow", "allow"),
        (" passed ", "allow"),
        ("Denied", "block"),
        ("needs-approval", "require_approval"),
        ("needsapproval", "require_approval"),
        ("dry run", "dry_run"),
        ("failure", "error"),
        ("maybe", ""),
    ],
)
def test_normalize_verdict(value: str, verdict: str) -> None:
    """regress.md §3.4: normalisation of a verdict string; unknown → invalid."""
    assert normalize_verdict(value) == verdict


@pytest.mark.parametrize(
    ("status", "verdict"),
    [("ok", "allow"), ("blocked", "block"), ("dry-run", "dry_run"), ("exploded", "error")],
)
def test_verdict_from_status(status: str, verdict: str) -> None:
    """regress.md §3.4: a result without raw verdict maps its status; anything else is error."""
    assert verdict_from_status(status) == verdict


def test_first_mismatch_prefix_rule() -> None:
    """regress.md §3.2: first difference, or the shorter length with <missing>."""
    assert first_mismatch(["a", "b"], ["a", "b"]) is None
    assert first_mismatch(["a", "b"], ["a", "c"]) == (1, "b", "c")
    assert first_mismatch(["a", "b", "c"], ["a"]) == (1, "b", MISSING)
    assert first_mismatch(["a"], ["a", "z"]) == (1, MISSING, "z")


def test_go_indent_escapes_like_go() -> None:
    """Go MarshalIndent: 2 spaces, key order kept, <>& escaped, UTF-8 kept, trailing newline."""
    assert go_indent({"b": "<a&b>", "a": [], "é": {}}) == (
        b'{\n  "b": "\\u003ca\\u0026b\\u003e",\n  "a": [],\n  "\xc3\xa9": {}\n}\n'
    )


def test_junit_without_fixture_set_and_without_reasons() -> None:
    """regress.md §3.6: suite ``gait.regress`` for an empty set; a failure with no codes says failed."""
    results = [GraderResult("fx/custom", "fail"), GraderResult("fx/diff", "pass")]
    root = ET.fromstring(junit_document("", results))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "gait.regress"
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and (failure.get("message"), failure.text) == ("failed", "failed")


def _context(tmp_path: Path, digest: str, expected: str, mode: str) -> GraderContext:
    run_doc, intents, results, refs = demo_inputs()
    if digest:
        refs["context_set_digest"] = digest
    path = tmp_path / "fixtures/cx/runpack.zip"
    write_runpack(path, build_runpack(run_doc, intents, results, refs))
    fixture = Fixture(
        "cx", "run_demo", expected_context_set_digest=expected, context_conformance=mode
    )
    return GraderContext(fixture, "fixtures/cx", "fixtures/cx/runpack.zip", read_runpack(path))


@pytest.mark.parametrize(
    ("digest", "expected", "mode", "reasons"),
    [
        ("a" * 64, "a" * 64, "required", []),
        ("a" * 64, "b" * 64, "required", ["context_set_digest_mismatch"]),
        ("", "b" * 64, "required", ["context_evidence_missing"]),
        ("", "", "none", []),
    ],
)
def test_context_conformance_digest_rules(
    tmp_path: Path, digest: str, expected: str, mode: str, reasons: list[str]
) -> None:
    """The digest rules of the context grader (the only context rules this build has)."""
    result = ContextConformanceGrader().grade(_context(tmp_path, digest, expected, mode))
    assert result.reason_codes == reasons
    assert result.status == ("fail" if reasons else "pass")
    assert result.context_conformance == mode


def test_failure_summary_is_bounded() -> None:
    """Text mode lists at most ten failing graders, then points at the result file."""
    from gait_runtime.regress.run import MAX_SUMMARY_FAILURES, RunOutcome

    failing = [
        GraderResult(
            f"f{i:02d}/expected_exit_code",
            "fail",
            ["unexpected_exit_code"],
            {
                "expected_exit_code": 2,
                "actual_exit_code": 0,
            },
        )
        for i in range(25)
    ]
    outcome = RunOutcome("default", failing, "regress_result.json")
    lines = outcome.failure_lines()
    assert len(lines) == MAX_SUMMARY_FAILURES + 1
    assert lines[0] == (
        "FAIL f00/expected_exit_code: unexpected_exit_code: expected replay exit 2, got 0"
    )
    assert lines[-1] == "... 15 more failing graders in regress_result.json"
    assert outcome.text()[0] == "regress run failed: fixture_set=default failed=25"
    assert (outcome.exit_code, outcome.top_failure_reason) == (5, "unexpected_exit_code")
