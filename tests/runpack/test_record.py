"""The recording pipeline (spec/runpack.md §3–§6) against the Go implementation's bytes."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from gait_runtime import __version__
from gait_runtime.artifacts.jcs import digest
from gait_runtime.artifacts.signing import SigningKey
from gait_runtime.errors import ArtifactInputError
from gait_runtime.runpack import build_runpack, manifest_digest, ticket_footer, write_runpack
from gait_runtime.runpack.demo import demo_runpack
from gait_runtime.runpack.manifest import footer_is_valid

from ._helpers import (
    GO_DEMO_DIGEST,
    GO_REFERENCE_DIGEST,
    GO_SIGNED_DIGEST,
    entries_of,
    gait_key,
    record_input,
    unzipped,
    validate_entries,
)


def _record(key: SigningKey | None, **overrides: Any) -> Any:
    """Build from record_input.json the way `gait run record` does (it adds best_effort)."""
    data = record_input()
    refs = dict(data["refs"], context_evidence_mode="best_effort")
    run = dict(data["run"])
    if "run_id" in overrides:
        run["run_id"] = overrides.pop("run_id")
    return build_runpack(
        run,
        data["intents"],
        data["results"],
        refs,
        capture_mode=overrides.pop("capture_mode", data["capture_mode"]),
        signing_key=key,
        producer_version="0.0.0-dev",
        now_ns=0,
    )


def test_demo_entries_equal_go_bytes_with_go_producer_version() -> None:
    """runpack.md §5.2/§8: with producer 0.0.0-dev the demo entries are Go's exact bytes."""
    runpack = demo_runpack("0.0.0-dev")
    assert runpack.entries == unzipped("demo")
    assert runpack.manifest_digest == GO_DEMO_DIGEST
    assert manifest_digest(runpack.manifest) == GO_DEMO_DIGEST


def test_demo_with_our_version_has_its_own_digest() -> None:
    """runpack.md §5.2: the digest depends on the producer version, so ours differs from Go's."""
    runpack = demo_runpack()
    assert runpack.manifest["producer_version"] == __version__
    assert runpack.manifest_digest != GO_DEMO_DIGEST
    assert manifest_digest(runpack.manifest) == runpack.manifest_digest


def test_demo_signature_reproduces_spec_vector() -> None:
    """runpack.md §6.4: seed 00..1f signs the demo manifest with the documented sig."""
    unsigned = demo_runpack("0.0.0-dev")
    run, intents, results, refs = _demo_inputs()
    key = SigningKey(bytes(range(32)))
    signed = build_runpack(
        run, intents, results, refs, signing_key=key, producer_version="0.0.0-dev"
    )
    (signature,) = signed.manifest["signatures"]
    assert key.key_id == "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"
    assert signature["key_id"] == key.key_id
    assert signature["signed_digest"] == (
        "58bfd574ada96e20976a5cca9881644a4fd2747dc41abfd35b9f47a4d161927d"
    )
    assert signature["sig"] == (
        "G23DQ5U14bBLSe4jfsrAz91GfA8a+Dt0nNAn/czkqonUOIuEnxhOS5d3NBQUkdTtwQZp6A/FvW1+k4GssDPvBQ=="
    )
    assert signed.manifest_digest == unsigned.manifest_digest == GO_DEMO_DIGEST
    assert manifest_digest(signed.manifest) == GO_DEMO_DIGEST


def _demo_inputs() -> tuple[Any, Any, Any, Any]:
    from gait_runtime.runpack.demo import demo_inputs

    return demo_inputs()


def test_record_input_signed_reproduces_go_entries_and_digest() -> None:
    """record_signed.json: raw capture, derived trace digests, signed; entries are Go's bytes."""
    runpack = _record(gait_key())
    assert runpack.entries == unzipped("signed")
    assert runpack.manifest_digest == GO_SIGNED_DIGEST
    assert runpack.manifest["signatures"][0]["signed_digest"] == (
        "267ce4dff60c146f14c3031c3f92eb46ca685a6f7c96a9e30167a333b74da9f4"
    )


