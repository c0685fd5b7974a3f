r"""Decoding IntentRequest JSON like the Go implementation, and the typed field readers.

Owns: :func:`parse_intent_json` (doubles for free-form numbers, U+FFFD for bad
UTF-8 and lone surrogates), the optional-field readers that raise located
:class:`~gait_runtime.errors.IntentError`\ s, RFC 3339 times, free-form value
normalisation with the 2**53 rule, canonical bytes, and raw-credential rejection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ..artifacts.jcs import canonicalize, fast_encoder
from ..artifacts.timefmt import ZERO_TIME_TEXT, parse_rfc3339
from ..errors import ArtifactInputError, IntentError
from ._intent_values import (
    HEX64_ANY,
    SAFE,
    SECRET_KEY,
    SECRET_KEY_OK_SUFFIX,
    SECRET_PREFIX,
    SECRET_SAFE_PREFIX,
    SURROGATE_ESCAPE,
)
from ._strings import is_hex64, trim, trim_lower

# --------------------------------------------------------------------------- parsing


def parse_intent_json(data: bytes, *, source: str) -> dict[str, Any]:
    """Decode IntentRequest JSON bytes like the Go implementation.

    Invalid UTF-8 and lone surrogate escapes become U+FFFD; non-finite or
    out-of-range numbers are an input error. Integers stay ``int`` here; the
    free-form subtrees are converted to doubles during normalisation.

    Raises:
        IntentError: not JSON, not an object, or a number out of double range.
    """
    text = data.decode("utf-8", errors="replace")
    try:
        value = json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
    except _NumberRange as exc:
        raise IntentError(
            f"parse intent {source}: number out of range: {exc}", code="intent_number_range"
        ) from exc
    except ValueError as exc:
        raise IntentError(
            f"parse intent {source}: invalid JSON: {exc}", code="intent_json"
        ) from exc
    except RecursionError as exc:
        raise IntentError(f"parse intent {source}: nested too deeply", code="intent_json") from exc
    if not isinstance(value, dict):
        raise IntentError(
            f"parse intent {source}: intent must be a JSON object", code="intent_json"
        )
    if SURROGATE_ESCAPE.search(data):
        fixed: dict[str, Any] = _replace_surrogates(value)
        return fixed
    return value


class _NumberRange(ValueError):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NumberRange(text)
    return value


def _reject_constant(text: str) -> float:
    raise ValueError(f"invalid JSON constant {text}")


def _fix_str(text: str) -> str:
    if text.isascii() or not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _fix_str(value)
    if isinstance(value, dict):
        return {_fix_str(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


# --------------------------------------------------------------------------- helpers


def intent_error(message: str, code: str = "intent_invalid") -> IntentError:
    return IntentError(f"normalize intent: {message}", code=code)


def opt_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise intent_error(f"{path}{key} must be a string", "intent_type")
    return value


def opt_bool(obj: Mapping[str, Any], key: str, path: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if type(value) is not bool:
        raise intent_error(f"{path}{key} must be a boolean", "intent_type")
    return value


def opt_int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if type(value) is not int:
        raise intent_error(f"{path}{key} must be an integer", "intent_type")
    if value < 0:
        raise intent_error(f"{path}{key} must be >= 0", "intent_range")
    if value >= SAFE:
        raise intent_error(f"{path}{key} is out of range", "intent_number_range")
    return value


def opt_obj(obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise intent_error(f"{path}{key} must be an object", "intent_type")
    return value


def opt_list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise intent_error(f"{path}{key} must be an array", "intent_type")
    return value


def str_list(obj: Mapping[str, Any], key: str, path: str) -> list[str]:
    items = opt_list(obj, key, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise intent_error(f"{path}{key}[{i}] must be a string", "intent_type")
    return items


def hex64(value: str, field: str) -> str:
    text = trim_lower(value)
    if text and not is_hex64(text):
        raise intent_error(f"{field} must be 64 lowercase hex characters")
    return text


def read_time(value: Any, field: str) -> int | None:
    """Unix ns of an RFC 3339 field, or None when absent/empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise intent_error(f"{field} must be an RFC 3339 string", "intent_time")
    try:
        return parse_rfc3339(trim(value), field=field).unix_ns
    except ArtifactInputError as exc:
        raise intent_error(f"{field} must be RFC 3339: {value!r}", "intent_time") from exc


