"""Runpack verification (spec/runpack.md §6.3, §7.3) on Go's runpacks and on tampered copies."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gait_runtime.artifacts.jcs import canonicalize
from gait_runtime.errors import ArtifactInputError, VerificationError
from gait_runtime.runpack import (
    build_runpack,
    manifest_digest,
    read_runpack,
    resolve_runpack_path,
    verify_runpack,
    write_runpack,
)
from gait_runtime.runpack.demo import demo_runpack

from ._helpers import (
    GO_DEMO_DIGEST,
    GO_REFERENCE_DIGEST,
    GO_SIGNED_DIGEST,
    RUNPACK_VECTORS,
    VECTORS,
    entries_of,
    public_key,
    rezip,
)

GO_RUNPACKS = sorted((RUNPACK_VECTORS / "gait-out").glob("*.zip")) + sorted(
    (VECTORS / "sessions/checkpoints").glob("*.zip")
)


@pytest.mark.parametrize("path", GO_RUNPACKS, ids=lambda p: p.name)
def test_every_go_runpack_verifies_and_its_digest_recomputes(path: Path) -> None:
    """Go's runpacks (demo, record vectors, session checkpoints) verify with ours."""
    report = verify_runpack(path)
    assert report.ok
    assert report.missing_files == [] and report.hash_mismatches == []
    manifest = json.loads(entries_of(path.read_bytes())["manifest.json"])
    assert manifest_digest(manifest) == manifest["manifest_digest"] == report.manifest_digest


def test_stored_go_digests_are_the_documented_ones() -> None:
    """runpack.md §5.2: the three Go runpacks carry the documented manifest digests."""
    out = RUNPACK_VECTORS / "gait-out"
    assert verify_runpack(out / "runpack_run_demo.zip").manifest_digest == GO_DEMO_DIGEST
    assert verify_runpack(out / "runpack_run_vec_signed.zip").manifest_digest == GO_SIGNED_DIGEST
    assert (
        verify_runpack(out / "runpack_run_vec_reference.zip").manifest_digest == GO_REFERENCE_DIGEST
    )


def test_signed_go_runpack_verifies_with_the_go_public_key() -> None:
    """verify_signed_pubkey.json: status verified, 1 of 1 signatures valid."""
    report = verify_runpack(
        RUNPACK_VECTORS / "gait-out/runpack_run_vec_signed.zip",
        verify_key=public_key("gait"),
        require_signature=True,
    )
    assert (report.ok, report.signature_status) == (True, "verified")
    assert (report.signatures_total, report.signatures_valid) == (1, 1)


def test_signed_go_runpack_with_other_key_fails_key_id_mismatch() -> None:
    """verify_signed_wrong_key.json: another key gives failed / key id mismatch."""
    report = verify_runpack(
        RUNPACK_VECTORS / "gait-out/runpack_run_vec_signed.zip", verify_key=public_key("other")
    )
    assert not report.ok
    assert report.signature_status == "failed"
    assert report.signature_errors == ["key id mismatch"]
    assert "signatures_valid" not in report.to_json()


def test_unsigned_runpack_with_signature_required_reports_missing() -> None:
    """verify_demo_require_sig.json: status missing, error 'manifest has no signatures'."""
    report = verify_runpack(
        RUNPACK_VECTORS / "gait-out/runpack_run_demo.zip", require_signature=True
    )
    assert not report.ok
    assert report.signature_errors == ["manifest has no signatures"]


def _demo_file(tmp_path: Path) -> Path:
    path = tmp_path / "runpack_run_demo.zip"
    write_runpack(path, demo_runpack())
    return path


