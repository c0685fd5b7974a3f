"""Go ``json.Marshal`` bytes: the one-pass escape check changes nothing.

:func:`go_json` skips the five replacements when its byte scans find none of
``<``, ``>``, ``&``, U+2028, U+2029; for any value the result equals replacing every one
of them unconditionally (what Go's HTML-safe encoder writes).
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.artifacts.gojson import go_json, go_json_string

_SPECIAL = st.sampled_from(["<", ">", "&", "\u2028", "\u2029", "\u2027", "\u202a", "é", "a"])
texts = st.lists(st.one_of(_SPECIAL, st.text(max_size=3)), max_size=6).map("".join)


def _always_replaced(value: object) -> bytes:
    out = msgspec.json.encode(value)
    for raw, escaped in (
        (b"<", b"\\u003c"),
        (b">", b"\\u003e"),
        (b"&", b"\\u0026"),
        ("\u2028".encode(), b"\\u2028"),
        ("\u2029".encode(), b"\\u2029"),
    ):
        out = out.replace(raw, escaped)
    return out


@settings(max_examples=500, deadline=None)
@given(value=st.dictionaries(texts, st.one_of(texts, st.lists(texts, max_size=3)), max_size=4))
def test_go_json_equals_unconditional_html_escaping(value: dict[str, object]) -> None:
    """Keys and values with or without the five characters encode like Go."""
    assert go_json(value) == _always_replaced(value)


def test_the_standard_library_string_encoder_matches_go_json_for_every_code_point() -> None:
    """``go_json_string`` (no msgspec) writes every string exactly as ``go_json`` does."""
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(points), 4096):
        text = "".join(chr(cp) for cp in points[start : start + 4096])
        assert go_json_string(text).encode("utf-8") == go_json(text)
    assert go_json_string('<a href="x">&\u2028') == '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u2028"'
