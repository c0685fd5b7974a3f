"""Journal records, reader validation (sessions.md §2.4), state and chain files (§4.4, §6)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gait_runtime.artifacts.timefmt import format_ns, parse_rfc3339
from gait_runtime.errors import SessionInputError
from gait_runtime.supervisor.journal.records import (
    Envelope,
    EventFields,
    build_event,
    checkpoint_digest,
    decode_event_fields,
    encode_events,
    encode_line,
    event_relationship,
    normalize_fields,
)
from gait_runtime.supervisor.journal.records import _cached_relationship as _cached_relationship
from gait_runtime.supervisor.journal.records import _time_text as _time_text
from gait_runtime.supervisor.journal.scan import (
    chain_bytes,
    chain_path_for,
    load_state,
    scan_journal,
    split_torn_tail,
    state_bytes,
)

S = "sessions/journal"


def _lines(vectors: Path, name: str) -> list[bytes]:
    return (vectors / S / name).read_bytes().splitlines()


@pytest.mark.parametrize("name", ["demo.journal.jsonl", "precompact.journal.jsonl.txt"])
def test_go_journals_parse_verify_and_reencode_byte_identically(vectors: Path, name: str) -> None:
    """§2: every Go line decodes and re-encodes to the same bytes (Go field order)."""
    data = (vectors / S / name).read_bytes()
    scan = scan_journal(data)
    assert scan.header.session_id == "sess_demo"
    assert scan.last_sequence == 5
    assert [c.checkpoint_index for c in scan.checkpoints] == [1, 2]
    for line in data.splitlines():
        assert encode_line(msgspec.json.decode(line, type=Envelope)) == line + b"\n"


def test_event_we_build_equals_go_event_line(vectors: Path) -> None:
    """§2.2/§2.5: normalisation and the relationship envelope reproduce Go's event 2."""
    fields = normalize_fields(
        EventFields(
            tool_name=" fs.delete_file ",
            verdict="BLOCK",
            intent_id="intent_del",
            trace_id="a96abf0ef8fdcdff06fbb061",
            trace_path="traces/trace_destructive_apply.json",
            intent_digest="A020142131140191ACF15A5E940CF9C4DAC82DBBB290F46FB4658D436CFB812D",
            policy_digest="8b0e81167844ad3261fc448ec015409c72ec457495bd34a05104654172ba9fc9",
            reason_codes=(
                "destructive_apply_requires_approval",
                " matched_rule_allow_fs_ops",
                "destructive_apply_requires_approval",
                " ",
            ),
            violations=("approval_not_granted",),
        )
    )
    t = parse_rfc3339("2026-11-21T11:00:32.173655516Z").unix_ns
    record = build_event("sess_demo", "run_sess_demo", 2, fields, t, "0.0.0-dev")
    line = encode_line(Envelope("event", event=record))
    assert line == _lines(vectors, "precompact.journal.jsonl.txt")[2] + b"\n"


def test_decode_event_fields_rejects_non_json_with_a_stable_code() -> None:
    """Bad input: a payload that is not JSON is refused with session_event_invalid."""
    with pytest.raises(SessionInputError) as info:
        decode_event_fields(b"{not json", source="request body")
    assert info.value.error_code == "session_event_invalid"
    assert info.value.message.startswith("request body: invalid session event payload")
    with pytest.raises(SessionInputError, match="tool_name"):
        decode_event_fields(b'{"tool_name": " ", "verdict": "allow"}')
    ok = decode_event_fields(b'{"tool_name": "t", "verdict": "Allow", "reason_codes": ["b","a"]}')
    assert (ok.verdict, ok.reason_codes) == ("allow", ("a", "b"))


