"""Go-compatible JSON bytes: what Go's ``encoding/json`` writes for a value.

Owns: :func:`go_json` (compact, key order as given, Go's HTML escaping of
``<``, ``>``, ``&``, U+2028 and U+2029) and :func:`go_json_indent` (the same,
two-space indented, as ``json.MarshalIndent`` writes files). Every module
that writes bytes a Go reader or a Go-produced vector compares against uses
these two functions, and :func:`go_json_string` (one string, standard library
only, for paths that must not load msgspec, such as the coding-agent hook's
policy compile). msgspec is imported on the first encode. Does not own:
canonical (signed) bytes, which are RFC 8785 JCS in :mod:`.jcs`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

__all__ = ["go_json", "go_json_indent", "go_json_string"]

_encode: Callable[[object], bytes] | None = None
_GO_HTML_ESCAPES: Final = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


_GO_HTML_ESCAPES_STR: Final = tuple((raw.decode(), esc.decode()) for raw, esc in _GO_HTML_ESCAPES)


def _encoder() -> Callable[[object], bytes]:
    global _encode
    import msgspec

    _encode = msgspec.json.Encoder().encode
    return _encode


def go_json(value: object) -> bytes:
    """Compact JSON as Go's ``json.Marshal`` writes it (HTML-escaped, key order as given)."""
    out = (_encode or _encoder())(value)
    # Most documents hold none of the five: three one-byte scans (memchr) and, only
    # when the bytes are not ASCII, the two-byte lead of U+2028/U+2029. A regex
    # alternation over the same bytes costs ~20 µs on a 3 KB trace.
    if not (
        b"<" in out or b">" in out or b"&" in out or (not out.isascii() and b"\xe2\x80" in out)
    ):
        return out
    for raw, escaped in _GO_HTML_ESCAPES:
        if raw in out:
            out = out.replace(raw, escaped)
    return out


def go_json_indent(value: object) -> bytes:
    """Two-space indented :func:`go_json` (``json.MarshalIndent(v, "", "  ")``), no newline."""
    import msgspec

    return msgspec.json.format(go_json(value), indent=2)


def go_json_string(text: str) -> str:
    """:func:`go_json` of one string, quotes included, as text (standard library only).

    The standard encoder (``ensure_ascii=False``) escapes a string exactly as msgspec
    does (``\\"``, ``\\\\``, ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``,
    ``\\u00XX`` for the other controls); the HTML escapes are the same table's.
    """
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _GO_HTML_ESCAPES_STR:
        if raw in out:
            out = out.replace(raw, escaped)
    return out
