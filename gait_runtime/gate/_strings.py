"""String and list primitives with the Go implementation's exact semantics (gate.md §0).

Owns: ``trim`` (Go ``unicode.IsSpace``), ``lower`` (per-code-point simple lower
case, as Go ``strings.ToLower``), ``uniq_sorted`` / ``uniq_sorted_lower``, Go
``path.Base``, the Go JSON string escape used for ``matched_rule_<name>`` codes
(the escapes themselves are :mod:`gait_runtime.artifacts.gojson`'s),
and the hex64 check. Digests diverge if any of these differ from Go by one byte,
so nothing here uses Python's ``str.strip``/``str.lower`` on non-ASCII text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from ..artifacts.gojson import go_json_string

__all__ = [
    "ASCII_SPACE",
    "GO_SPACE",
    "go_json_escape",
    "go_path_base",
    "is_hex64",
    "lower",
    "sanitize_rule_name",
    "trim",
    "trim_lower",
    "uniq_sorted",
    "uniq_sorted_lower",
]

GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every code point Go's ``unicode.IsSpace`` accepts (not U+001C-U+001F)."""

ASCII_SPACE: Final = "\t\n\v\f\r "
"""The ASCII part of :data:`GO_SPACE` (``str.strip`` argument on the ASCII fast path)."""
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def trim(text: str) -> str:
    """Go ``strings.TrimSpace``: strip leading/trailing Unicode white space."""
    if text.isascii():
        return text.strip(ASCII_SPACE)
    return text.strip(GO_SPACE)


def _lower_char(ch: str) -> str:
    if ch == "\u0130":
        return "i"
    low = ch.lower()
    return low if len(low) == 1 else ch


def lower(text: str) -> str:
    """Go ``strings.ToLower``: simple per-code-point lower-case mapping."""
    if text.isascii():
        return text.lower()
    return "".join(_lower_char(ch) for ch in text)


def trim_lower(text: str) -> str:
    """``lower(trim(text))`` (one call on the ASCII hot path)."""
    if text.isascii():
        return text.strip(ASCII_SPACE).lower()
    return lower(text.strip(GO_SPACE))


def uniq_sorted(items: Iterable[str]) -> list[str]:
    """Trim each item, drop empties, de-duplicate, sort by code point."""
    return sorted({t for t in (trim(i) for i in items) if t})


def uniq_sorted_lower(items: Iterable[str]) -> list[str]:
    """``lower(trim(x))`` each item, then :func:`uniq_sorted`."""
    return sorted({t for t in (trim_lower(i) for i in items) if t})


def go_path_base(text: str) -> str:
    """Go ``path.Base``: last slash-separated element; ``.`` for empty input."""
    if text == "":
        return "."
    stripped = text.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def go_json_escape(text: str) -> str:
    """The body of Go's ``json.Marshal`` of a string, without the outer quotes.

    The escapes are :func:`~gait_runtime.artifacts.gojson.go_json_string`'s (the
    one Go JSON encoder's, without loading msgspec); a lone surrogate, which Go never sees in a string, becomes
    U+FFFD as Go's decoder would have made it.
    """
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return go_json_string(text)[1:-1]


def sanitize_rule_name(name: str) -> str:
    """The ``<name>`` part of ``matched_rule_<name>`` (gate.md §3.9 step 6)."""
    quoted = '"' + go_json_escape(name) + '"'
    body = quoted.strip('"').replace(" ", "_").replace("-", "_")
    return lower(body) or "rule"


def is_hex64(text: str) -> bool:
    """True for exactly 64 lowercase hex characters."""
    return len(text) == 64 and _HEX64.fullmatch(text) is not None
