"""Trace, token and audit files are written with the bytes Go writes (gate.md §6 "File output").

Go writes these files with ``json.MarshalIndent(v, "", "  ")`` and a newline, so its
HTML escaping of ``<``, ``>``, ``&`` (and U+2028/U+2029) applies to files too. The one
encoder, :func:`gait_runtime.artifacts.gojson.go_json_indent`, writes them here; these
tests pin that against every Go-written file in the vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gait_runtime.gate.trace import write_json_artifact, write_new_trace

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
GO_FILES = sorted(
    [
        *(VECTORS / "gate").glob("trace_*.json"),
        *(VECTORS / "gate" / "traces").glob("*.json"),
        *(VECTORS / "gate" / "tokens").glob("*.json"),
        *(VECTORS / "gate" / "audit").glob("*.json"),
        *(VECTORS / "gate" / "tampered").glob("*.json"),
        *(VECTORS / "service" / "traces").glob("*/*.json"),
    ]
)


def test_the_vectors_hold_go_files() -> None:
    """The parametrised test below runs over the Go trace, token and audit files."""
    assert len(GO_FILES) >= 50
    assert {p.parent.name for p in GO_FILES} >= {"traces", "tokens", "audit", "compat", "strict"}


@pytest.mark.parametrize("path", GO_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_go_files_are_rewritten_byte_for_byte(path: Path, tmp_path: Path) -> None:
    """Decoding a Go-written file and writing it again gives Go's bytes (order, floats, newline)."""
    written = write_json_artifact(tmp_path / path.name, json.loads(path.read_bytes()))
    assert written.read_bytes() == path.read_bytes()


def test_a_new_trace_file_holds_go_bytes(tmp_path: Path) -> None:
    """write_new_trace writes the same bytes as write_json_artifact (one encoder)."""
    go = VECTORS / "gate" / "traces" / "trace_example_with_token.json"
    trace = json.loads(go.read_bytes())
    target = write_new_trace(tmp_path, trace)
    assert target.read_bytes() == go.read_bytes()


def test_html_characters_are_escaped_as_go_escapes_them(tmp_path: Path) -> None:
    """``<``, ``>``, ``&``, U+2028, U+2029 are written ``\\u003c``-style, as Go's encoder does.

    The Go error vector shows the escaping of its encoder: the message ``version->schema_id``
    is written ``version-\\u003eschema_id``. The same text in a trace field is written the
    same way, and the file still decodes to the value written.
    """
    go_error = (VECTORS / "errors" / "out_policy_legacy_fields.json").read_bytes()
    message = json.loads(go_error)["error"]
    assert b"version-\\u003eschema_id" in go_error
    value = {"tool_name": "a<b&c", "reason": message, "note": "x\u2028y\u2029z"}
    data = write_json_artifact(tmp_path / "t.json", value).read_bytes()
    assert b'"tool_name": "a\\u003cb\\u0026c"' in data
    assert b"version-\\u003eschema_id" in data
    assert b'"note": "x\\u2028y\\u2029z"' in data
    assert not any(ch in data for ch in (b"<", b">", b"&"))
    assert json.loads(data) == value
    assert data.endswith(b"}\n")