def test_record_input_reference_reproduces_go_entries_and_digest() -> None:
    """record_reference.json: --run-id run_vec_reference --capture-mode reference."""
    runpack = _record(None, run_id="run_vec_reference", capture_mode="reference")
    expected = unzipped("reference")
    assert runpack.entries == expected
    assert runpack.manifest_digest == GO_REFERENCE_DIGEST


def test_args_digest_helper_example() -> None:
    """runpack.md §4.2: the documented args digest."""
    assert digest({"query": "gait demo: offline verification"}) == (
        "33d148a7de89102bce5e2be136ca2acc3398ff9970a1f922faa3838eae837e3c"
    )


def test_every_entry_we_write_validates_against_its_schema() -> None:
    """Our own decision: each runpack entry matches schemas/v1/runpack/*.schema.json."""
    for runpack in (
        demo_runpack(),
        demo_runpack("0.0.0-dev"),
        _record(gait_key()),
        _record(None, capture_mode="reference"),
    ):
        validate_entries(runpack)


def test_manifest_digest_ignores_unknown_keys_and_normalises_created_at() -> None:
    """runpack.md §5.1 pitfalls 2 and 3: extra keys ignored, +00:00/.000 re-encoded."""
    manifest = copy.deepcopy(demo_runpack("0.0.0-dev").manifest)
    manifest["created_at"] = "2026-02-05T00:00:00.000+00:00"
    manifest["extra"] = {"x": 1}
    manifest["files"][0]["note"] = "ignored"
    assert manifest_digest(manifest) == GO_DEMO_DIGEST
    manifest["created_at"] = "2026-02-05T01:00:00+01:00"
    assert manifest_digest(manifest) != GO_DEMO_DIGEST


def test_manifest_digest_rejects_bad_created_at() -> None:
    """runpack.md §5.1 pitfall 3: non-RFC 3339 created_at is a parse error (exit 6)."""
    manifest = copy.deepcopy(demo_runpack("0.0.0-dev").manifest)
    manifest["created_at"] = "yesterday"
    with pytest.raises(ArtifactInputError, match="created_at"):
        manifest_digest(manifest)


def test_two_builds_are_byte_identical() -> None:
    """runpack.md §2.2: same input, same zip bytes (Python to Python)."""
    first, second = _record(gait_key()), _record(gait_key())
    assert first.zip_bytes() == second.zip_bytes()
    assert entries_of(first.zip_bytes()) == first.entries


