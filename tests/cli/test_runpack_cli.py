"""The runpack commands against the Go implementation's recorded outputs (spec/runpack.md §7–§12).

Most tests copy the vector folders into a temp dir with the same layout
(``runpack/``, ``keys/``, ``errors/``, ``sessions/``) and run ``main([...])`` from
the folder the Go commands ran in. With the same argv, the correlation id and the
reported paths are the same as Go's, so whole payloads can be compared; where a
field legitimately differs (our producer version, our longer error texts) the
test compares the remaining fields one by one and says why.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gait_runtime.artifacts.jcs import sha256_hex
from gait_runtime.cli import main
from gait_runtime.cli._hints import HINTS
from gait_runtime.runpack import build_runpack, write_runpack
from gait_runtime.runpack.demo import demo_runpack

from .go_envelope import split_our_hint

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
GAIT = Path(sys.executable).parent / "gait"
GO_DEMO_DIGEST = "436474ad70446539c909ae85bcc156d30197ba68efb8debdaed4f5d2eef2922e"
HEAVY_MODULES = (
    "jsonschema",
    "anyio",
    "trio",
    "hypercorn",
    "opentelemetry",
    "yaml",
    "cryptography",
)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """A copy of the vector folders; the cwd is ``<tmp>/runpack`` like the Go runs."""
    for name in ("runpack", "keys", "errors", "sessions"):
        shutil.copytree(VECTORS / name, tmp_path / name)
    old = Path.cwd()
    os.chdir(tmp_path / "runpack")
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
    """Run with ``--json`` output expected; exactly one line of JSON."""
    code, text = run(*argv)
    assert text.endswith("\n") and text.count("\n") == 1, text
    payload: dict[str, Any] = json.loads(text)
    return code, payload


def golden(relative: str) -> dict[str, Any]:
    """A Go output vector."""
    data: dict[str, Any] = json.loads((VECTORS / relative).read_text())
    return data


GO_VERIFY_CASES = [
    ("verify_demo.json", 0, ["verify", "run_demo", "--json"]),
    ("verify_demo_zip.json", 0, ["verify", "gait-out/runpack_run_demo.zip", "--json"]),
    (
        "verify_demo_require_sig.json",
        2,
        ["verify", "gait-out/runpack_run_demo.zip", "--require-signature", "--json"],
    ),
    ("verify_signed_nokey.json", 0, ["verify", "gait-out/runpack_run_vec_signed.zip", "--json"]),
    (
        "verify_signed_pubkey.json",
        0,
        [
            "verify",
            "gait-out/runpack_run_vec_signed.zip",
            "--public-key",
            "../keys/gait_public.key",
            "--json",
        ],
    ),
    (
        "verify_signed_strict.json",
        0,
        [
            "verify",
            "gait-out/runpack_run_vec_signed.zip",
            "--profile",
            "strict",
            "--public-key",
            "../keys/gait_public.key",
            "--json",
        ],
    ),
    (
        "verify_signed_wrong_key.json",
        2,
        [
            "verify",
            "gait-out/runpack_run_vec_signed.zip",
            "--public-key",
            "../keys/other_public.key",
            "--json",
        ],
    ),
    (
        "verify_tampered_run_json.json",
        2,
        [
            "verify",
            "tampered/run_json_edited.zip",
            "--public-key",
            "../keys/gait_public.key",
            "--json",
        ],
    ),
    (
        "verify_tampered_signature.json",
        2,
        [
            "verify",
            "tampered/signature_altered.zip",
            "--public-key",
            "../keys/gait_public.key",
            "--json",
        ],
    ),
]


@pytest.mark.parametrize(("vector", "exit_code", "argv"), GO_VERIFY_CASES, ids=lambda v: str(v))
def test_verify_matches_go_output(tree: Path, vector: str, exit_code: int, argv: list[str]) -> None:
    """runpack.md §7.4: same argv, same cwd layout ⇒ the very same JSON (path and id included).

    Only ``next_commands`` differs: it is a free-text hint, and we suggest only commands
    this build has (see test_suggested_next_commands_all_work).
    """
    code, payload = run_json(*argv)
    assert code == exit_code
    expected = golden(f"runpack/{vector}")
    assert ("next_commands" in payload) == ("next_commands" in expected)
    payload.pop("next_commands", None)
    expected.pop("next_commands", None)
    if exit_code == 2:  # our addition (issue 20): a failed verify carries the error envelope
        detail = payload.pop("error_detail")
        assert payload.pop("hint") == HINTS[detail]
        assert expected["path"] in payload.pop("error")
        assert payload.pop("error_code") == payload.pop("error_category") == "verification_failed"
        assert payload.pop("retryable") is False
    assert payload == expected


@pytest.mark.parametrize(
    ("vector", "exit_code", "argv"),
    [
        (
            "runpack/verify_signed_strict_nokey.json",
            6,
            ["verify", "gait-out/runpack_run_vec_signed.zip", "--profile", "strict", "--json"],
        ),
        (
            "runpack/verify_duplicate_entry.json",
            2,
            ["verify", "tampered/duplicate_entry.zip", "--json"],
        ),
    ],
)
def test_verify_errors_match_go_envelope(
    tree: Path, vector: str, exit_code: int, argv: list[str]
) -> None:
    """Error envelopes: same exit code and envelope fields; our message may add the file.

    The duplicate-entry message also names the zip ("… (in <path>)"), which Go's
    does not, so ``error`` is compared as a prefix; ``error_detail`` is our extra field.
    """
    code, payload = run_json(*argv)
    expected = golden(vector)
    assert code == exit_code
    assert payload["error"].startswith(expected["error"])
    split_our_hint(payload, expected)
    for key in ("correlation_id", "error_category", "error_code", "ok", "retryable"):
        assert payload[key] == expected[key], key


@pytest.mark.parametrize(
    ("vector", "argv"),
    [
        ("out_verify_missing_path.json", ["verify", "missing/runpack_nope.zip", "--json"]),
        ("out_verify_missing_run_id.json", ["verify", "run_nope", "--json"]),
        ("out_verify_timeout_quirk.json", ["verify", "timeout/runpack.zip", "--json"]),
        ("out_verify_not_a_zip.json", ["verify", "not_a_zip.zip", "--json"]),
    ],
)
def test_verify_input_errors_match_go(tree: Path, vector: str, argv: list[str]) -> None:
    """errors/: not found (path, run id), the 'timeout' quirk (exit 1) and not-a-zip (exit 6).

    Go's not-a-zip text is ``open zip: zip: not a valid zip file``; ours names the file
    instead of repeating "zip:", so only the envelope fields are compared for it.
    """
    os.chdir(tree / "errors")
    code, payload = run_json(*argv)
    expected = golden(f"errors/{vector}")
    assert code == (1 if "timeout" in vector else 6)
    split_our_hint(payload, expected)
    keys = ["correlation_id", "error_category", "error_code", "ok", "retryable"]
    if "not_a_zip" in vector:
        assert "not a valid zip file" in payload["error"] and "not_a_zip.zip" in payload["error"]
    else:
        keys.append("error")
    for key in keys:
        assert payload[key] == expected[key], key


@pytest.mark.parametrize(
    ("vector", "exit_code", "argv"),
    [
        ("inspect_demo.json", 0, ["run", "inspect", "--from", "run_demo", "--json"]),
        (
            "inspect_signed.json",
            0,
            ["run", "inspect", "--from", "gait-out/runpack_run_vec_signed.zip", "--json"],
        ),
        (
            "inspect_reference.json",
            0,
            ["run", "inspect", "gait-out/runpack_run_vec_reference.zip", "--json"],
        ),
        ("receipt_demo.json", 0, ["run", "receipt", "--from", "run_demo", "--json"]),
        (
            "receipt_signed.json",
            0,
            ["run", "receipt", "--from", "gait-out/runpack_run_vec_signed.zip", "--json"],
        ),
        (
            "replay_signed.json",
            0,
            ["run", "replay", "gait-out/runpack_run_vec_signed.zip", "--json"],
        ),
        (
            "diff_signed_vs_reference.json",
            2,
            [
                "run",
                "diff",
                "gait-out/runpack_run_vec_signed.zip",
                "gait-out/runpack_run_vec_reference.zip",
                "--json",
            ],
        ),
        (
            "diff_signed_vs_reference_metadata.json",
            2,
            [
                "run",
                "diff",
                "gait-out/runpack_run_vec_signed.zip",
                "gait-out/runpack_run_vec_reference.zip",
                "--privacy",
                "metadata",
                "--json",
            ],
        ),
    ],
)
def test_consumers_match_go_output(
    tree: Path, vector: str, exit_code: int, argv: list[str]
) -> None:
    """runpack.md §10, §12: inspect, receipt, replay and diff payloads equal Go's."""
    code, payload = run_json(*argv)
    assert code == exit_code
    assert payload == golden(f"runpack/{vector}")