def change_one_digit(data: bytes) -> bytes:
    """Change the first ASCII digit after the middle of ``data`` to another digit.

    A digit sits inside a hex digest, a timestamp or a number, so the JSON stays
    valid and only the content changes (one byte).
    """
    for index in range(len(data) // 2, len(data)):
        if 0x30 <= data[index] <= 0x39:
            replacement = 0x30 + (data[index] - 0x30 + 1) % 10
            return data[:index] + bytes([replacement]) + data[index + 1 :]
    raise AssertionError("no digit to change")


ENTRY_NAMES = ["intents.jsonl", "manifest.json", "refs.json", "results.jsonl", "run.json"]


@pytest.mark.parametrize("entry", ENTRY_NAMES)
def test_one_byte_change_in_any_entry_is_caught(tmp_path: Path, entry: str) -> None:
    """Tamper: change one byte of an entry, re-zip: ok is false and the entry is named."""
    entries = dict(demo_runpack().entries)
    entries[entry] = change_one_digit(entries[entry])
    path = tmp_path / "tampered.zip"
    path.write_bytes(rezip(entries))
    report = verify_runpack(path)
    assert not report.ok
    assert entry in [m["path"] for m in report.hash_mismatches]


def test_missing_entry_is_reported(tmp_path: Path) -> None:
    """runpack.md §7.3 step 3: a listed entry absent from the zip goes to missing_files."""
    entries = dict(demo_runpack().entries)
    del entries["results.jsonl"]
    path = tmp_path / "missing.zip"
    path.write_bytes(rezip(entries))
    report = verify_runpack(path)
    assert not report.ok
    assert report.missing_files == ["results.jsonl"]


def test_unlisted_required_entry_is_missing(tmp_path: Path) -> None:
    """runpack.md §7.3 step 4: a required entry not listed in files is missing too."""
    runpack = demo_runpack("0.0.0-dev")
    manifest = json.loads(runpack.entries["manifest.json"])
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "refs.json"]
    manifest["manifest_digest"] = manifest_digest(manifest)
    entries = dict(runpack.entries, **{"manifest.json": json.dumps(manifest).encode()})
    path = tmp_path / "unlisted.zip"
    path.write_bytes(rezip(entries))
    report = verify_runpack(path)
    assert (report.ok, report.missing_files, report.files_checked) == (False, ["refs.json"], 3)


def test_manifest_digest_mismatch_is_a_hash_mismatch(tmp_path: Path) -> None:
    """runpack.md §5.1: a wrong stored digest is reported as manifest.json (expected=stored)."""
    runpack = demo_runpack("0.0.0-dev")
    manifest = json.loads(runpack.entries["manifest.json"])
    manifest["manifest_digest"] = "0" * 64
    entries = dict(runpack.entries, **{"manifest.json": json.dumps(manifest).encode()})
    path = tmp_path / "digest.zip"
    path.write_bytes(rezip(entries))
    report = verify_runpack(path)
    assert report.hash_mismatches == [
        {"path": "manifest.json", "expected": "0" * 64, "actual": GO_DEMO_DIGEST}
    ]


def test_extra_entries_are_ignored(tmp_path: Path) -> None:
    """runpack.md §2.1: entries not referenced by the manifest are neither hashed nor rejected."""
    entries = dict(demo_runpack().entries, **{"notes.txt": b"hello"})
    path = tmp_path / "extra.zip"
    path.write_bytes(rezip(entries))
    assert verify_runpack(path).ok