def test_zip_layout_is_sorted_fixed_time_mode_0644() -> None:
    """runpack.md §2.2: sorted names, 1980-01-01, deflate, Unix mode 0644."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(demo_runpack().zip_bytes())) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == [
        "intents.jsonl",
        "manifest.json",
        "refs.json",
        "results.jsonl",
        "run.json",
    ]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.external_attr >> 16 == 0o100644


def test_normalization_payloads_fill_and_check_digests() -> None:
    """runpack.md §4 step 2 / §11: normalization payloads digest; a mismatch fails."""
    run = {"run_id": "run_norm", "created_at": "2026-01-01T00:00:00Z"}
    intents = [{"intent_id": "i1", "tool_name": "t"}]
    results = [{"intent_id": "i1", "status": "ok"}]
    normalization = {"intent_args": {"i1": {"a": 1}}, "result_payloads": {"i1": {"ok": True}}}
    runpack = build_runpack(run, intents, results, normalization=normalization, now_ns=0)
    assert f'"args_digest":"{digest({"a": 1})}"'.encode() in runpack.entries["intents.jsonl"]
    assert f'"result_digest":"{digest({"ok": True})}"'.encode() in runpack.entries["results.jsonl"]
    bad = [{"intent_id": "i1", "tool_name": "t", "args_digest": "0" * 64}]
    with pytest.raises(ArtifactInputError, match="args digest mismatch"):
        build_runpack(run, bad, results, normalization=normalization)


def test_given_args_digest_is_trusted_without_normalization() -> None:
    """runpack.md §4 step 2: a non-empty args_digest without normalization is kept as given."""
    run = {"run_id": "run_trust", "created_at": "2026-01-01T00:00:00Z"}
    intents = [{"intent_id": "i1", "tool_name": "t", "args_digest": "a" * 64, "args": {"x": 1}}]
    results = [{"intent_id": "i1", "status": "ok", "result_digest": "b" * 64}]
    runpack = build_runpack(run, intents, results, capture_mode="raw")
    assert b'"args_digest":"' + b"a" * 64 + b'"' in runpack.entries["intents.jsonl"]
    assert b'"args":{"x":1}' in runpack.entries["intents.jsonl"]


@pytest.mark.parametrize(
    ("run", "intents", "refs", "message"),
    [
        ({}, [], None, "run.run_id is required"),
        (
            {"run_id": "run_x"},
            [{"intent_id": "i1", "tool_name": "t"}],
            None,
            r"intents\[0\]: args or args_digest",
        ),
        ({"run_id": "run_x", "created_at": "soon"}, [], None, "run.created_at"),
        ({"run_id": "run_x", "env": "linux"}, [], None, "run.env must be a JSON object"),
        (
            {"run_id": "run_x"},
            [],
            {"receipts": [{"ref_id": "trace_i9", "source_type": "gait.trace"}]},
            "needs an intent and a result",
        ),
        (
            {"run_id": "run_x"},
            [],
            {"receipts": [{"ref_id": "r", "source_type": "http", "source_locator": "x"}]},
            "query_digest and content_digest are required",
        ),
        ({"run_id": "run_x"}, [], {"context_evidence_mode": "always"}, "context_evidence_mode"),
        ({"run_id": "run_x"}, [], {"context_ref_count": -1}, "must not be negative"),
    ],
)
def test_bad_record_input_names_the_field(
    run: dict[str, Any], intents: list[dict[str, Any]], refs: Any, message: str
) -> None:
    """runpack.md §4: bad input fails with an input error naming the field."""
    with pytest.raises(ArtifactInputError, match=message):
        build_runpack(run, intents, [], refs)


def test_unknown_capture_mode_is_rejected() -> None:
    """runpack.md §11: only reference and raw are capture modes."""
    with pytest.raises(ArtifactInputError, match="capture mode"):
        build_runpack({"run_id": "run_x"}, [], [], capture_mode="full")


def test_unknown_input_keys_never_reach_the_entries() -> None:
    """runpack.md §4: records are projected onto Go's struct fields (extra keys dropped)."""
    run = {"run_id": "run_x", "created_at": "2026-01-01T00:00:00Z", "secret": "s3cr3t"}
    intents = [{"intent_id": "i1", "tool_name": "t", "args": {"a": 1}, "token": "s3cr3t"}]
    runpack = build_runpack(run, intents, [], None)
    assert all(b"s3cr3t" not in data for data in runpack.entries.values())


def test_missing_created_at_uses_injected_clock() -> None:
    """runpack.md §3.1: created_at defaults to now (UTC); the clock is injected."""
    runpack = build_runpack({"run_id": "run_clock"}, [], [], now_ns=1_700_000_000_500_000_000)
    assert runpack.manifest["created_at"] == "2023-11-14T22:13:20.5Z"


def test_write_runpack_is_atomic_0600_with_0750_parents(tmp_path: Path) -> None:
    """runpack.md §2.2: mode 0600, parent dirs 0750, bytes equal zip_bytes()."""
    runpack = demo_runpack()
    target = tmp_path / "a" / "b" / "runpack_run_demo.zip"
    old_umask = os.umask(0)
    try:
        write_runpack(target, runpack)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == runpack.zip_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o750
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_write_runpack_rejects_relative_parent_traversal(in_tmp: Path) -> None:
    """runpack.md §2.2: a relative output path with '..' is refused; nothing is written."""
    with pytest.raises(ArtifactInputError, match="parent"):
        write_runpack(Path("out/../../evil.zip"), demo_runpack())
    assert list(in_tmp.iterdir()) == []


def test_ticket_footer_format_and_contract() -> None:
    """runpack.md §9: exact footer text; the regex needs lowercase hex and equal run ids."""
    footer = ticket_footer("run_demo", GO_DEMO_DIGEST)
    assert footer == (
        f'GAIT run_id=run_demo manifest=sha256:{GO_DEMO_DIGEST} verify="gait verify run_demo"'
    )
    assert footer_is_valid(footer)
    assert not footer_is_valid(ticket_footer("run.demo", GO_DEMO_DIGEST))
    assert not footer_is_valid(ticket_footer("run_demo", GO_DEMO_DIGEST.upper()))