def time_text(ns: int | None) -> str:
    from ..artifacts.timefmt import format_ns

    return ZERO_TIME_TEXT if ns is None else format_ns(ns)


# --------------------------------------------------------------------------- free-form values


def _number(value: int | float, path: str) -> int | float:
    """Go doubles; integral doubles below 2**53 kept as int (same JCS text)."""
    if isinstance(value, int):
        if -SAFE < value < SAFE:
            return value
        try:
            as_float = float(value)
        except OverflowError as exc:
            raise intent_error(f"{path} number out of range", "intent_number_range") from exc
        if math.isinf(as_float):
            raise intent_error(f"{path} number out of range", "intent_number_range")
        return as_float
    if math.isnan(value) or math.isinf(value):
        raise intent_error(f"{path} number out of range", "intent_number_range")
    if value.is_integer() and -SAFE < value < SAFE:
        return int(value)
    return value


def free_form(value: Any, path: str, unsafe: list[bool]) -> Any:
    """Trim strings and keys recursively; numbers become Go doubles.

    ``unsafe`` is set when the subtree holds something the fast canonical
    encoder does not print exactly like RFC 8785 (a float, or a key with a code
    point at or above U+D800 whose UTF-16 order may differ).
    """
    t = type(value)
    if t is str:
        return trim(value)
    if t is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            k = trim(key)
            if not k:
                raise intent_error(f"{path} contains empty key")
            if not k.isascii() and any(ord(c) >= 0xD800 for c in k):
                unsafe[0] = True
            out[k] = free_form(item, f"{path}.{k}", unsafe)
        return out
    if t is list:
        return [free_form(v, f"{path}[{i}]", unsafe) for i, v in enumerate(value)]
    if t is int or t is float:
        number = _number(value, path)
        if type(number) is float:
            unsafe[0] = True
        return number
    return value


def canonical_bytes(value: Any, safe: bool) -> bytes:
    """RFC 8785 bytes: the sorted msgspec encoding when ``safe`` (no floats, BMP keys).

    For such values the two encodings are byte-identical (property-tested in
    ``tests/gate/test_intent.py``); anything else goes through :func:`canonicalize`
    (as everything does after :func:`~gait_runtime.artifacts.jcs.use_reference_encoder`).
    """
    if safe:
        encode = fast_encoder()
        if encode is not None:
            try:
                return encode(value)
            except UnicodeEncodeError:
                pass
    return canonicalize(value)


def _looks_like_secret(value: str) -> bool:
    text = trim(value)
    low = text.lower()
    if low.startswith(SECRET_SAFE_PREFIX) or HEX64_ANY.fullmatch(text):
        return False
    if text.startswith(SECRET_PREFIX):
        return True
    if len(text.encode("utf-8")) < 16 or any(c in text for c in " \t\r\n"):
        return False
    has_letter = any(c.isascii() and c.isalpha() for c in text)
    has_digit = any(c.isascii() and c.isdigit() for c in text)
    return has_letter and has_digit


def check_credentials(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            name = trim_lower(key)
            if (
                isinstance(item, str)
                and SECRET_KEY.search(name)
                and not name.endswith(SECRET_KEY_OK_SUFFIX)
                and _looks_like_secret(item)
            ):
                raise intent_error(
                    f"{path}.{key} must not contain raw credential material; "
                    "use credential references or digests instead",
                    "intent_raw_credential",
                )
            check_credentials(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            check_credentials(item, path)