def _mutate(vectors: Path, index: int, path: tuple[str, ...], value: object) -> bytes:
    lines = _lines(vectors, "precompact.journal.jsonl.txt")
    doc = json.loads(lines[index])
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    lines[index] = json.dumps(doc).encode()
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize(
    ("index", "path", "value", "message"),
    [
        (1, ("event", "sequence"), 7, "session event sequence mismatch line 2: got 7 want 1"),
        (1, ("event", "session_id"), "other", "session event identity mismatch line 2"),
        (1, ("record_type",), "note", "unsupported session record type line 2: 'note'"),
        (1, ("record_type",), "checkpoint", "missing session checkpoint payload line 2"),
        (3, ("checkpoint", "checkpoint_index"), 2, "session checkpoint index mismatch line 4"),
        (3, ("checkpoint", "sequence_start"), 0, "invalid session checkpoint range line 4"),
        (3, ("checkpoint", "run_id"), "x", "session checkpoint identity mismatch line 4"),
        (3, ("checkpoint", "checkpoint_digest"), "0" * 64, "session checkpoint digest mismatch"),
        (6, ("checkpoint", "prev_checkpoint_digest"), "", "session checkpoint prev digest"),
        (6, ("checkpoint", "sequence_start"), 2, "session checkpoint sequence overlap line 7"),
        (0, ("header", "run_id"), "", "session journal header requires session_id and run_id"),
        (1, ("event", "created_at"), "yesterday", "parse session journal line 2"),
    ],
)
def test_reader_rejects_each_rule_of_section_2_4(
    vectors: Path, index: int, path: tuple[str, ...], value: object, message: str
) -> None:
    """§2.4: every rule of Go's reader, with a message naming the line."""
    data = _mutate(vectors, index, path, value)
    with pytest.raises(SessionInputError) as info:
        scan_journal(data)
    assert info.value.error_code == "session_journal_invalid"
    assert info.value.message.startswith(message)


def test_reader_rejects_missing_or_duplicate_header_and_records_before_it(vectors: Path) -> None:
    """§2.4: exactly one header, first."""
    lines = _lines(vectors, "precompact.journal.jsonl.txt")
    with pytest.raises(SessionInputError, match="record before header line 1"):
        scan_journal(b"\n".join(lines[1:]) + b"\n")
    with pytest.raises(SessionInputError, match="duplicate session journal header line 2"):
        scan_journal(b"\n".join([lines[0], *lines]) + b"\n")
    with pytest.raises(SessionInputError, match="missing header"):
        scan_journal(b"\n\n")


def test_hand_edited_gap_names_line_got_and_expected(vectors: Path) -> None:
    """A sequence gap is reported with line, got and expected (never repaired)."""
    lines = _lines(vectors, "precompact.journal.jsonl.txt")
    del lines[4]  # event 3
    with pytest.raises(SessionInputError) as info:
        scan_journal(b"\n".join(lines) + b"\n")
    assert info.value.details == {"line": 5, "got": 4, "expected": 3}


def test_blank_lines_are_skipped_but_counted(vectors: Path) -> None:
    """§2: blank lines are skipped; line numbers still count them (like Go's scanner)."""
    lines = _lines(vectors, "precompact.journal.jsonl.txt")
    data = b"\n".join([lines[0], b"", *lines[1:]]) + b"\n"
    assert scan_journal(data).event_count == 5
    broken = b"\n".join([lines[0], b"", lines[2]]) + b"\n"
    with pytest.raises(SessionInputError, match="line 3: got 2 want 1"):
        scan_journal(broken)


@pytest.mark.parametrize(
    ("tail", "torn"),
    [
        (b"", b""),
        (b'{"record_type":"ev', b'{"record_type":"ev'),
        (b'{"record_type":"event","event":{"sequence":6}}\n', b""),
        (b'{"record_type": broken}\n', b'{"record_type": broken}\n'),
    ],
)
def test_split_torn_tail(vectors: Path, tail: bytes, torn: bytes) -> None:
    """Recovery: bytes after the last newline, or a last line that is not JSON, are torn."""
    data = (vectors / S / "precompact.journal.jsonl.txt").read_bytes()
    good, got = split_torn_tail(data + tail)
    assert got == torn
    assert good == len(data + tail) - len(torn)


def test_state_file_reencodes_go_state_and_trust_rule(vectors: Path, tmp_path: Path) -> None:
    """§6: Go's state round-trips byte for byte; trusted only when the size matches."""
    path = vectors / S / "demo.journal.jsonl.state.json"
    state = load_state(path, 3556)
    assert state is not None
    assert state_bytes(state) == path.read_bytes()
    assert load_state(path, 3557) is None
    bad = tmp_path / "s.json"
    bad.write_text(path.read_text().replace("gait.runpack.session_state", "other"))
    assert load_state(bad, 3556) is None