@pytest.mark.parametrize(
    ("vector", "argv"),
    [
        ("inspect_demo.txt", ["run", "inspect", "--from", "run_demo"]),
        ("receipt_demo.txt", ["run", "receipt", "run_demo"]),
        ("verify_demo.txt", ["verify", "run_demo"]),
    ],
)
def test_text_outputs_match_go(tree: Path, vector: str, argv: list[str]) -> None:
    """Text mode: the exact lines Go prints, except the free-text ``next:`` hint line."""
    code, text = run(*argv)
    assert code == 0

    def without_hint(lines: str) -> list[str]:
        return [line for line in lines.splitlines() if not line.startswith("next: ")]

    assert without_hint(text) == without_hint((VECTORS / "runpack" / vector).read_text())


@pytest.mark.parametrize(
    ("vector", "argv", "unzipped"),
    [
        (
            "record_signed.json",
            [
                "run",
                "record",
                "--input",
                "record_input.json",
                "--key-mode",
                "prod",
                "--private-key",
                "../keys/gait_private.key",
                "--json",
            ],
            "signed",
        ),
        (
            "record_reference.json",
            [
                "run",
                "record",
                "--input",
                "record_input.json",
                "--run-id",
                "run_vec_reference",
                "--capture-mode",
                "reference",
                "--json",
            ],
            "reference",
        ),
    ],
)
def test_record_reproduces_go_output_and_entries(
    tree: Path, vector: str, argv: list[str], unzipped: str
) -> None:
    """runpack.md §11: same payload as Go and byte-identical entries in the written zip."""
    import zipfile

    target = Path("gait-out") / f"runpack_{golden('runpack/' + vector)['run_id']}.zip"
    target.unlink()
    code, payload = run_json(*argv)
    assert code == 0
    assert payload == golden(f"runpack/{vector}")
    with zipfile.ZipFile(target) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    folder = VECTORS / "runpack/unzipped" / unzipped
    assert entries == {p.name: p.read_bytes() for p in folder.iterdir()}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_demo_json_matches_go_except_our_digest(in_tmp: Path) -> None:
    """runpack.md §8: same keys as Go; only the digest (our producer version) and duration differ."""
    code, payload = run_json("demo", "--json")
    expected = golden("runpack/demo.json")
    assert code == 0
    hints = {"duration_ms", "next_commands", "metrics_opt_in"}
    assert set(payload) - hints == set(expected) - hints
    for key in set(expected) - {"ticket_footer"} - hints:
        assert payload[key] == expected[key], key
    digest = json.loads(_entries(in_tmp / "gait-out/runpack_run_demo.zip")["manifest.json"])[
        "manifest_digest"
    ]
    assert payload["ticket_footer"] == expected["ticket_footer"].replace(GO_DEMO_DIGEST, digest)
    assert (in_tmp / "gait-out/runpack_run_demo.zip").read_bytes() == demo_runpack().zip_bytes()


