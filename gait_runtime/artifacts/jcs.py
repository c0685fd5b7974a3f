"""RFC 8785 (JCS) canonical bytes and sha256 digests: the bytes every signature covers.

Owns: ``canonicalize`` (JSON value -> canonical UTF-8 bytes), ``digest`` /
``sha256_hex`` and the short-id helper. Does not own: what gets canonicalised
(artifact modules decide that) or any I/O.

Correctness comes from the ``rfc8785`` package. Speed comes from a fast path:
for the shapes that dominate our artifacts (objects, arrays, strings, bools,
null and integers within ±2**53, with no float anywhere and no key outside the
Basic Multilingual Plane below U+E000 ordering trouble), RFC 8785 output equals
msgspec's compact encoding with sorted keys. ``_fast_ok`` proves a value has
that shape before the fast encoder is used; everything else goes to rfc8785.
``tests/artifacts/test_jcs.py`` checks the two paths byte-for-byte with
Hypothesis.

msgspec is imported on the first fast-path call (:func:`fast_encoder`), not at
module import. A one-shot process that canonicalises one small document (the
coding-agent hook) calls :func:`use_reference_encoder` first: then every value
goes to rfc8785 (the same bytes) and msgspec, whose import costs more there than
the whole encoding, is never imported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

import rfc8785

from ..errors import ArtifactInputError

__all__ = [
    "JSONValue",
    "canonicalize",
    "digest",
    "fast_encoder",
    "sha256_hex",
    "short_id",
    "use_reference_encoder",
]

JSONValue = object
"""Any value made of dict/list/str/int/float/bool/None (kept loose on purpose)."""

_SAFE_INT: Final = 2**53
_encode: Callable[[object], bytes] | None = None
"""msgspec's compact sorted-keys encoder, created by the first :func:`fast_encoder` call."""
_reference_only = False


def fast_encoder() -> Callable[[object], bytes] | None:
    """msgspec's compact sorted-keys encoder (msgspec is imported on the first call).

    Its bytes are RFC 8785's for the values :func:`canonicalize` sends it (see the
    module doc). ``None`` after :func:`use_reference_encoder`.
    """
    global _encode
    if _encode is None and not _reference_only:
        import msgspec

        _encode = msgspec.json.Encoder(order="sorted").encode
    return _encode


def use_reference_encoder() -> None:
    """From now on, in this process, canonicalise with the rfc8785 package only.

    The bytes do not change; what changes is that msgspec is never imported (worth it
    in a short process that canonicalises a few small values). There is no way back.
    """
    global _reference_only
    _reference_only = True


def _fast_ok(value: object, depth: int = 0) -> bool:
    """True when ``value`` canonicalises identically with the fast encoder.

    Rules: no floats (JCS prints them in ECMAScript form), ints within ±2**53
    (rfc8785 rejects larger ones), strings free of surrogate code points
    (they cannot be encoded), and object keys that sort the same by code point
    as by UTF-16 code unit (true unless a key holds a character at or above
    U+E000). Strings, ints, bools and null inside a container are checked
    inline: they are most of the nodes, and a call per node was most of the cost.
    """
    if depth > 64:
        return False
    t = type(value)
    if t is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str or not (k.isascii() or _key_ok(k)):
                return False
            if not _leaf_ok(v) and not _fast_ok(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        return all(_leaf_ok(v) or _fast_ok(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    return _leaf_ok(value)


def _leaf_ok(v: object) -> bool:
    """True for a scalar the fast encoder renders canonically (False for every container)."""
    tv = type(v)
    if tv is str:
        return v.isascii() or not _has_surrogate(v)  # type: ignore[attr-defined, arg-type]
    if tv is int:
        return -_SAFE_INT < v < _SAFE_INT  # type: ignore[operator]
    return tv is bool or v is None


def _key_ok(key: str) -> bool:
    if key.isascii():
        return True
    return all(ord(c) < 0xD800 for c in key)


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises:
        ArtifactInputError: the value cannot be canonicalised (NaN, infinity,
            an integer outside ±2**53, a non-JSON type).
    """
    if not _reference_only and _fast_ok(value):
        encode = _encode or fast_encoder()
        if encode is not None:
            return encode(value)
    try:
        # rfc8785 types its input as a closed union; we pass arbitrary JSON-ish values.
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ArtifactInputError(
            f"cannot canonicalize JSON value: {exc}", code="jcs_invalid_value"
        ) from exc


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def digest(value: object) -> str:
    """``sha256_hex(canonicalize(value))`` — Go's ``DigestJCS``."""
    return hashlib.sha256(canonicalize(value)).hexdigest()


def short_id(text: str) -> str:
    """First 12 bytes (24 lowercase hex chars) of sha256 over a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
