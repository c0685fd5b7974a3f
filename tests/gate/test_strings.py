"""Go string semantics that every digest depends on (spec/gate.md §0)."""

from __future__ import annotations

import pytest

from gait_runtime.gate._strings import (
    go_json_escape,
    go_path_base,
    lower,
    sanitize_rule_name,
    trim,
    uniq_sorted,
    uniq_sorted_lower,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  a  ", "a"),
        ("\u00a0x\u3000", "x"),
        ("\u0085x\u2029", "x"),
        ("\x1cx\x1f", "\x1cx\x1f"),  # Go keeps U+001C-U+001F; Python's strip() would not
        ("\u200bx", "\u200bx"),  # zero-width space is not White_Space
    ],
)
def test_trim_uses_go_unicode_isspace(text: str, expected: str) -> None:
    """trim removes exactly the code points Go's unicode.IsSpace accepts."""
    assert trim(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ABC", "abc"), ("\u0130", "i"), ("ΟΔΟΣ", "οδοσ"), ("Straße", "straße")],
)
def test_lower_is_per_code_point_simple_mapping(text: str, expected: str) -> None:
    """U+0130 maps to i and a word-final sigma to σ, as Go's strings.ToLower."""
    assert lower(text) == expected


def test_uniq_sorted_trims_drops_empties_and_sorts_by_code_point() -> None:
    """uniq_sorted and uniq_sorted_lower always return a list, possibly empty."""
    assert uniq_sorted([" b", "a", "b ", "", "  ", "É"]) == ["a", "b", "É"]
    assert uniq_sorted_lower(["B", " b", "A"]) == ["a", "b"]
    assert uniq_sorted([]) == []


@pytest.mark.parametrize(
    ("text", "expected"), [("", "."), ("a/b", "b"), ("a/b/", "b"), ("///", "/"), ("x", "x")]
)
def test_go_path_base(text: str, expected: str) -> None:
    """Tool-name hints use Go path.Base."""
    assert go_path_base(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("block-secrets", "block_secrets"),
        ("Read Audit", "read_audit"),
        ('say "hi"', 'say_\\"hi\\'),
        ("a<b>&c", "a\\u003cb\\u003e\\u0026c"),
    ],
)
def test_sanitized_rule_name_follows_go_json_escaping(name: str, expected: str) -> None:
    """matched_rule_<name>: JSON-escape, strip quotes, spaces and dashes to _, lower."""
    assert sanitize_rule_name(name) == expected


_GO_STRING_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_escaped(ch: str) -> str:
    """Go ``encoding/json``'s string escape of one code point, written out rule by rule."""
    if ch in _GO_STRING_ESCAPES:
        return _GO_STRING_ESCAPES[ch]
    if ord(ch) < 0x20:
        return f"\\u{ord(ch):04x}"
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return "\ufffd"
    return ch


def test_go_json_escape_follows_go_for_every_code_point() -> None:
    """The escape (gojson's encoder underneath) matches Go's rules for all of Unicode."""
    every = "".join(map(chr, range(0x110000)))
    assert go_json_escape(every) == "".join(map(_go_escaped, every))
    for cp in [*range(0x80), 0x2028, 0x2029, 0xD800, 0xDFFF, 0xFFFD, 0x1F600]:
        assert go_json_escape(chr(cp)) == _go_escaped(chr(cp)), hex(cp)
