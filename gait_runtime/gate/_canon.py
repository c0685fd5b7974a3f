"""Fast RFC 8785 bytes for the gate's own records (traces), property-tested against rfc8785.

Owns: ECMAScript ``Number::toString`` text for a double (what RFC 8785 prints),
and :func:`canonical_record`, which encodes a record whose keys are plain ASCII
and whose only float is one known top-level field (``latency_ms``) with the
sorted msgspec encoder and splices the float in. Anything else falls back to
:func:`gait_runtime.artifacts.jcs.canonicalize`. ``tests/gate/test_canon.py``
proves both byte-identical to rfc8785 with Hypothesis.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec

from ..artifacts.jcs import canonicalize

__all__ = ["canonical_record", "es_number_text"]

_SORTED: Final = msgspec.json.Encoder(order="sorted")


def es_number_text(x: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite double.

    Raises:
        ValueError: ``x`` is NaN or infinite.
    """
    if math.isnan(x) or math.isinf(x):
        raise ValueError("non-finite number")
    if x == 0:
        return "0"
    text = repr(x)
    if "e" not in text and 1e-4 <= abs(x) < 1e16:
        # Fixed notation already, shortest round-trip digits: ECMAScript prints
        # the same text without Python's ".0" on integral values.
        return text[:-2] if text.endswith(".0") else text
    sign = "-" if x < 0 else ""
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # position of the decimal point relative to the first significant digit
    point = len(int_part) + (int(exp_text) if exp_text else 0)
    if int_part == "0" or int_part.strip("0") == "":
        leading = len(frac_part) - len(frac_part.lstrip("0"))
        point = -leading + (int(exp_text) if exp_text else 0)
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_sign = "+" if exponent >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{exp_sign}{abs(exponent)}"


def canonical_record(record: dict[str, Any], float_key: str, *, checked: bool = True) -> bytes:
    """RFC 8785 bytes of ``record`` whose only float may sit at top-level ``float_key``.

    With ``checked`` (the default) the record is walked first and anything the
    fast encoding would print differently (another float, an integer beyond
    2**53, a non-ASCII key) falls back to the general canonicaliser. Callers that
    build the record from already-normalised parts pass ``checked=False``.
    """
    value = record.get(float_key)
    if value is None or type(value) is not float:
        body = record
        number = b""
    else:
        body = dict(record)
        body[float_key] = 0
        number = es_number_text(value).encode("ascii")
    try:
        encoded = _SORTED.encode(body)
    except UnicodeEncodeError:
        return canonicalize(record)
    if checked and not _plain(body):
        return canonicalize(record)
    if number:
        marker = b'"' + float_key.encode("ascii") + b'":0'
        encoded = encoded.replace(marker, marker[:-1] + number, 1)
    return encoded


def _plain(value: Any) -> bool:
    """No floats, no integers beyond 2**53, only ASCII keys (shapes where msgspec equals JCS)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if not k.isascii():
                return False
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if not _plain(v):
                return False
        return True
    if t is list:
        return all(_plain(v) for v in value)
    if t is int:
        return bool(-(2**53) < value < 2**53)
    return t is str or t is bool or value is None