def test_demo_text_lines_in_go_order(in_tmp: Path) -> None:
    """runpack.md §8: the contract lines in Go's order; only the digest differs from Go.

    The ``next=`` line is a hint listing commands this build has; Go's adoption-log
    ``metrics_opt_in`` line is not printed because we keep no adoption log.
    """
    code, text = run("demo")
    digest = demo_runpack().manifest_digest
    expected = (VECTORS / "runpack/demo_stdout.txt").read_text().replace(GO_DEMO_DIGEST, digest)
    assert code == 0
    assert text.splitlines()[:5] == expected.splitlines()[:5]
    assert text.splitlines()[5].startswith("next=gait verify run_demo --json,")
    assert len(text.splitlines()) == 6


def test_suggested_next_commands_all_work(in_tmp: Path) -> None:
    """Every command `gait demo` and `gait verify` suggest exits 0 on the demo runpack."""
    code, payload = run_json("demo", "--json")
    assert code == 0
    _, verify_payload = run_json("verify", "run_demo", "--json")
    suggested = [*payload["next_commands"], *verify_payload["next_commands"]]
    assert len(suggested) >= 4
    for command in suggested:
        words = command.split()
        assert words[0] == "gait"
        assert run(*words[1:])[0] == 0, command


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--durable"], "not available in this build"),
        (["--policy"], "requires the gate; not available in this build"),
        (["--durable", "--policy"], "mutually exclusive"),
    ],
)
def test_demo_variants_out_of_scope_exit_6(in_tmp: Path, flags: list[str], message: str) -> None:
    """Our decision: --durable is out of scope and --policy needs the gate: exit 6, nothing written."""
    code, payload = run_json("demo", *flags, "--json")
    assert code == 6
    assert message in payload["error"]
    assert not (in_tmp / "gait-out").exists()