def test_duplicate_entries_raise_verification_error(tmp_path: Path) -> None:
    """verify_duplicate_entry.json: duplicate names are tampering (exit 2), file named."""
    path = tmp_path / "dup.zip"
    shutil.copy(RUNPACK_VECTORS / "tampered/duplicate_entry.zip", path)
    with pytest.raises(
        VerificationError, match=re.escape("zip contains duplicate entries: run.json")
    ) as info:
        verify_runpack(path)
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text", "not a valid zip"),
        (None, "not a valid zip"),  # truncated
    ],
)
def test_not_a_zip_and_truncated_are_input_errors(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    """runpack.md §7.5: not a zip / truncated archive is exit 6 and names the file."""
    path = tmp_path / "bad.zip"
    data = demo_runpack().zip_bytes()
    path.write_bytes(content if content is not None else data[: len(data) // 2])
    with pytest.raises(ArtifactInputError, match=message) as info:
        verify_runpack(path)
    assert str(path) in info.value.message


def test_manifestless_zip_is_an_input_error(tmp_path: Path) -> None:
    """runpack.md §7.3 step 2: no manifest.json is exit 6."""
    entries = dict(demo_runpack().entries)
    del entries["manifest.json"]
    path = tmp_path / "nomanifest.zip"
    path.write_bytes(rezip(entries))
    with pytest.raises(ArtifactInputError, match=re.escape("no manifest.json")):
        verify_runpack(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schema_id", "gait.other", "unsupported schema_id"),
        ("schema_version", "2.0.0", "unsupported schema_version"),
        ("run_id", "", "run_id is empty"),
        ("files", "all", "files must be an array"),
    ],
)
def test_wrong_manifest_schema_is_an_input_error(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    """runpack.md §5: manifest schema checks fail with exit 6 naming the field."""
    runpack = demo_runpack()
    manifest = dict(runpack.manifest, **{field: value})
    entries = dict(runpack.entries, **{"manifest.json": json.dumps(manifest).encode()})
    path = tmp_path / "schema.zip"
    path.write_bytes(rezip(entries))
    with pytest.raises(ArtifactInputError, match=message):
        verify_runpack(path)


def test_raw_flip_in_entry_data_fails_crc_as_verification_error(tmp_path: Path) -> None:
    """Our CRC choice: an archive that opens but whose entry data is corrupt is exit 2."""
    data = bytearray(demo_runpack().zip_bytes())
    # The first entry's compressed data starts after the 30-byte local header + name.
    name_len = int.from_bytes(data[26:28], "little")
    extra_len = int.from_bytes(data[28:30], "little")
    data[30 + name_len + extra_len + 5] ^= 0xFF
    path = tmp_path / "flip.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match=re.escape("intents.jsonl")) as info:
        verify_runpack(path)
    assert str(path) in info.value.message


def test_every_single_byte_flip_is_rejected_or_harmless(tmp_path: Path) -> None:
    """Sweep: a flip at any offset gives exit 2 or 6, or leaves every entry intact."""
    original = demo_runpack().zip_bytes()
    good = entries_of(original)
    path = tmp_path / "sweep.zip"
    outcomes: set[str] = set()
    for offset in range(len(original)):
        data = bytearray(original)
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            report = verify_runpack(path)
        except VerificationError:
            outcomes.add("2")
            continue
        except ArtifactInputError:
            outcomes.add("6")
            continue
        if report.ok:
            assert entries_of(bytes(data)) == good, offset
            outcomes.add("0")
        else:
            outcomes.add("2")
    assert {"2", "6"} <= outcomes


def test_verify_does_not_modify_the_file(tmp_path: Path) -> None:
    """`gait verify` never modifies what it reads: bytes and mtime unchanged."""
    path = _demo_file(tmp_path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    verify_runpack(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_resolve_run_id_prefers_gait_out_then_home(in_tmp: Path) -> None:
    """runpack.md §7.1: run ids resolve to ./gait-out then ~/.gait/runpacks."""
    home = in_tmp / "home"
    stored = home / ".gait/runpacks/runpack_run_demo.zip"
    write_runpack(stored, demo_runpack())
    assert resolve_runpack_path("run_demo", home=home) == stored
    write_runpack(Path("gait-out/runpack_run_demo.zip"), demo_runpack())
    assert resolve_runpack_path("run_demo", home=home) == Path("gait-out/runpack_run_demo.zip")
    assert resolve_runpack_path("./gait-out/runpack_run_demo.zip") == Path(
        "gait-out/runpack_run_demo.zip"
    )


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("missing/runpack_nope.zip", "runpack not found: missing/runpack_nope.zip"),
        ("nope.ZIP", "runpack not found: nope.ZIP"),
        ("run_nope", "runpack not found for run_id: run_nope"),
    ],
)
def test_resolve_unknown_argument_fails(in_tmp: Path, arg: str, message: str) -> None:
    """errors/out_verify_missing_*.json: the Go messages, exit 6."""
    with pytest.raises(ArtifactInputError) as info:
        resolve_runpack_path(arg, home=in_tmp)
    assert info.value.message == message


def test_read_runpack_strict_reader_accepts_go_runpacks() -> None:
    """runpack.md §12: the strict reader decodes Go's signed runpack."""
    contents = read_runpack(RUNPACK_VECTORS / "gait-out/runpack_run_vec_signed.zip")
    assert contents.run_id == "run_vec_signed"
    assert contents.capture_mode == "raw"
    assert [i["intent_id"] for i in contents.intents] == ["intent_1", "intent_2", "intent_3"]
    assert len(contents.results) == 3
    assert contents.refs["context_ref_count"] == 2


def test_read_runpack_rejects_hash_mismatch_as_verification_error() -> None:
    """runpack.md §12: the strict reader fails on a hash mismatch; as in ``verify`` that is
    a verification failure (exit 2; issue 20 — Go's reader exits 6)."""
    with pytest.raises(VerificationError, match=re.escape("runpack hash mismatch: run.json")):
        read_runpack(RUNPACK_VECTORS / "tampered/run_json_edited.zip")


def test_read_runpack_rejects_required_context_without_digest(tmp_path: Path) -> None:
    """runpack.md §12: context_evidence_mode=required without context_set_digest is an error."""
    runpack = build_runpack(
        {"run_id": "run_ctx", "created_at": "2026-01-01T00:00:00Z"},
        [],
        [],
        {"context_evidence_mode": "required"},
    )
    path = tmp_path / "ctx.zip"
    write_runpack(path, runpack)
    with pytest.raises(ArtifactInputError, match="context_set_digest"):
        read_runpack(path)


_ids = st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=8)
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**52), max_value=2.0**52),
    st.text(max_size=12),
)
_payload = st.dictionaries(st.text(min_size=1, max_size=6), _json_leaf, min_size=1, max_size=4)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(_ids, min_size=0, max_size=5, unique=True),
    payloads=st.lists(_payload, min_size=5, max_size=5),
    statuses=st.lists(st.sampled_from(["ok", "error"]), min_size=5, max_size=5),
    mode=st.sampled_from(["reference", "raw"]),
)
def test_property_build_zip_read_verify_round_trips(
    tmp_path: Path,
    ids: list[str],
    payloads: list[dict[str, object]],
    statuses: list[str],
    mode: str,
) -> None:
    """Hypothesis: any intents/results build → zip → read → verify, deterministically."""
    run = {"run_id": "run_prop", "created_at": "2026-01-01T00:00:00Z"}
    intents = [
        {"intent_id": i, "tool_name": f"tool.{i}", "args": payloads[n]} for n, i in enumerate(ids)
    ]
    results = [
        {"intent_id": i, "status": statuses[n], "result": payloads[-1 - n]}
        for n, i in enumerate(ids)
    ]
    first = build_runpack(run, intents, results, capture_mode=mode)
    second = build_runpack(run, intents, results, capture_mode=mode)
    assert first.zip_bytes() == second.zip_bytes()
    path = tmp_path / "prop.zip"
    write_runpack(path, first)
    report = verify_runpack(path)
    assert report.ok and report.manifest_digest == first.manifest_digest
    contents = read_runpack(path)
    assert [i["intent_id"] for i in contents.intents] == ids
    if mode == "raw":
        # JCS writes numbers in ECMAScript form (5e16 reads back as an int): compare canonically.
        assert [canonicalize(i["args"]) for i in contents.intents] == [
            canonicalize(p) for p in payloads[: len(ids)]
        ]
    else:
        assert all("args" not in i for i in contents.intents)