def test_state_left_by_go_compaction_defect_is_corrected(vectors: Path) -> None:
    """§5: a state with last_sequence below last_checkpoint_sequence is lifted on read."""
    state = load_state(vectors / "sessions/defect/state_after_compact.json.txt", 1534)
    assert state is not None
    assert state.last_sequence == 2


def test_chain_file_is_a_projection_of_the_journal(vectors: Path) -> None:
    """§4.4: the chain we derive from Go's journal equals Go's chain file byte for byte."""
    scan = scan_journal((vectors / S / "demo.journal.jsonl").read_bytes())
    data = chain_bytes(scan.header, scan.header.producer_version, scan.checkpoints)
    assert data == (vectors / S / "demo.journal_chain.json").read_bytes()
    assert chain_path_for(Path("journal/demo.journal.jsonl")) == Path(
        "journal/demo.journal_chain.json"
    )


def test_state_and_chain_escape_html_characters_as_go_does(vectors: Path) -> None:
    """State and chain files are Go ``MarshalIndent`` bytes: ``&`` in a run id is ``\\u0026``."""
    scan = scan_journal((vectors / S / "demo.journal.jsonl").read_bytes())
    header = msgspec.structs.replace(scan.header, run_id="run_a&b<c>")
    chain = chain_bytes(header, header.producer_version, scan.checkpoints)
    assert b'"run_id": "run_a\\u0026b\\u003cc\\u003e"' in chain
    assert json.loads(chain)["run_id"] == "run_a&b<c>"
    state = load_state(vectors / S / "demo.journal.jsonl.state.json", 3556)
    assert state is not None
    data = state_bytes(msgspec.structs.replace(state, run_id="run_a&b"))
    assert b'"run_id": "run_a\\u0026b"' in data


def test_checkpoint_digest_formula_matches_go_chain(vectors: Path) -> None:
    """§4.3: sha256("<manifest>:<prev>:<index>:<start>:<end>") reproduces Go's digests."""
    chain = json.loads((vectors / S / "demo.journal_chain.json").read_text())
    for cp in chain["checkpoints"]:
        assert cp["checkpoint_digest"] == checkpoint_digest(
            cp["manifest_digest"],
            cp.get("prev_checkpoint_digest", ""),
            cp["checkpoint_index"],
            cp["sequence_start"],
            cp["sequence_end"],
        )


@given(st.integers(min_value=0, max_value=4_000_000_000_000_000_000), st.integers(0, 3))
def test_cached_event_time_text_equals_go_format(unix_ns: int, trim: int) -> None:
    """The per-second cache used on the append path formats exactly like format_ns."""
    unix_ns -= unix_ns % (10 ** (3 * trim))
    assert _time_text(unix_ns) == format_ns(unix_ns)
    assert _time_text(unix_ns + 1) == format_ns(unix_ns + 1)


_IDS = st.sampled_from(["", " ", "a", "run_1", "tool.x", "s1", "zz", "m1", "ab" * 32])


@given(
    st.sampled_from(["s1", "a"]),
    st.sampled_from(["run_1", "zz"]),
    st.sampled_from(["tool.x", "a", "zz", "run_1"]),
    _IDS,
    _IDS,
    _IDS,
    st.lists(_IDS, max_size=3),
)
def test_cached_event_relationship_equals_the_direct_build(
    sid: str, rid: str, tool: str, trace: str, digest: str, policy: str, rules: list[str]
) -> None:
    """The append path's cached envelope (keyed without the trace id) encodes exactly
    like :func:`event_relationship`, whatever the trace id sorts next to."""
    fields = normalize_fields(
        EventFields(
            tool, "allow", trace_id=trace, policy_digest=digest, policy_id=policy,
            matched_rule_ids=tuple(rules),
        )
    )  # fmt: skip
    cached = msgspec.json.encode(_cached_relationship(sid, rid, fields))
    assert cached == msgspec.json.encode(event_relationship(sid, rid, fields))


def test_a_batch_encodes_as_its_lines_one_by_one() -> None:
    """One encoder call per batch writes the same bytes as one line per record."""
    fields = normalize_fields(EventFields("tool.x", "allow", trace_id="t", reason_codes=("b", "a")))
    records = [
        build_event("s", "r", i, fields, 1_790_000_000_000_000_000 + i, "pv") for i in (1, 2, 3)
    ]
    expected = b"".join(encode_line(Envelope("event", event=r)) for r in records)
    assert encode_events(records) == expected