def _entries(path: Path) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _tampered(in_tmp: Path, case: str) -> Path:
    """Write one tampered demo runpack into ``in_tmp`` and return its path."""
    from gait_runtime.artifacts.zipdet import write_zip

    runpack = demo_runpack()
    entries = dict(runpack.entries)
    path = in_tmp / f"{case}.zip"
    if case == "missing_entry":
        del entries["refs.json"]
    elif case == "digest_mismatch":
        manifest = dict(runpack.manifest, manifest_digest="f" * 64)
        entries["manifest.json"] = json.dumps(manifest).encode()
    elif case == "edited_entry":
        entries["run.json"] = entries["run.json"].replace(b'"demo"', b'"dem0"', 1)
    elif case == "other_key":
        from gait_runtime.artifacts.keys import KeySource, load_private

        other = load_private(KeySource(str(VECTORS / "keys/other_private.key")))
        run, intents, results, refs = __import__(
            "gait_runtime.runpack.demo", fromlist=["demo_inputs"]
        ).demo_inputs()
        entries = dict(build_runpack(run, intents, results, refs, signing_key=other).entries)
    elif case == "crc":
        data = bytearray(runpack.zip_bytes())
        name_len = int.from_bytes(data[26:28], "little")
        extra_len = int.from_bytes(data[28:30], "little")
        data[30 + name_len + extra_len + 3] ^= 0xFF
        path.write_bytes(bytes(data))
        return path
    elif case == "truncated":
        path.write_bytes(runpack.zip_bytes()[:-40])
        return path
    elif case == "not_zip":
        path.write_bytes(b"definitely not a zip\n")
        return path
    elif case == "duplicate":
        shutil.copy(VECTORS / "runpack/tampered/duplicate_entry.zip", path)
        return path
    path.write_bytes(write_zip(entries))
    return path


TAMPER_CASES = [
    ("missing_entry", 2, "verify failed", "missing files: refs.json"),
    ("digest_mismatch", 2, "verify failed", "hash mismatches: 1"),
    ("edited_entry", 2, "verify failed", "hash mismatches: 1"),
    ("other_key", 2, "verify failed", "signature errors: key id mismatch"),
    ("crc", 2, "verify error: zip entry intents.jsonl", "checksum"),
    ("truncated", 6, "verify error: open zip: not a valid zip file", ""),
    ("not_zip", 6, "verify error: open zip: not a valid zip file", ""),
    ("duplicate", 2, "verify error: zip contains duplicate entries: run.json", ""),
]


@pytest.mark.parametrize(("case", "exit_code", "first", "detail"), TAMPER_CASES)
def test_tampered_runpacks_fail_with_documented_exit_and_named_file(
    in_tmp: Path, case: str, exit_code: int, first: str, detail: str
) -> None:
    """Tamper table: exit code, a first line naming the problem and the file, JSON envelope,
    and verify leaves the file's bytes and mtime unchanged."""
    path = _tampered(in_tmp, case)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    key = ["--public-key", str(VECTORS / "keys/gait_public.key")] if case == "other_key" else []
    code, text = run("verify", str(path), *key)
    lines = text.splitlines()
    assert code == exit_code
    assert lines[0].startswith(first) and str(path) in lines[0]
    assert detail in text
    if exit_code == 6 or case in ("crc", "duplicate"):
        assert len(lines) == 2 and lines[1].startswith("hint: ")  # hard errors: message, hint
    code_json, payload = run_json("verify", str(path), *key, "--json")
    assert code_json == exit_code
    assert payload["ok"] is False
    if "error" in payload:
        assert payload["error_code"] == (
            "invalid_input" if exit_code == 6 else "verification_failed"
        )
        assert str(path) in payload["error"]
    else:
        assert payload["path"] == str(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@pytest.mark.parametrize(
    "entry", ["intents.jsonl", "manifest.json", "refs.json", "results.jsonl", "run.json"]
)
def test_one_byte_change_per_entry_exits_2_naming_it(in_tmp: Path, entry: str) -> None:
    """Tamper: a one-byte change of any demo entry (re-zipped) exits 2 and names the entry."""
    from gait_runtime.artifacts.zipdet import write_zip

    from ..runpack.test_verify import change_one_digit

    entries = dict(demo_runpack().entries)
    entries[entry] = change_one_digit(entries[entry])
    path = in_tmp / "gait-out/runpack_run_demo.zip"
    path.parent.mkdir()
    path.write_bytes(write_zip(entries))
    code, payload = run_json("verify", "run_demo", "--json")
    assert code == 2 and payload["ok"] is False
    assert entry in [m["path"] for m in payload["hash_mismatches"]]
    code, text = run("verify", "run_demo")
    assert (code, text.splitlines()[0]) == (2, "verify failed: gait-out/runpack_run_demo.zip")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["verify", "nowhere/runpack_x.zip"],
            "verify error: runpack not found: nowhere/runpack_x.zip",
        ),
        (["verify", "run_nothing"], "verify error: runpack not found for run_id: run_nothing"),
        (["verify"], "verify error: missing required <run_id|path>"),
        (["verify", "run_demo", "--profile", "paranoid"], "verify error: unsupported --profile"),
        (
            ["verify", "gait-out/runpack_run_demo.zip", "--public-key", "nokey.pub"],
            "verify error: read public key nokey.pub",
        ),
    ],
)
def test_verify_usage_and_lookup_errors_exit_6(in_tmp: Path, argv: list[str], message: str) -> None:
    """runpack.md §7.5: usage errors, unresolvable paths and bad keys exit 6, one line."""
    write_runpack(in_tmp / "gait-out/runpack_run_demo.zip", demo_runpack())
    code, text = run(*argv)
    assert code == 6
    assert text.startswith(message) and text.count("\n") == 2
    assert text.splitlines()[1].startswith("hint: ")


def test_verify_with_private_key_derives_the_public_key(tree: Path) -> None:
    """runpack.md §7.2: --private-key derives the verify key."""
    code, payload = run_json(
        "verify",
        "gait-out/runpack_run_vec_signed.zip",
        "--private-key",
        "../keys/gait_private.key",
        "--json",
    )
    assert (code, payload["signature_status"], payload["signatures_valid"]) == (0, "verified", 1)


def test_verify_resolves_run_id_from_home_runpacks(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runpack.md §7.1: run ids fall back to ~/.gait/runpacks/."""
    monkeypatch.setenv("HOME", str(in_tmp / "home"))
    stored = in_tmp / "home/.gait/runpacks/runpack_run_demo.zip"
    write_runpack(stored, demo_runpack())
    code, payload = run_json("verify", "run_demo", "--json")
    assert code == 0
    assert payload["path"] == str(stored)


def test_session_checkpoint_runpack_verify_matches_go(tree: Path) -> None:
    """sessions/out/17_verify_cp1.json: checkpoint runpacks are ordinary runpacks."""
    os.chdir(tree / "sessions")
    code, payload = run_json("verify", "checkpoints/cp_0001.zip", "--json")
    assert code == 0
    expected = golden("sessions/out/17_verify_cp1.json")
    assert payload.pop("next_commands")[0].startswith("gait run inspect")  # hint, see above
    expected.pop("next_commands")
    assert payload == expected


def test_inspect_and_diff_of_session_chains_match_go(tree: Path) -> None:
    """sessions/out/16 and 18: inspect a chain file and diff two identical chains."""
    os.chdir(tree / "sessions")
    code, payload = run_json("run", "inspect", "journal/demo.journal_chain.json", "--json")
    assert code == 0
    assert payload == golden("sessions/out/16_inspect_chain.json")
    code, payload = run_json(
        "run", "diff", "journal/demo.journal_chain.json", "chain/demo_chain_copy.json", "--json"
    )
    assert code == 0
    assert payload == golden("sessions/out/18_diff_chain.json")


def test_chain_diff_reports_changed_checkpoints(tree: Path) -> None:
    """sessions.md §8: a different checkpoint digest is a change (exit 2), named by index."""
    os.chdir(tree / "sessions")
    chain = json.loads(Path("journal/demo.journal_chain.json").read_text())
    chain["checkpoints"][1]["checkpoint_digest"] = "0" * 64
    chain["checkpoints"].append(dict(chain["checkpoints"][0], checkpoint_index=3))
    Path("changed_chain.json").write_text(json.dumps(chain))
    code, payload = run_json(
        "run", "diff", "journal/demo.journal_chain.json", "changed_chain.json", "--json"
    )
    assert code == 2
    assert payload["summary"]["files_changed"] == ["checkpoint_2", "right_only_checkpoint_3"]
    assert payload["summary"]["refs_changed"] is True


def _raw_runpack(path: Path, intents: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    run_doc = {"run_id": "run_real", "created_at": "2026-01-01T00:00:00Z"}
    write_runpack(path, build_runpack(run_doc, intents, results, capture_mode="raw"))


@pytest.mark.parametrize(
    ("flags", "env", "exit_code", "message"),
    [
        (["--real-tools"], {}, 8, "requires --unsafe-real-tools"),
        (["--real-tools", "--unsafe-real-tools"], {}, 8, "requires --allow-tools"),
        (
            ["--real-tools", "--unsafe-real-tools", "--allow-tools", "echo"],
            {"GAIT_ALLOW_REAL_REPLAY": "yes"},
            8,
            "GAIT_ALLOW_REAL_REPLAY=1",
        ),
        (
            [
                "--real-tools",
                "--unsafe-real-tools",
                "--allow-tools",
                "echo",
                "--unsafe-real-tools-env",
                "MY_GATE",
            ],
            {"GAIT_ALLOW_REAL_REPLAY": "1"},
            8,
            "MY_GATE=1",
        ),
    ],
)
def test_real_replay_needs_every_opt_in(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    env: dict[str, str],
    exit_code: int,
    message: str,
) -> None:
    """runpack.md §12.2: each missing opt-in blocks real replay with exit 8."""
    monkeypatch.delenv("GAIT_ALLOW_REAL_REPLAY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write_runpack(in_tmp / "gait-out/runpack_run_demo.zip", demo_runpack())
    code, payload = run_json("run", "replay", "run_demo", *flags, "--json")
    assert code == exit_code
    assert message in payload["error"]
    assert payload["error_code"] == "unsafe_operation"
    assert payload.get("requested_unsafe", False) is ("--unsafe-real-tools" in flags)


def test_unsafe_replay_vector_matches_go(tree: Path) -> None:
    """errors/out_replay_real_tools_unsafe.json: exit 8 envelope, same message."""
    os.chdir(tree / "errors")
    code, payload = run_json(
        "run", "replay", "../runpack/gait-out/runpack_run_demo.zip", "--real-tools", "--json"
    )
    expected = golden("errors/out_replay_real_tools_unsafe.json")
    assert code == 8
    for key in ("correlation_id", "error", "error_category", "error_code", "hint", "ok"):
        assert payload[key] == expected[key], key


def test_real_replay_of_reference_runpack_is_input_error(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runpack.md §12.2: real mode needs raw args; a reference runpack exits 6."""
    monkeypatch.setenv("GAIT_ALLOW_REAL_REPLAY", "1")
    write_runpack(in_tmp / "gait-out/runpack_run_demo.zip", demo_runpack())
    code, payload = run_json(
        "run", "replay", "run_demo", "--real-tools", "--unsafe-real-tools", "--allow-tools",
        "tool.search", "--json",
    )  # fmt: skip
    assert code == 6
    assert "raw" in payload["error"]


def test_unsafe_flag_alone_is_stub_replay(in_tmp: Path) -> None:
    """runpack.md §12.2: --unsafe-real-tools without --real-tools is a stub replay."""
    write_runpack(in_tmp / "gait-out/runpack_run_demo.zip", demo_runpack())
    code, payload = run_json("run", "replay", "run_demo", "--unsafe-real-tools", "--json")
    assert code == 0
    assert payload["mode"] == "stub" and payload["requested_unsafe"] is True


def test_real_replay_executes_only_allow_listed_builtins(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runpack.md §12.2: echo, file write and shell run for real; others fall back to stubs."""
    monkeypatch.setenv("GAIT_ALLOW_REAL_REPLAY", "1")
    intents = [
        {"intent_id": "e", "tool_name": "echo", "args": {"message": "hello"}},
        {"intent_id": "w", "tool_name": "file.write", "args": {"path": "out.txt", "content": "hi"}},
        {"intent_id": "s", "tool_name": "shell.exec", "args": {"command": "printf abc"}},
        {"intent_id": "f", "tool_name": "shell.exec", "args": {"command": "exit 3"}},
        {"intent_id": "n", "tool_name": "tool.echo", "args": {"message": "not allowed"}},
    ]
    _raw_runpack(in_tmp / "real.zip", intents, [])
    code, payload = run_json(
        "run", "replay", "real.zip", "--real-tools", "--unsafe-real-tools",
        "--allow-tools", "ECHO,file.write,shell.exec", "--json",
    )  # fmt: skip
    steps = {s["intent_id"]: s for s in payload["steps"]}
    assert (in_tmp / "out.txt").read_text() == "hi"
    assert steps["e"] == {
        "intent_id": "e",
        "tool_name": "echo",
        "status": "ok",
        "execution": "executed",
        "result_digest": sha256_hex(b"hello"),
    }
    assert steps["w"]["result_digest"] == sha256_hex(b"hi")
    assert steps["s"]["result_digest"] == sha256_hex(b"abc")
    assert (steps["f"]["status"], steps["f"]["result_digest"]) == (
        "error",
        sha256_hex(b"exit status 3"),
    )
    assert steps["n"]["execution"] == "missing"  # tool.echo was not allow-listed
    assert payload["warnings"] == ["allow_tools=ECHO,file.write,shell.exec"]
    assert (code, payload["mode"], payload["missing_results"]) == (2, "real", ["n"])


def test_stub_replay_classifies_tools_and_reports_missing(in_tmp: Path) -> None:
    """runpack.md §12.2: stub digests from the documented preimage; unknown tools are missing."""
    intents = [
        {"intent_id": "a", "tool_name": " HTTP.Get ", "args": {"u": 1}},
        {"intent_id": "b", "tool_name": "sql.run", "args": {"q": 1}},
        {"intent_id": "c", "tool_name": "mystery", "args": {"x": 1}},
    ]
    _raw_runpack(in_tmp / "stub.zip", intents, [])
    code, payload = run_json("run", "replay", "stub.zip", "--json")
    steps = payload["steps"]
    args_digest = json.loads(_entries(in_tmp / "stub.zip")["intents.jsonl"].splitlines()[0])[
        "args_digest"
    ]
    preimage = f"run_real:a:http.get:{args_digest}:http"
    assert steps[0]["result_digest"] == sha256_hex(preimage.encode())
    assert (steps[0]["stub_type"], steps[1]["stub_type"]) == ("http", "db")
    assert steps[2] == {
        "intent_id": "c",
        "tool_name": "mystery",
        "status": "missing_result",
        "execution": "missing",
    }
    assert (code, payload["ok"], payload["missing_results"]) == (2, False, ["c"])


def test_replay_rejects_duplicate_intents(in_tmp: Path) -> None:
    """runpack.md §12.2 step 1: duplicate intent ids are an input error (exit 6)."""
    intents = [
        {"intent_id": "a", "tool_name": "t", "args": {"x": 1}},
        {"intent_id": "a", "tool_name": "t", "args": {"x": 2}},
    ]
    _raw_runpack(in_tmp / "dup.zip", intents, [])
    code, text = run("run", "replay", "dup.zip")
    assert code == 6
    assert "duplicate intent_id a" in text and "dup.zip" in text


def test_diff_identical_is_ok_and_output_file_is_written(in_tmp: Path) -> None:
    """runpack.md §12.3: identical runpacks exit 0; --output writes compact JSON, mode 0600."""
    write_runpack(in_tmp / "a.zip", demo_runpack())
    write_runpack(in_tmp / "b.zip", demo_runpack())
    code, payload = run_json("run", "diff", "a.zip", "b.zip", "--output", "diff.json", "--json")
    assert code == 0 and payload["ok"] is True
    written = (in_tmp / "diff.json").read_bytes()
    assert not written.endswith(b"\n")
    assert json.loads(written) == {"privacy": "full", "summary": payload["summary"]}
    assert stat.S_IMODE((in_tmp / "diff.json").stat().st_mode) == 0o600
    code, text = run("run", "diff", "a.zip", "b.zip")
    assert text == "diff ok: a.zip vs b.zip\n"


def test_diff_classifies_runtime_only_context_drift(in_tmp: Path) -> None:
    """runpack.md §12.3: receipts differing only in retrieved_at are runtime_only drift (exit 2)."""
    from gait_runtime.runpack.demo import demo_inputs

    run_doc, intents, results, refs = demo_inputs()
    write_runpack(in_tmp / "a.zip", build_runpack(run_doc, intents, results, refs))
    refs["receipts"][0]["retrieved_at"] = "2026-02-06T00:00:00Z"
    write_runpack(in_tmp / "b.zip", build_runpack(run_doc, intents, results, refs))
    code, payload = run_json("run", "diff", "a.zip", "b.zip", "--json")
    summary = payload["summary"]
    assert code == 2
    assert summary["refs_changed"] is True
    assert summary["context_drift_classification"] == "runtime_only"
    assert summary["context_runtime_only_changes"] is True
    refs["receipts"][0]["source_locator"] = "elsewhere"
    write_runpack(in_tmp / "c.zip", build_runpack(run_doc, intents, results, refs))
    _, payload = run_json("run", "diff", "a.zip", "c.zip", "--privacy=metadata", "--json")
    assert payload["summary"]["context_drift_classification"] == "none"
    _, payload = run_json("run", "diff", "a.zip", "c.zip", "--json")
    assert payload["summary"]["context_drift_classification"] == "semantic"


def test_diff_bad_privacy_is_usage_error(in_tmp: Path) -> None:
    """runpack.md §12.3: --privacy takes full or metadata."""
    write_runpack(in_tmp / "a.zip", demo_runpack())
    code, text = run("run", "diff", "a.zip", "a.zip", "--privacy", "secret")
    assert code == 6 and "--privacy" in text


def _write_input(path: Path, **changes: Any) -> None:
    doc = json.loads((VECTORS / "runpack/record_input.json").read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("argv", "changes", "message"),
    [
        (["--capture-mode", "full"], {}, "unsupported capture mode"),
        ([], {"capture_mode": "everything"}, "unsupported capture mode"),
        (
            [],
            {
                "refs": {
                    "receipts": [
                        {
                            "ref_id": "r",
                            "source_type": "http",
                            "source_locator": "x",
                            "query_digest": "a" * 64,
                            "content_digest": "b" * 64,
                            "redaction_mode": "RAW",
                        }
                    ]
                }
            },
            "--unsafe-context-raw",
        ),
        (["--context-envelope", "env.json"], {}, "--context-envelope"),
        (["--key-mode", "dev", "--private-key", "k"], {}, "dev mode does not accept"),
        (["--key-mode", "prod"], {}, "prod mode requires a private key source"),
        (["--run-id", "../escape"], {}, "cannot name a runpack file"),
        (["--context-evidence-mode", "required"], {}, "needs refs.context_set_digest"),
        ([], {"run": {"created_at": "2026-01-01T00:00:00Z"}}, "run.run_id is required"),
    ],
)
def test_record_input_errors_exit_6_and_write_nothing(
    in_tmp: Path, argv: list[str], changes: dict[str, Any], message: str
) -> None:
    """runpack.md §11: bad capture modes, raw receipts, bad keys and bad run ids exit 6."""
    _write_input(in_tmp / "in.json", **changes)
    code, text = run("run", "record", "--input", "in.json", *argv)
    assert code == 6
    assert message in text and text.count("\n") == 2
    assert text.splitlines()[1].startswith("hint: ")
    assert not (in_tmp / "gait-out").exists()


def test_record_dev_key_signs_and_warns(in_tmp: Path) -> None:
    """runpack.md §11 / signing.md §7: dev mode signs with an ephemeral key and warns."""
    _write_input(in_tmp / "in.json")
    code, payload = run_json(
        "run", "record", "in.json", "--key-mode", "dev", "--out-dir", "packs", "--json"
    )
    assert code == 0
    assert payload["signature_status"] == "signed"
    assert payload["bundle"] == "./packs/runpack_run_vec_signed.zip"
    assert any("ephemeral keypair" in w for w in payload["warnings"])
    code, text = run("verify", "packs/runpack_run_vec_signed.zip")
    assert code == 0 and "signature status: skipped" in text


def test_record_twice_gives_identical_zips(in_tmp: Path) -> None:
    """runpack.md §2.2: recording the same run twice writes byte-identical zips."""
    _write_input(in_tmp / "in.json")
    run("run", "record", "in.json", "--out-dir", "one")
    run("run", "record", "in.json", "--out-dir", "two")
    one = (in_tmp / "one/runpack_run_vec_signed.zip").read_bytes()
    assert one == (in_tmp / "two/runpack_run_vec_signed.zip").read_bytes()


def test_receipt_of_tampered_runpack_exits_2(tree: Path) -> None:
    """runpack.md §10: a runpack with hash mismatches gives no receipt (exit 2)."""
    code, text = run("run", "receipt", "tampered/run_json_edited.zip")
    assert code == 2
    assert text == (
        "run receipt error: runpack verification failed (hash mismatch: run.json): "
        "tampered/run_json_edited.zip\n"
        f"hint: {HINTS['runpack_hash_mismatch']}\n"
    )


def test_inspect_of_tampered_runpack_is_strict_reader_error(tree: Path) -> None:
    """runpack.md §12: consumers use the strict reader; a hash mismatch is a verification
    failure, exit 2 as in ``verify`` (issue 20: one rule; Go exits 6 here)."""
    code, text = run("run", "inspect", "tampered/run_json_edited.zip")
    assert code == 2
    assert "runpack hash mismatch: run.json in tampered/run_json_edited.zip" in text


def test_explain_prints_one_line(in_tmp: Path) -> None:
    """runpack.md §7.2: --explain prints one descriptive line and exits 0."""
    code, text = run("verify", "--explain")
    assert code == 0 and text.count("\n") == 1 and "verifies a runpack" in text


# --- real subprocesses: the installed `gait` console script ------------------------------


def _gait(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GAIT_DEBUG"}
    env["HOME"] = str(cwd)
    return subprocess.run(
        [str(GAIT), *argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )


def test_installed_gait_exit_codes(tmp_path: Path) -> None:
    """The console script maps outcomes to exit codes 0, 2 and 6 like Go."""
    assert _gait(tmp_path, "demo").returncode == 0
    assert _gait(tmp_path, "verify", "run_demo").returncode == 0
    assert _gait(tmp_path, "verify", "run_missing").returncode == 6
    bad = tmp_path / "gait-out/runpack_run_demo.zip"
    data = bytearray(bad.read_bytes())
    name_len = int.from_bytes(data[26:28], "little")
    extra_len = int.from_bytes(data[28:30], "little")
    data[30 + name_len + extra_len + 3] ^= 0xFF
    bad.write_bytes(bytes(data))
    done = _gait(tmp_path, "verify", "run_demo", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error_code"] == "verification_failed"


def test_demo_in_two_processes_writes_identical_bytes(tmp_path: Path) -> None:
    """runpack.md §2.2: `gait demo` in two processes and two dirs gives the same zip bytes."""
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    assert _gait(first, "demo").returncode == 0
    assert _gait(second, "demo").returncode == 0
    one = (first / "gait-out/runpack_run_demo.zip").read_bytes()
    assert one == (second / "gait-out/runpack_run_demo.zip").read_bytes()


def test_demo_and_verify_do_not_import_heavy_modules(tmp_path: Path) -> None:
    """Start-up budget: `gait demo` and `gait verify` never import the server/telemetry stack."""
    script = (
        "import sys\n"
        "from gait_runtime.cli import main\n"
        "assert main(['demo']) == 0\n"
        "assert main(['verify', 'run_demo']) == 0\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print('LOADED=' + ','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "LOADED="


def test_receipt_footer_contract_failure_exits_1(in_tmp: Path) -> None:
    """runpack.md §9–§10: a run id the footer regex cannot carry ('.') fails with exit 1."""
    runpack = build_runpack({"run_id": "run.dot", "created_at": "2026-01-01T00:00:00Z"}, [], [])
    write_runpack(in_tmp / "dot.zip", runpack)
    code, payload = run_json("run", "receipt", "dot.zip", "--json")
    assert code == 1
    assert payload["error"] == "ticket footer contract validation failed: dot.zip"
    assert payload["error_code"] == "internal_failure"
